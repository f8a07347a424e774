"""The watch body of a metering label: the label with its rules, on the
``metering`` topic (labels are few and every host with a router
namespace may need any of them: one topic every agent follows)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.db.metering_models import MeteringLabel
from kumo.db.uow import UnitOfWork
from kumo.network.metering import labels, rules

TOPIC = "metering"


def body(row: MeteringLabel, label_rules: list[Any]) -> dict[str, Any]:
    return {**labels.view(row), "rules": [rules.view(r) for r in label_rules]}


def emit(uow: UnitOfWork, row: MeteringLabel, op: str = "upsert") -> None:
    found = [] if op == "delete" else rules.rules_of(uow.session, [row.id])[row.id]
    uow.emit("metering_label", op, row.id, (TOPIC,), body(row, found))


def snapshot(session: Session) -> list[dict[str, Any]]:
    """Every label with its rules, as the watch feed sends them."""
    rows = list(session.scalars(select(MeteringLabel).order_by(MeteringLabel.id)))
    found = rules.rules_of(session, [r.id for r in rows])
    return [{"kind": "metering_label", **body(r, found[r.id])} for r in rows]
