"""One recipe for the CRUD routes of a Neutron collection.

Each resource module names its collection, member key and service calls;
this module turns them into list / show / create (single and bulk) /
update / delete routes with Neutron's status codes, ``fields=``, list
queries and ``If-Match`` handling.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Body, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from kumo.api import door
from kumo.api.auth import authenticate
from kumo.api.networking.query import list_response, show_response, sql_prefilters
from kumo.api.render import ItemJson, json_response, no_content
from kumo.api.routing import GatedRouter
from kumo.context import RequestContext
from kumo.errors import BadRequest
from kumo.network.revision import parse_if_match
from kumo.network.service import NetworkService
from kumo.network.validate import member


@dataclass(frozen=True)
class Collection:
    collection: str
    member: str
    attributes: frozenset[str]
    sql_filters: frozenset[str]
    list_items: Callable[
        [NetworkService, RequestContext, dict[str, list[str]]], list[dict[str, Any]]
    ]
    show: Callable[[NetworkService, RequestContext, str], dict[str, Any]]
    create: Callable[[NetworkService, RequestContext, list[dict[str, Any]]], list[dict[str, Any]]]
    update: (
        Callable[[NetworkService, RequestContext, str, dict[str, Any], int | None], dict[str, Any]]
        | None
    )
    """None: the collection's members cannot be updated (no PUT route)."""
    delete: Callable[[NetworkService, RequestContext, str, int | None], None]
    path: str = ""
    """The URL segment when it differs from ``collection`` (``security-groups``)."""
    cached_views: bool = False
    """``list_items`` returns views the service keeps between requests
    (replaced, never changed, when their object changes): their JSON is
    kept too."""
    service_filters: frozenset[str] = frozenset()
    """Filters on attributes the items do not show, which ``list_items`` applies
    itself from its prefilters (a subnet's ``shared``, as Neutron filters it)."""
    exact_sql_filters: frozenset[str] = frozenset()
    """Filters of ``sql_filters`` on a text column that every item shows as
    it is (never redacted): SQL's equality already kept exactly the items
    the list's own filter would, so it is not applied again."""


def service(request: Request) -> NetworkService:
    svc: NetworkService = request.app.state.runtime.network
    return svc


def lookup(find: Callable[[NetworkService, RequestContext, str], Any], param: str) -> door.Check:
    """A door check that looks the path's object up as the caller sees it:
    404 when the caller cannot see it or may not read it."""

    async def check(request: Request, ctx: RequestContext) -> None:
        svc, ident = service(request), request.path_params[param]
        await run_in_threadpool(door.hidden, lambda: find(svc, ctx, ident))

    return check


def routes(spec: Collection) -> GatedRouter:
    base = f"/v2.0/{spec.path or spec.collection}"
    router = GatedRouter(local=base)
    item_json = ItemJson() if spec.cached_views else None
    applied = spec.service_filters | spec.exact_sql_filters
    visible = lookup(spec.show, "ident")

    @router.get(base)
    def list_items(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
        pre = sql_prefilters(request, set(spec.sql_filters | spec.service_filters))
        items = spec.list_items(service(request), ctx, pre)
        return list_response(
            request, spec.collection, items, set(spec.attributes), applied, item_json=item_json
        )

    @router.get(base + "/{ident}")
    def show_item(
        ident: str, request: Request, ctx: RequestContext = Depends(authenticate)
    ) -> Response:
        return show_response(request, spec.member, spec.show(service(request), ctx, ident))

    @router.post(base)
    def create_items(
        request: Request, body: Any = Body(None), ctx: RequestContext = Depends(authenticate)
    ) -> Response:
        if isinstance(body, dict) and spec.collection in body:
            bulk = body[spec.collection]
            if not isinstance(bulk, list) or not all(isinstance(b, dict) for b in bulk) or not bulk:
                raise BadRequest(
                    f"Invalid format for {spec.collection}: expected a list of objects"
                )
            items = spec.create(
                service(request),
                ctx,
                [
                    dict(b[spec.member])
                    if spec.member in b and isinstance(b[spec.member], dict)
                    else b
                    for b in bulk
                ],
            )
            return json_response({spec.collection: items}, status=201)
        items = spec.create(service(request), ctx, [member(body, spec.member)])
        return json_response({spec.member: items[0]}, status=201)

    update = spec.update
    if update is not None:

        @router.put(base + "/{ident}")
        def update_item(
            ident: str,
            request: Request,
            body: Any = Body(None),
            ctx: RequestContext = Depends(authenticate),
        ) -> Response:
            data = member(body, spec.member)
            if_match = parse_if_match(request.headers.get("if-match"))
            return json_response(
                {spec.member: update(service(request), ctx, ident, data, if_match)}
            )

        door.add(update_item, door.ON_REFUSAL, visible)

    @router.delete(base + "/{ident}")
    def delete_item(
        ident: str, request: Request, ctx: RequestContext = Depends(authenticate)
    ) -> Response:
        spec.delete(service(request), ctx, ident, parse_if_match(request.headers.get("if-match")))
        return no_content()

    door.add(delete_item, door.ON_REFUSAL, visible)

    return router
