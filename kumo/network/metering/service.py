"""The metering calls the API makes, on top of ``NetworkService`` (functions
taking the service first, as the CRUD route recipe wants)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from kumo.context import RequestContext
from kumo.db.metering_models import MeteringLabel, MeteringLabelRule
from kumo.db.uow import UnitOfWork, run_in_transaction
from kumo.network.metering import counts, events, labels, rules
from kumo.network.service import NetworkService, sql_where
from kumo.network.validate import boolean_value
from kumo.policy import authorize, unrestricted

LABEL_ATTRIBUTES = labels.ATTRIBUTES
LABEL_FILTERS = {
    "id": MeteringLabel.id,
    "name": MeteringLabel.name,
    "description": MeteringLabel.description,
    "project_id": MeteringLabel.project_id,
    "tenant_id": MeteringLabel.project_id,
}
LABEL_SERVICE_FILTERS = frozenset({"shared"})
RULE_ATTRIBUTES = rules.ATTRIBUTES
RULE_FILTERS = {
    "id": MeteringLabelRule.id,
    "metering_label_id": MeteringLabelRule.label_id,
    "direction": MeteringLabelRule.direction,
    "remote_ip_prefix": MeteringLabelRule.remote_ip_prefix,
    "source_ip_prefix": MeteringLabelRule.source_ip_prefix,
    "destination_ip_prefix": MeteringLabelRule.destination_ip_prefix,
}
RULE_SERVICE_FILTERS = frozenset({"excluded"})


def _visible(ctx: RequestContext, action: str) -> Any:
    """The labels the caller may see: all for those the rule does not
    restrict, else the project's own and shared ones."""
    if unrestricted(ctx, action):
        return None
    return or_(MeteringLabel.project_id == ctx.project_id, MeteringLabel.shared.is_(True))


def list_labels(
    svc: NetworkService, ctx: RequestContext, prefilters: dict[str, list[str]]
) -> list[dict[str, Any]]:
    with svc.db.read_session() as s:
        q = sql_where(select(MeteringLabel), LABEL_FILTERS, prefilters)
        if "shared" in prefilters:
            q = q.where(MeteringLabel.shared.in_({boolean_value(v) for v in prefilters["shared"]}))
        where = _visible(ctx, "network:get_metering_label")
        if where is not None:
            q = q.where(where)
        rows = s.scalars(q.order_by(MeteringLabel.created_at, MeteringLabel.id))
        return [labels.view(r) for r in rows]


def show_label(svc: NetworkService, ctx: RequestContext, label_id: str) -> dict[str, Any]:
    with svc.db.read_session() as s:
        return labels.view(labels.load(s, ctx, label_id))


def create_labels(
    svc: NetworkService, ctx: RequestContext, bodies: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    def work(uow: UnitOfWork) -> list[dict[str, Any]]:
        out = []
        for body in bodies:
            row = labels.create(uow, ctx, body)
            events.emit(uow, row)
            out.append(labels.view(row))
        return out

    return run_in_transaction(svc.db, work)


def delete_label(
    svc: NetworkService, ctx: RequestContext, label_id: str, if_match: int | None = None
) -> None:
    def work(uow: UnitOfWork) -> None:
        events.emit(uow, labels.remove(uow, ctx, label_id), "delete")

    run_in_transaction(svc.db, work)


def list_rules(
    svc: NetworkService, ctx: RequestContext, prefilters: dict[str, list[str]]
) -> list[dict[str, Any]]:
    with svc.db.read_session() as s:
        q = sql_where(select(MeteringLabelRule), RULE_FILTERS, prefilters)
        if "excluded" in prefilters:
            wanted = {boolean_value(v) for v in prefilters["excluded"]}
            q = q.where(MeteringLabelRule.excluded.in_(wanted))
        where = _visible(ctx, "network:get_metering_label_rule")
        if where is not None:
            q = q.join(MeteringLabel, MeteringLabel.id == MeteringLabelRule.label_id).where(where)
        rows = s.scalars(q.order_by(MeteringLabelRule.created_at, MeteringLabelRule.id))
        return [rules.view(r) for r in rows]


def show_rule(svc: NetworkService, ctx: RequestContext, rule_id: str) -> dict[str, Any]:
    with svc.db.read_session() as s:
        return rules.view(rules.load(s, ctx, rule_id))


def create_rules(
    svc: NetworkService, ctx: RequestContext, bodies: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    def work(uow: UnitOfWork) -> list[dict[str, Any]]:
        out = []
        for body in bodies:
            row = rules.create(uow, ctx, body)
            out.append(rules.view(row))
        for label_id in sorted({r["metering_label_id"] for r in out}):
            label = uow.session.get(MeteringLabel, label_id)
            assert label is not None
            events.emit(uow, label)
        return out

    return run_in_transaction(svc.db, work)


def delete_rule(
    svc: NetworkService, ctx: RequestContext, rule_id: str, if_match: int | None = None
) -> None:
    def work(uow: UnitOfWork) -> None:
        row = rules.remove(uow, ctx, rule_id)
        label = uow.session.get(MeteringLabel, row.label_id)
        assert label is not None
        events.emit(uow, label)

    run_in_transaction(svc.db, work)


def label_counts(svc: NetworkService, ctx: RequestContext, label_id: str) -> dict[str, Any]:
    """``kumo`` extension: the label's bytes and packets summed over every
    host that counted them."""
    with svc.db.read_session() as s:
        row = labels.load(s, ctx, label_id)
        authorize(ctx, "network:get_metering_label_counts", labels.target(row))
        (found,) = counts.sums(s, [row.id])
        return {
            "metering_label_id": row.id,
            "bytes": found.bytes,
            "packets": found.packets,
            "hosts": found.hosts,
        }


def all_counts(svc: NetworkService) -> list[counts.LabelCount]:
    """Every label's sums (the API's Prometheus metrics)."""
    with svc.db.read_session() as s:
        return counts.sums(s)
