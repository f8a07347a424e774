"""What the agents count per label, and the sums per label.

Each agent reports, per label, the bytes and packets its host's router
namespaces counted since the agent started (monotonic totals, see
``kumo.agent.metering``). A report lower than the last one means the
agent's totals started again (a restart): the last report is carried, so a
label's sum over hosts never goes down.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.db.base import utcnow
from kumo.db.metering_models import MeteringCount, MeteringLabel
from kumo.db.uow import UnitOfWork


@dataclass(frozen=True)
class LabelCount:
    label_id: str
    project_id: str
    bytes: int
    packets: int
    hosts: int
    """Hosts that reported counts for the label."""


def record(uow: UnitOfWork, host: str, counts: dict[str, tuple[int, int]]) -> int:
    """Store one host's totals (label id → (bytes, packets)); labels that no
    longer exist are skipped. The number of labels recorded."""
    s = uow.session
    if not counts:
        return 0
    live = set(s.scalars(select(MeteringLabel.id).where(MeteringLabel.id.in_(list(counts)))))
    held = {
        c.label_id: c
        for c in s.scalars(
            select(MeteringCount).where(
                MeteringCount.host == host, MeteringCount.label_id.in_(list(live))
            )
        )
    }
    now = utcnow()
    for label_id in sorted(live):
        nbytes, npackets = counts[label_id]
        row = held.get(label_id)
        if row is None:
            row = MeteringCount(label_id=label_id, host=host, carried_bytes=0, carried_packets=0)
            s.add(row)
        elif nbytes < row.bytes or npackets < row.packets:
            row.carried_bytes += row.bytes
            row.carried_packets += row.packets
        row.bytes, row.packets, row.updated_at = nbytes, npackets, now
    s.flush()
    return len(live)


def sums(session: Session, label_ids: list[str] | None = None) -> list[LabelCount]:
    """Every label's sum over the hosts (labels no host counted: zero)."""
    q = select(MeteringLabel)
    if label_ids is not None:
        q = q.where(MeteringLabel.id.in_(label_ids))
    out: dict[str, list[int]] = {}
    projects: dict[str, str] = {}
    for label in session.scalars(q.order_by(MeteringLabel.id)):
        out[label.id] = [0, 0, 0]
        projects[label.id] = label.project_id
    if out:
        rows = session.scalars(select(MeteringCount).where(MeteringCount.label_id.in_(list(out))))
        for c in rows:
            acc = out[c.label_id]
            acc[0] += c.bytes + c.carried_bytes
            acc[1] += c.packets + c.carried_packets
            acc[2] += 1
    return [LabelCount(i, projects[i], b, p, h) for i, (b, p, h) in out.items()]
