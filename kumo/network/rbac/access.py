"""What the RBAC rules grant a project: the read side of sharing.

A network is *shared with* a project when its ``shared`` flag is set (the
wildcard ``access_as_shared`` rule) or a rule names the project; an
external network is *usable as external* by a project only through an
``access_as_external`` rule naming it or ``*``. Every visibility check of
networks, subnets, ports and security groups reads its flags from here.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.context import RequestContext
from kumo.db.rbac_models import RbacPolicy
from kumo.policy import allowed

SHARED = "access_as_shared"
EXTERNAL = "access_as_external"
WILDCARD = "*"
ACTIONS: dict[str, tuple[str, ...]] = {
    "network": (SHARED, EXTERNAL),
    "security_group": (SHARED,),
    "address_group": (SHARED,),
    "qos_policy": (SHARED,),
    "address_scope": (SHARED,),
    "subnetpool": (SHARED,),
}
"""The object types that can be shared, and the actions each one takes."""


def granted(
    session: Session,
    object_type: str,
    project_id: str | None,
    object_ids: Collection[str] | None = None,
) -> dict[str, frozenset[str]]:
    """Object id -> the actions granted to ``project_id`` on it (by a rule
    naming the project or ``*``); objects with no grant are absent."""
    targets = [WILDCARD, project_id] if project_id else [WILDCARD]
    r = RbacPolicy
    q = select(r.object_id, r.action).where(
        r.object_type == object_type, r.target_project.in_(targets)
    )
    if object_ids is not None:
        if not object_ids:
            return {}
        if len(object_ids) < 500:
            q = q.where(r.object_id.in_(list(object_ids)))
    found: dict[str, set[str]] = {}
    for object_id, action in session.execute(q):
        found.setdefault(object_id, set()).add(action)
    return {k: frozenset(v) for k, v in found.items()}


@dataclass(frozen=True)
class NetworkAccess:
    shared: bool
    """Shared with the caller's project (by ``*`` or by name)."""
    external: bool
    """External, and usable as such by the caller's project."""


def networks(
    session: Session, ctx: RequestContext, rows: Iterable[tuple[str, bool, bool]]
) -> dict[str, NetworkAccess]:
    """(id, shared, external) of networks -> what the caller's project may do with each."""
    rows = list(rows)
    grants = granted(session, "network", ctx.project_id, [r[0] for r in rows])
    out = {}
    for ident, shared, external in rows:
        acts = grants.get(ident, frozenset())
        out[ident] = NetworkAccess(
            bool(shared) or SHARED in acts, bool(external) and EXTERNAL in acts
        )
    return out


def network(
    session: Session,
    ctx: RequestContext,
    ident: str,
    shared: bool,
    external: bool,
    owner: str | None = None,
) -> NetworkAccess:
    """One network's flags; for its ``owner`` (and admins), who see it
    whatever the grants say, without reading them."""
    if owner is not None and allowed(ctx, "network:get_network", {"project_id": owner}):
        return NetworkAccess(bool(shared), bool(external))
    return networks(session, ctx, [(ident, shared, external)])[ident]


def shared_groups(
    session: Session,
    project_id: str | None,
    group_ids: Collection[str],
    object_type: str = "security_group",
) -> set[str]:
    """Which of ``group_ids`` (security groups, or address groups) are shared with ``project_id``."""
    grants = granted(session, object_type, project_id, group_ids)
    return {g for g, acts in grants.items() if SHARED in acts}
