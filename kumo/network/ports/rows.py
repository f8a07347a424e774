"""Port creation in plain SQL: one read before, plain INSERTs after.

``read_target`` fetches, in one statement, what creating a port on a
network needs to know: the network's visibility and port security, its
subnets (in creation order), the owner's port quota override and the
owner's default security group. ``insert_port`` (the port and its group
bindings) and ``insert_address`` (each address, as IPAM chooses it) write
with plain INSERTs: no unit of work, as the new port is never read back
through the ORM in the creating transaction. ``view`` renders the port
once, for both the outbox event and the response.

Statements are built once, at import: SQLAlchemy then reuses their
compiled form and cache key on every call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Insert, Table, bindparam, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from kumo.db.base import new_uuid, utcnow
from kumo.db.network_models import IPAllocation, Network, Port, Quota, Subnet
from kumo.db.secgroup_models import DefaultSecurityGroup, PortSecurityGroup
from kumo.network.core.ipam import SubnetFields
from kumo.network.views import port_view

_NETWORKS = cast(Table, Network.__table__)
_SUBNETS = cast(Table, Subnet.__table__)
_QUOTAS = cast(Table, Quota.__table__)
_DEFAULT_GROUPS = cast(Table, DefaultSecurityGroup.__table__)
_PORTS = cast(Table, Port.__table__)
_ALLOCATIONS = cast(Table, IPAllocation.__table__)
_BINDINGS = cast(Table, PortSecurityGroup.__table__)

_TARGET = (
    select(
        _NETWORKS.c.project_id.label("net_project_id"),
        _NETWORKS.c.shared.label("net_shared"),
        _NETWORKS.c.external.label("net_external"),
        _NETWORKS.c.port_security_enabled.label("net_port_security"),
        select(_QUOTAS.c.limit)
        .where(_QUOTAS.c.project_id == bindparam("owner"), _QUOTAS.c.resource == "port")
        .scalar_subquery()
        .label("port_limit"),
        select(_DEFAULT_GROUPS.c.security_group_id)
        .where(_DEFAULT_GROUPS.c.project_id == bindparam("owner"))
        .scalar_subquery()
        .label("default_group"),
        _SUBNETS.c.id,
        _SUBNETS.c.network_id,
        _SUBNETS.c.ip_version,
        _SUBNETS.c.cidr,
        _SUBNETS.c.gateway_ip,
        _SUBNETS.c.ipv6_address_mode,
        _SUBNETS.c.allocation_pools,
        _SUBNETS.c.segment_id,
        _SUBNETS.c.enable_dhcp,
        _SUBNETS.c.service_types,
    )
    .select_from(_NETWORKS.outerjoin(_SUBNETS, _SUBNETS.c.network_id == _NETWORKS.c.id))
    .where(_NETWORKS.c.id == bindparam("network_id"))
    .order_by(_SUBNETS.c.created_at, _SUBNETS.c.id)
)
_PORT_COUNT = select(func.count()).select_from(_PORTS).where(_PORTS.c.project_id == bindparam("p"))
_INSERT_PORT = insert(_PORTS)
_INSERT_ALLOCATION = insert(_ALLOCATIONS)
_INSERT_BINDING = insert(_BINDINGS)
# An allocation unless the address is taken (the unique subnet/address key).
_CLAIM: dict[str, Insert] = {
    "postgresql": postgresql.insert(_ALLOCATIONS)
    .on_conflict_do_nothing()
    .returning(_ALLOCATIONS.c.id),
    "sqlite": sqlite.insert(_ALLOCATIONS).on_conflict_do_nothing().returning(_ALLOCATIONS.c.id),
}


@dataclass(frozen=True)
class Target:
    """The network a port is created on, as ``read_target`` found it."""

    network_id: str
    project_id: str
    shared: bool
    external: bool
    port_security_enabled: bool
    port_limit: int | None
    """The owner's override of the port quota; None: the configured default."""
    default_group: str | None
    """The owner's default security group; None: not made yet."""
    subnets: Sequence[SubnetFields]
    """Rows of the subnet columns IPAM reads, in creation order."""


def read_target(session: Session, network_id: str, owner: str) -> Target | None:
    """The network with its subnets, the owner's port quota and default group; None if absent."""
    # Plain statements do not flush the session: objects a caller added
    # earlier in the transaction (a server, a new default group) go first.
    session.flush()
    rows = session.connection().execute(_TARGET, {"network_id": network_id, "owner": owner}).all()
    if not rows:
        return None
    first = rows[0]
    return Target(
        network_id=network_id,
        project_id=first.net_project_id,
        shared=first.net_shared,
        external=first.net_external,
        port_security_enabled=first.net_port_security,
        port_limit=first.port_limit,
        default_group=first.default_group,
        subnets=[r for r in rows if r.id is not None],
    )


def port_count(session: Session, project_id: str) -> int:
    return int(session.connection().execute(_PORT_COUNT, {"p": project_id}).scalar_one())


def insert_port(session: Session, values: dict[str, Any], group_ids: list[str]) -> dict[str, Any]:
    """Insert the port (``values``: its columns but the standard ones) and
    its group bindings; the port's row as inserted.

    Addresses come after (``insert_address``): the subnet lock IPAM takes
    on PostgreSQL is then held for as few statements as possible.
    """
    now = utcnow()
    row = {
        "id": new_uuid(),
        "description": "",
        **values,
        "created_at": now,
        "updated_at": now,
        "revision_number": 0,
    }
    conn = session.connection()
    conn.execute(_INSERT_PORT, row)
    groups = sorted(set(group_ids))
    if groups:
        conn.execute(
            _INSERT_BINDING, [{"port_id": row["id"], "security_group_id": g} for g in groups]
        )
    return row


def insert_address(
    session: Session, row: dict[str, Any], subnet_id: str, address: str, *, claim: bool = False
) -> bool:
    """Write an allocation of ``address`` to the port ``row``; True when written.

    Plain, a taken address raises IntegrityError (the transaction then runs
    again, as for any lost race). With ``claim``, a taken address is not
    written and the answer is False (IPAM then looks further).
    """
    conn = session.connection()
    values = {
        "port_id": row["id"],
        "subnet_id": subnet_id,
        "network_id": row["network_id"],
        "ip_address": address,
    }
    if not claim:
        conn.execute(_INSERT_ALLOCATION, values)
        return True
    return conn.execute(_CLAIM[conn.dialect.name], values).first() is not None


def view(
    row: dict[str, Any], fixed_ips: list[tuple[str, str]], group_ids: list[str]
) -> dict[str, Any]:
    """The admin view of a port just inserted (no tags yet)."""
    return port_view(
        _Columns(row),
        [],
        fixed_ips=[{"subnet_id": s, "ip_address": a} for s, a in fixed_ips],
        security_groups=sorted(set(group_ids)),
    )


class _Columns:
    """A port's column values, read as attributes (what ``port_view`` reads)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)
