"""QoS policy rows: create, update, delete, the project's default policy,
and sharing (``shared`` is the policy's wildcard RBAC entry)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kumo.context import RequestContext
from kumo.db.l3_models import FloatingIP, Router
from kumo.db.network_models import Network, Port
from kumo.db.qos_models import QosPolicy, QosRule
from kumo.db.rbac_models import RbacPolicy
from kumo.db.uow import UnitOfWork
from kumo.errors import Conflict, InvalidInput, NotFound
from kumo.network import policy, validate
from kumo.network.core.networks import touch
from kumo.network.rbac import access as rbac_access
from kumo.network.rbac.access import SHARED, WILDCARD
from kumo.network.revision import check_revision
from kumo.policy import allowed, authorize

CREATE = {"name", "description", "shared", "is_default", "project_id", "tenant_id"}
UPDATE = {"name", "description", "shared", "is_default"}


def not_found(policy_id: str) -> NotFound:
    return NotFound(f"QoS policy {policy_id} could not be found.", kind="QosPolicyNotFound")


def view(
    row: QosPolicy,
    rules: list[dict[str, Any]],
    shared_here: bool = False,
    tags: list[str] | None = None,
) -> dict[str, Any]:
    """``shared``: shared with every project, or (``shared_here``) with the
    caller's by an entry of its own, as Neutron shows shared objects."""
    from kumo.network.views import ts

    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "project_id": row.project_id,
        "tenant_id": row.project_id,
        "shared": row.shared or shared_here,
        "is_default": row.is_default,
        "rules": rules,
        "tags": list(tags or []),
        "created_at": ts(row.created_at),
        "updated_at": ts(row.updated_at),
        "revision_number": row.revision_number,
    }


ATTRIBUTES = frozenset(view(QosPolicy(id="", project_id="", name=""), []))


def visible(ctx: RequestContext, row: QosPolicy, shared: bool = False) -> bool:
    return allowed(
        ctx,
        "network:get_qos_policy",
        {"project_id": row.project_id, "shared": shared or row.shared},
    )


def load(session: Session, ctx: RequestContext, policy_id: str, *, lock: bool = False) -> QosPolicy:
    """A policy the caller owns, one shared with its project, or any for admins."""
    q = select(QosPolicy).where(QosPolicy.id == policy_id)
    if lock:
        q = q.with_for_update()
    row = session.scalar(q)
    if row is None:
        raise not_found(policy_id)
    if not visible(ctx, row):
        granted = rbac_access.granted(session, "qos_policy", ctx.project_id, [row.id])
        if not visible(ctx, row, bool(granted)):
            raise not_found(policy_id)
    return row


def shared_here(session: Session, ctx: RequestContext, ids: list[str]) -> set[str]:
    """The policies among ``ids`` shared with the caller's project."""
    found = rbac_access.granted(session, "qos_policy", ctx.project_id, ids)
    return {i for i, actions in found.items() if SHARED in actions}


def read_target(session: Session, ctx: RequestContext, row: QosPolicy) -> dict[str, Any]:
    """The policy as the target of a rule read: shared when it is shared with
    the caller's project (wildcard or RBAC entry)."""
    shared = row.shared or bool(
        rbac_access.granted(session, "qos_policy", ctx.project_id, [row.id])
    )
    return {"project_id": row.project_id, "shared": shared}


def _default_taken(session: Session, project_id: str, other_than: str | None) -> None:
    q = select(QosPolicy.id).where(QosPolicy.project_id == project_id, QosPolicy.is_default)
    if other_than is not None:
        q = q.where(QosPolicy.id != other_than)
    if session.scalar(q.limit(1)) is not None:
        raise Conflict(
            f"A default QoS policy exists for project {project_id}.",
            kind="QoSPolicyDefaultAlreadyExists",
        )


def create(uow: UnitOfWork, ctx: RequestContext, body: dict[str, Any]) -> QosPolicy:
    validate.known(body, CREATE)
    owner = policy.owner_for_create(ctx, body)
    authorize(ctx, "network:create_qos_policy", {"project_id": owner})
    s = uow.session
    row = QosPolicy(
        project_id=owner,
        name=validate.string(body, "name") if "name" in body else "",
        description=validate.string(body, "description") if "description" in body else "",
        shared=validate.boolean(body, "shared") if "shared" in body else False,
        is_default=validate.boolean(body, "is_default") if "is_default" in body else False,
    )
    if row.is_default:
        _default_taken(s, owner, None)
    s.add(row)
    s.flush()
    if row.shared:
        s.add(_wildcard(row))
    return row


def _wildcard(row: QosPolicy) -> RbacPolicy:
    return RbacPolicy(
        project_id=row.project_id,
        object_type="qos_policy",
        object_id=row.id,
        action=SHARED,
        target_project=WILDCARD,
    )


def update(
    uow: UnitOfWork, ctx: RequestContext, policy_id: str, body: dict[str, Any], if_match: int | None
) -> QosPolicy:
    for key in ("id", "project_id", "tenant_id", "rules"):
        if key in body:
            raise InvalidInput(f"Cannot update read-only attribute {key}")
    validate.known(body, UPDATE)
    s = uow.session
    row = load(s, ctx, policy_id, lock=True)
    authorize(ctx, "network:update_qos_policy", {"project_id": row.project_id})
    check_revision(row.revision_number, if_match)
    for key in ("name", "description"):
        if key in body:
            setattr(row, key, validate.string(body, key))
    if "is_default" in body:
        value = validate.boolean(body, "is_default")
        if value:
            _default_taken(s, row.project_id, row.id)
        row.is_default = value
    if "shared" in body:
        set_shared(s, row, validate.boolean(body, "shared"))
    touch(row)
    s.flush()
    return row


def set_shared(session: Session, row: QosPolicy, shared: bool) -> None:
    """Add or remove the policy's wildcard shared entry (409
    ``InvalidSharedSetting`` while other projects' ports or networks use it)."""
    from kumo.network.rbac import policies as rbac

    r = RbacPolicy
    entry = session.scalar(
        select(r).where(
            r.object_type == "qos_policy",
            r.object_id == row.id,
            r.action == SHARED,
            r.target_project == WILDCARD,
        )
    )
    if shared and entry is None:
        session.add(_wildcard(row))
    elif not shared and entry is not None:
        rbac.check_unused(
            session,
            entry,
            in_use=Conflict(
                f"Unable to reconfigure sharing settings for QoS policy {row.id}. "
                "Multiple tenants are using it.",
                kind="InvalidSharedSetting",
            ),
        )
        session.delete(entry)
    row.shared = shared


def users(session: Session, policy_id: str) -> set[str]:
    """The projects whose ports or networks name the policy."""
    ports = select(Port.project_id).where(Port.qos_policy_id == policy_id)
    nets = select(Network.project_id).where(Network.qos_policy_id == policy_id)
    fips = select(FloatingIP.project_id).where(FloatingIP.qos_policy_id == policy_id)
    gateways = select(Router.project_id).where(Router.gw_qos_policy_id == policy_id)
    found = set(session.scalars(ports)) | set(session.scalars(nets)) | set(session.scalars(fips))
    return found | set(session.scalars(gateways))


def remove(uow: UnitOfWork, ctx: RequestContext, policy_id: str, if_match: int | None) -> None:
    s = uow.session
    row = load(s, ctx, policy_id, lock=True)
    authorize(ctx, "network:delete_qos_policy", {"project_id": row.project_id})
    check_revision(row.revision_number, if_match)
    using = (
        ("network", Network.id, Network.qos_policy_id),
        ("port", Port.id, Port.qos_policy_id),
        ("floatingip", FloatingIP.id, FloatingIP.qos_policy_id),
        ("router", Router.id, Router.gw_qos_policy_id),
    )
    for kind, ident, column in using:
        user = s.scalar(select(ident).where(column == row.id).limit(1))
        if user is not None:
            raise Conflict(f"QoS Policy {row.id} is used by {kind} {user}.", kind="QosPolicyInUse")
    s.execute(delete(QosRule).where(QosRule.policy_id == row.id))
    from kumo.network import tags as taglib

    taglib.delete_tags(s, row.id)
    s.execute(delete(RbacPolicy).where(
        RbacPolicy.object_type == "qos_policy", RbacPolicy.object_id == row.id
    ))  # fmt: skip
    s.delete(row)
