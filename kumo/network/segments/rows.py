"""Segment rows: create, update, delete, and the segment rules of subnets."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.network_models import Network, NetworkSegment, SegmentAllocation, Subnet
from kumo.db.uow import UnitOfWork
from kumo.errors import BadRequest, Conflict, InvalidInput, NotFound
from kumo.network import events, validate
from kumo.network.core import segments as allocation
from kumo.network.core.networks import touch
from kumo.network.revision import check_revision
from kumo.network.views import ts
from kumo.policy import authorize

CREATE = {
    "network_id", "network_type", "physical_network", "segmentation_id", "name", "description",
}  # fmt: skip
UPDATE = {"name", "description"}
MANY = 500
"""Lists of at least this many networks read every row instead of an IN list."""
READ_ONLY = ("id", "network_id", "network_type", "physical_network", "segmentation_id")


def not_found(segment_id: str) -> NotFound:
    return NotFound(f"Segment {segment_id} could not be found.", kind="SegmentNotFound")


def view(seg: NetworkSegment) -> dict[str, Any]:
    return {
        "id": seg.id,
        "network_id": seg.network_id,
        "name": seg.name,
        "description": seg.description,
        "network_type": seg.network_type,
        "physical_network": seg.physical_network,
        "segmentation_id": seg.segmentation_id,
        "created_at": ts(seg.created_at),
        "updated_at": ts(seg.updated_at),
        "revision_number": seg.revision_number,
    }


ATTRIBUTES = frozenset(view(NetworkSegment(id="", network_id="", network_type="")))


def load(session: Session, segment_id: str, *, lock: bool = False) -> NetworkSegment:
    q = select(NetworkSegment).where(NetworkSegment.id == segment_id)
    if lock:
        q = q.with_for_update()
    seg = session.scalar(q)
    if seg is None:
        raise not_found(segment_id)
    return seg


def of_network(session: Session, network_id: str) -> list[NetworkSegment]:
    q = select(NetworkSegment).where(NetworkSegment.network_id == network_id)
    return list(session.scalars(q.order_by(NetworkSegment.segment_index)))


def create(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, body: dict[str, Any]
) -> NetworkSegment:
    validate.known(body, CREATE)
    authorize(ctx, "network:create_segment", {})
    s = uow.session
    for key in ("network_id", "network_type"):
        if key not in body:
            raise BadRequest(f"Failed to parse request. Required attribute '{key}' not specified")
    network_id = validate.uuid(body["network_id"], "network_id")
    net = s.scalar(select(Network).where(Network.id == network_id).with_for_update())
    if net is None:
        raise NotFound(f"Network {network_id} could not be found.", kind="NetworkNotFound")
    if body["network_type"] is None:
        raise InvalidInput("network_type value 'None' not supported")
    ntype, physnet, vid = allocation.choose(
        s,
        settings,
        {
            "provider:network_type": body["network_type"],
            "provider:physical_network": body.get("physical_network"),
            "provider:segmentation_id": body.get("segmentation_id"),
        },
    )
    index = s.scalar(
        select(func.max(NetworkSegment.segment_index)).where(NetworkSegment.network_id == net.id)
    )
    seg = NetworkSegment(
        network_id=net.id,
        name=_name(body),
        description=validate.string(body, "description") if "description" in body else "",
        network_type=ntype,
        physical_network=physnet,
        segmentation_id=vid,
        segment_index=0 if index is None else index + 1,
    )
    s.add(seg)
    s.flush()
    allocation.reserve(s, net.id, ntype, physnet, vid, seg.id)
    touch(net)
    events.network(uow, net)
    return seg


def _name(body: dict[str, Any]) -> str | None:
    return validate.string(body, "name") if body.get("name") is not None else None


def update(
    uow: UnitOfWork,
    ctx: RequestContext,
    segment_id: str,
    body: dict[str, Any],
    if_match: int | None,
) -> NetworkSegment:
    for key in READ_ONLY:
        if key in body:
            raise BadRequest(f"Cannot update read-only attribute {key}")
    validate.known(body, UPDATE)
    authorize(ctx, "network:update_segment", {})
    seg = load(uow.session, segment_id, lock=True)
    check_revision(seg.revision_number, if_match)
    if "name" in body:
        seg.name = _name(body)
    if "description" in body:
        seg.description = validate.string(body, "description")
    touch(seg)
    return seg


def in_use(segment_id: str, reason: str) -> Conflict:
    return Conflict(f"Segment '{segment_id}' cannot be deleted: {reason}", kind="SegmentInUse")


def remove(uow: UnitOfWork, ctx: RequestContext, segment_id: str, if_match: int | None) -> None:
    """A segment goes when no subnet is associated with it and it is not its
    network's last (a network keeps at least one segment; deleting the
    network removes them all). Removing a network's first segment makes the
    next one its provider segment."""
    authorize(ctx, "network:delete_segment", {})
    s = uow.session
    seg = load(s, segment_id, lock=True)
    check_revision(seg.revision_number, if_match)
    if s.scalar(select(Subnet.id).where(Subnet.segment_id == seg.id).limit(1)) is not None:
        raise in_use(seg.id, "one or more subnets are associated with it.")
    rest = [x for x in of_network(s, seg.network_id) if x.id != seg.id]
    if not rest:
        raise in_use(seg.id, "it is the only segment of its network.")
    s.execute(delete(SegmentAllocation).where(SegmentAllocation.segment_id == seg.id))
    s.delete(seg)
    net = s.get(Network, seg.network_id)
    if net is None:
        return
    first = rest[0]
    if (net.network_type, net.physical_network, net.segmentation_id) != (
        first.network_type,
        first.physical_network,
        first.segmentation_id,
    ):
        net.network_type = first.network_type
        net.physical_network = first.physical_network
        net.segmentation_id = first.segmentation_id
    s.flush()
    touch(net)
    events.network(uow, net)


def check_subnet(
    session: Session, network_id: str, segment_id: str | None, *, exclude: str | None = None
) -> None:
    """A subnet's ``segment_id`` names a segment of its own network, and a
    network's subnets are either all associated with segments or none is."""
    if segment_id is not None:
        seg = session.scalar(select(NetworkSegment).where(NetworkSegment.id == segment_id))
        if seg is None:
            raise not_found(segment_id)
        if seg.network_id != network_id:
            raise BadRequest(
                f"The subnet's network id, '{network_id}', doesn't match the segment's "
                f"network id, '{seg.network_id}'",
                kind="NetworkIdsDontMatch",
            )
    q = select(Subnet.segment_id).where(Subnet.network_id == network_id)
    if exclude is not None:
        q = q.where(Subnet.id != exclude)
    others = {sid is not None for sid in session.scalars(q)}
    if others and others != {segment_id is not None}:
        raise BadRequest(
            f"All of the subnets on network '{network_id}' must either all be associated "
            "with segments or all not associated with any segment.",
            kind="SubnetsNotAllAssociatedWithSegments",
        )


def routed(session: Session, network_ids: list[str]) -> set[str]:
    """The networks among ``network_ids`` whose subnets are associated with
    segments (routed provider networks: not one L2 domain)."""
    if not network_ids:
        return set()
    q = select(Subnet.network_id).where(Subnet.segment_id.is_not(None))
    if len(network_ids) < MANY:
        q = q.where(Subnet.network_id.in_(network_ids))
    return set(session.scalars(q.distinct())) & set(network_ids)


def multi(session: Session, network_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The provider segments of each network among ``network_ids`` that has
    more than one (``multi-provider``'s ``segments`` attribute)."""
    if not network_ids:
        return {}
    q = select(NetworkSegment).order_by(NetworkSegment.network_id, NetworkSegment.segment_index)
    if len(network_ids) < MANY:
        q = q.where(NetworkSegment.network_id.in_(network_ids))
    wanted = set(network_ids)
    out: dict[str, list[dict[str, Any]]] = {}
    for seg in session.scalars(q):
        if seg.network_id not in wanted:
            continue
        out.setdefault(seg.network_id, []).append(
            {
                "provider:network_type": seg.network_type,
                "provider:physical_network": seg.physical_network,
                "provider:segmentation_id": seg.segmentation_id,
            }
        )
    return {k: v for k, v in out.items() if len(v) > 1}
