"""Networking v2.0: /v2.0/metering — metering labels and their rules, and
(a kumo extension) each label's traffic counted over every host."""

from __future__ import annotations

from fastapi import Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.networking.query import show_response
from kumo.api.networking.resource import Collection, routes, service
from kumo.api.routing import GatedRouter
from kumo.context import RequestContext
from kumo.network.metering import service as metering

router = GatedRouter(local="/v2.0/metering")
router.include_router(
    routes(
        Collection(
            collection="metering_labels",
            member="metering_label",
            path="metering/metering-labels",
            attributes=metering.LABEL_ATTRIBUTES,
            sql_filters=frozenset(metering.LABEL_FILTERS),
            service_filters=metering.LABEL_SERVICE_FILTERS,
            list_items=metering.list_labels,
            show=metering.show_label,
            create=metering.create_labels,
            update=None,
            delete=metering.delete_label,
        )
    )
)
router.include_router(
    routes(
        Collection(
            collection="metering_label_rules",
            member="metering_label_rule",
            path="metering/metering-label-rules",
            attributes=metering.RULE_ATTRIBUTES,
            sql_filters=frozenset(metering.RULE_FILTERS),
            service_filters=metering.RULE_SERVICE_FILTERS,
            list_items=metering.list_rules,
            show=metering.show_rule,
            create=metering.create_rules,
            update=None,
            delete=metering.delete_rule,
        )
    )
)


@router.get("/v2.0/metering/metering-labels/{label_id}/counts")
def label_counts(
    label_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    """``{"counts": {"metering_label_id", "bytes", "packets", "hosts"}}``:
    the label's traffic summed over the hosts whose agents counted it."""
    return show_response(request, "counts", metering.label_counts(service(request), ctx, label_id))
