"""RBAC policy rows: create, update, delete, and the network hooks.

An entry is an owned object: only the owner of the object it names (or an
admin) makes one, and only the entry's own project (or an admin) sees it,
so a project a network is shared with never learns who else it is shared
with. Removing a grant that a project still uses (a port on the network)
is 409 ``RbacPolicyInUse``. A network's ``shared`` flag is its wildcard
``access_as_shared`` entry; ``router:external`` makes a wildcard
``access_as_external`` entry, which an admin may replace with entries for
chosen projects.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.l3_models import FloatingIP, Router, RouterPort
from kumo.db.network_models import Network, Port
from kumo.db.rbac_models import RbacPolicy
from kumo.db.uow import UnitOfWork
from kumo.errors import BadRequest, Conflict, InvalidInput, not_found
from kumo.network import events, policy, validate
from kumo.network.quotas import check_quota
from kumo.network.rbac import access
from kumo.network.rbac.access import ACTIONS, EXTERNAL, SHARED, WILDCARD
from kumo.policy import allowed, authorize

CREATE = {"object_type", "object_id", "action", "target_tenant", "project_id", "tenant_id"}
READ_ONLY = {"id", "object_type", "object_id", "action", "project_id", "tenant_id"}
REQUIRED = ("object_type", "object_id", "action", "target_tenant")


def view(row: RbacPolicy) -> dict[str, Any]:
    return {
        "id": row.id,
        "project_id": row.project_id,
        "tenant_id": row.project_id,
        "object_type": row.object_type,
        "object_id": row.object_id,
        "action": row.action,
        "target_tenant": row.target_project,
    }


def visible(ctx: RequestContext, row: RbacPolicy) -> bool:
    return allowed(ctx, "network:get_rbac_policy", {"project_id": row.project_id})


def load(session: Session, ctx: RequestContext, policy_id: str) -> RbacPolicy:
    row = session.get(RbacPolicy, policy_id)
    if row is None or not visible(ctx, row):
        raise not_found("rbac_policy", policy_id)
    return row


def _one_of(value: Any, field: str, choices: list[str]) -> str:
    if value not in choices:
        raise InvalidInput(f"Invalid input for {field}. Reason: '{value}' is not in {choices}.")
    return str(value)


def _target(body: dict[str, Any]) -> str:
    target = validate.string(body, "target_tenant")
    if not target:
        raise InvalidInput("Invalid input for target_tenant. Reason: '' is too short.")
    return target


def _network(session: Session, ctx: RequestContext, network_id: str) -> Network:
    net = session.get(Network, network_id, with_for_update=True)
    if net is not None:
        flags = access.network(session, ctx, net.id, net.shared, net.external)
        if policy.network_visible(ctx, net.project_id, flags.shared, flags.external):
            return net
    raise not_found("network", network_id)


def _owned_object(session: Session, ctx: RequestContext, object_type: str, object_id: str) -> Any:
    """The object an entry names, which the caller must own (or be an admin)."""
    obj: Any
    if object_type == "network":
        obj = _network(session, ctx, object_id)
    elif object_type == "address_group":
        from kumo.network.address_groups import groups

        obj = groups.load(session, ctx, object_id, lock=True)
    elif object_type == "qos_policy":
        from kumo.network.qos import policies as qos_policies

        obj = qos_policies.load(session, ctx, object_id, lock=True)
    elif object_type == "address_scope":
        from kumo.network.address_scopes import scopes

        obj = scopes.load(session, ctx, object_id, lock=True)
    elif object_type == "subnetpool":
        from kumo.network.subnetpools import pools

        obj = pools.load(session, ctx, object_id, lock=True)
    else:
        from kumo.network.secgroups import groups as secgroups

        obj = secgroups.load(session, ctx, object_id, lock=True)
    if not allowed(ctx, "network:create_rbac_policy:object", {"project_id": obj.project_id}):
        raise InvalidInput(f"Only admins can manipulate policies on {object_type}s they do not own")
    return obj


def create(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, body: dict[str, Any]
) -> RbacPolicy:
    validate.known(body, CREATE)
    for key in REQUIRED:
        if key not in body:
            raise BadRequest(f"Failed to parse request. Required attribute '{key}' not specified")
    object_type = _one_of(body["object_type"], "object_type", sorted(ACTIONS))
    action = _one_of(
        body["action"], "action", sorted({a for acts in ACTIONS.values() for a in acts})
    )
    if action not in ACTIONS[object_type]:
        raise InvalidInput(
            f"Invalid action '{action}' for object type '{object_type}'. "
            f"Valid actions: {list(ACTIONS[object_type])}",
            kind="InvalidActionForType",
        )
    target = _target(body)
    authorize(ctx, "network:create_rbac_policy:target_tenant", {"target_tenant": target})
    owner = policy.owner_for_create(ctx, body)
    authorize(ctx, "network:create_rbac_policy", {"project_id": owner})
    s = uow.session
    obj = _owned_object(s, ctx, object_type, validate.uuid(body["object_id"], "object_id"))
    _no_duplicate(s, object_type, obj.id, action, target)
    _target_reaches_scope(s, object_type, obj.id, target)
    check_quota(s, settings, owner, "rbac_policy")
    row = RbacPolicy(
        project_id=owner,
        object_type=object_type,
        object_id=obj.id,
        action=action,
        target_project=target,
    )
    s.add(row)
    s.flush()
    if object_type == "network":
        _network_changed(uow, obj, action, target, granted=True)
    _sync_shared(s, row)
    return row


def _target_reaches_scope(s: Session, object_type: str, object_id: str, target: str) -> None:
    """A subnet pool bound to an address scope is shared only with projects
    that can use the scope (its owner's, or ones it is shared with): 400
    ``RbacPolicyInitError`` otherwise, as Neutron."""
    if object_type != "subnetpool":
        return
    from kumo.db.subnetpool_models import AddressScope, SubnetPool

    pool = s.get(SubnetPool, object_id)
    scope = s.get(AddressScope, pool.address_scope_id) if pool and pool.address_scope_id else None
    if scope is None or scope.project_id == target:
        return
    grants = access.granted(s, "address_scope", None if target == WILDCARD else target,
                            [scope.id])  # fmt: skip
    if SHARED in grants.get(scope.id, ()):
        return
    raise BadRequest(
        f"Failed to create RBAC policy on object {object_id} because subnet pool {object_id} "
        f"is in address scope {scope.id}, which is not shared with {target}.",
        kind="RbacPolicyInitError",
    )


def _no_duplicate(s: Session, object_type: str, object_id: str, action: str, target: str) -> None:
    r = RbacPolicy
    q = select(r.id).where(
        r.object_type == object_type,
        r.object_id == object_id,
        r.action == action,
        r.target_project == target,
    )
    if s.scalar(q) is not None:
        raise Conflict(
            "An RBAC policy already exists with those values.", kind="DuplicateRbacPolicy"
        )


def update(
    uow: UnitOfWork, ctx: RequestContext, policy_id: str, body: dict[str, Any]
) -> RbacPolicy:
    for key in sorted(set(body) & READ_ONLY):
        raise InvalidInput(f"Cannot update read-only attribute {key}")
    validate.known(body, {"target_tenant"})
    s = uow.session
    row = load(s, ctx, policy_id)
    authorize(ctx, "network:update_rbac_policy", {"project_id": row.project_id})
    if "target_tenant" not in body:
        return row
    target = _target(body)
    if target == row.target_project:
        return row
    authorize(ctx, "network:update_rbac_policy:target_tenant", {"target_tenant": target})
    _no_duplicate(s, row.object_type, row.object_id, row.action, target)
    _target_reaches_scope(s, row.object_type, row.object_id, target)
    _default_external_stays_shared(s, row)
    _check_unused(s, row, in_use=_in_use_error(row), kept=target)
    old = row.target_project
    row.target_project = target
    s.flush()
    if row.object_type == "network":
        net = s.get(Network, row.object_id)
        if net is not None:
            _network_changed(uow, net, row.action, old, granted=False)
            _network_changed(uow, net, row.action, target, granted=True)
    _sync_shared(s, row)
    return row


def remove(uow: UnitOfWork, ctx: RequestContext, policy_id: str) -> None:
    s = uow.session
    row = load(s, ctx, policy_id)
    authorize(ctx, "network:delete_rbac_policy", {"project_id": row.project_id})
    _default_external_stays_shared(s, row)
    _check_unused(s, row, in_use=_in_use_error(row))
    s.delete(row)
    s.flush()
    if row.object_type == "network":
        net = s.get(Network, row.object_id)
        if net is not None:
            if row.action == EXTERNAL and not _entries(s, net.id, EXTERNAL):
                net.external = False  # its last external entry gone (as Neutron)
            _network_changed(uow, net, row.action, row.target_project, granted=False)
    _sync_shared(s, row)


def _sync_shared(s: Session, row: RbacPolicy) -> None:
    """Keep the ``shared`` flag of a QoS policy, subnet pool or address scope
    equal to whether its wildcard shared entry exists."""
    if row.object_type == "qos_policy":
        from kumo.db.qos_models import QosPolicy

        model: Any = QosPolicy
    elif row.object_type in FLAGGED:
        model = FLAGGED[row.object_type]()
    else:
        return
    found = s.get(model, row.object_id)
    if found is not None:
        r = RbacPolicy
        wildcard = select(r.id).where(
            r.object_type == row.object_type,
            r.object_id == row.object_id,
            r.action == SHARED,
            r.target_project == WILDCARD,
        )
        found.shared = s.scalar(wildcard) is not None


def _entries(s: Session, network_id: str, action: str) -> list[str]:
    r = RbacPolicy
    q = select(r.id).where(
        r.object_type == "network", r.object_id == network_id, r.action == action
    )
    return list(s.scalars(q))


def _default_external_stays_shared(s: Session, row: RbacPolicy) -> None:
    """The default external network's wildcard external entry is neither
    removed nor narrowed (409 ``RbacPolicyInUse``, as Neutron)."""
    if (row.object_type, row.action, row.target_project) != ("network", EXTERNAL, WILDCARD):
        return
    net = s.get(Network, row.object_id)
    if net is not None and net.is_default:
        raise Conflict(
            f"RBAC policy on object {row.object_id} cannot be removed because other objects "
            "depend on it.\nDetails: Default external networks must be shared to everyone.",
            kind="RbacPolicyInUse",
        )


def _in_use_error(row: RbacPolicy) -> Conflict:
    what = row.object_type.replace("_", " ")
    return Conflict(
        f"RBAC policy on object {row.object_id} cannot be removed because other objects "
        f"depend on it.\nDetails: projects still use the {what} through this policy.",
        kind="RbacPolicyInUse",
    )


def _check_unused(
    s: Session, row: RbacPolicy, *, in_use: Conflict, kept: str | None = None
) -> None:
    """Refuse to take ``row``'s grant away from a project that still uses it:
    one with a port on the network (or, for a group, a port in the group)
    that no other entry of the same object and action covers (nor ``kept``,
    the target ``row`` is being changed to)."""
    r = RbacPolicy
    others = set(
        s.scalars(
            select(r.target_project).where(
                r.object_type == row.object_type,
                r.object_id == row.object_id,
                r.action == row.action,
                r.id != row.id,
            )
        )
    )
    if kept is not None:
        others.add(kept)
    if WILDCARD in others:
        return
    users = _users(s, row.object_type, row.object_id)
    owner = _owner(s, row)
    if row.target_project != WILDCARD:
        losing = {row.target_project} & users - {owner} - others
    elif row.object_type == "network":
        losing = users - {owner} - others
    else:
        # the other objects' wildcard, as Neutron's shared objects: every
        # project using the object, its owner too, must keep an entry of its own
        losing = users - others
    if losing:
        raise in_use


def check_unused(s: Session, row: RbacPolicy, *, in_use: Conflict) -> None:
    """``_check_unused`` for the other shareable objects' own ``shared`` flags."""
    _check_unused(s, row, in_use=in_use)


def _owner(s: Session, row: RbacPolicy) -> str | None:
    if row.object_type == "network":
        return s.scalar(select(Network.project_id).where(Network.id == row.object_id))
    if row.object_type in FLAGGED:
        model = FLAGGED[row.object_type]()
        return s.scalar(select(model.project_id).where(model.id == row.object_id))
    if row.object_type == "address_group":
        from kumo.db.address_group_models import AddressGroup

        return s.scalar(select(AddressGroup.project_id).where(AddressGroup.id == row.object_id))
    if row.object_type == "qos_policy":
        from kumo.db.qos_models import QosPolicy

        return s.scalar(select(QosPolicy.project_id).where(QosPolicy.id == row.object_id))
    from kumo.db.secgroup_models import SecurityGroup

    return s.scalar(select(SecurityGroup.project_id).where(SecurityGroup.id == row.object_id))


def _users(s: Session, object_type: str, object_id: str) -> set[str]:
    """The projects with ports on a network, or in a security group, or with
    security group rules naming an address group, or with subnets from a
    subnet pool, or with subnet pools in an address scope."""
    if object_type in FLAGGED:
        from kumo.db.network_models import Subnet
        from kumo.db.subnetpool_models import SubnetPool

        if object_type == "subnetpool":
            return set(
                s.scalars(select(Subnet.project_id).where(Subnet.subnetpool_id == object_id))
            )
        pool = SubnetPool
        return set(s.scalars(select(pool.project_id).where(pool.address_scope_id == object_id)))
    if object_type == "address_group":
        from kumo.db.secgroup_models import SecurityGroupRule

        rule = SecurityGroupRule
        return set(
            s.scalars(select(rule.project_id).where(rule.remote_address_group_id == object_id))
        )
    if object_type == "qos_policy":
        from kumo.network.qos import policies as qos_policies

        return qos_policies.users(s, object_id)
    if object_type == "network":
        found = set(s.scalars(select(Port.project_id).where(Port.network_id == object_id)))
        # the cloud's own ports (gateways, floating IPs) have no project: they
        # count for their routers' (and floating IPs') projects
        found.discard("")
        fips = select(FloatingIP.project_id).where(FloatingIP.floating_network_id == object_id)
        gateways = (
            select(Router.project_id)
            .join(RouterPort, RouterPort.router_id == Router.id)
            .join(Port, Port.id == RouterPort.port_id)
            .where(Port.network_id == object_id)
        )
        return found | set(s.scalars(fips)) | set(s.scalars(gateways))
    from kumo.db.secgroup_models import PortSecurityGroup

    b = PortSecurityGroup
    q = (
        select(Port.project_id)
        .join(b, b.port_id == Port.id)
        .where(b.security_group_id == object_id)
    )
    return set(s.scalars(q))


def _network_changed(
    uow: UnitOfWork, net: Network, action: str, target: str, *, granted: bool
) -> None:
    """Keep ``shared`` equal to the wildcard shared entry; an external grant
    makes the network external (as Neutron does for its owner)."""
    if action == SHARED and target == WILDCARD:
        net.shared = granted
    if action == EXTERNAL and granted:
        net.external = True
    net.revision_number += 1
    net.updated_at = utcnow()
    events.network(uow, net)


# -- hooks the network service calls -------------------------------------------------------


def network_created(session: Session, net: Network) -> None:
    """A new network's wildcard entries for ``shared`` and ``router:external``."""
    for action, on in ((SHARED, net.shared), (EXTERNAL, net.external)):
        if on:
            session.add(_wildcard(net, action))


def _wildcard(net: Network, action: str) -> RbacPolicy:
    return RbacPolicy(
        project_id=net.project_id,
        object_type="network",
        object_id=net.id,
        action=action,
        target_project=WILDCARD,
    )


def set_shared(session: Session, net: Network, shared: bool) -> None:
    """``shared`` set on a network: add or remove its wildcard shared entry
    (409 ``InvalidSharedSetting`` while other projects rely on it)."""
    r = RbacPolicy
    row = session.scalar(
        select(r).where(
            r.object_type == "network",
            r.object_id == net.id,
            r.action == SHARED,
            r.target_project == WILDCARD,
        )
    )
    if shared and row is None:
        session.add(_wildcard(net, SHARED))
    elif not shared and row is not None:
        _check_unused(
            session,
            row,
            in_use=Conflict(
                f"Unable to reconfigure sharing settings for network {net.id}. "
                "Multiple tenants are using it.",
                kind="InvalidSharedSetting",
            ),
        )
        session.delete(row)
    net.shared = shared


def set_external(session: Session, net: Network, external: bool) -> None:
    """``router:external`` set: a wildcard external entry when it turns on,
    every external entry gone when it turns off."""
    r = RbacPolicy
    if external and not net.external:
        session.add(_wildcard(net, EXTERNAL))
    elif not external and net.external:
        session.execute(
            delete(r).where(r.object_type == "network", r.object_id == net.id, r.action == EXTERNAL)
        )
    net.external = external


def _subnetpool_model() -> Any:
    from kumo.db.subnetpool_models import SubnetPool

    return SubnetPool


def _address_scope_model() -> Any:
    from kumo.db.subnetpool_models import AddressScope

    return AddressScope


FLAGGED = {"subnetpool": _subnetpool_model, "address_scope": _address_scope_model}
"""Object types whose ``shared`` column is kept equal to their wildcard shared entry."""


def set_object_shared(session: Session, object_type: str, obj: Any, shared: bool) -> None:
    """``shared`` set on a subnet pool or address scope: add or remove its
    wildcard shared entry."""
    r = RbacPolicy
    row = session.scalar(
        select(r).where(
            r.object_type == object_type,
            r.object_id == obj.id,
            r.action == SHARED,
            r.target_project == WILDCARD,
        )
    )
    if shared and row is None:
        session.add(
            RbacPolicy(
                project_id=obj.project_id,
                object_type=object_type,
                object_id=obj.id,
                action=SHARED,
                target_project=WILDCARD,
            )
        )
    elif not shared and row is not None:
        session.delete(row)
    obj.shared = shared


def object_deleted(session: Session, object_type: str, object_id: str) -> None:
    r = RbacPolicy
    session.execute(delete(r).where(r.object_type == object_type, r.object_id == object_id))
