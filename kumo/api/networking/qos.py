"""Networking v2.0: /v2.0/qos — policies, their bandwidth-limit,
packet-rate-limit and DSCP rules (also by rule id alone,
``qos-rules-alias``), and the rule types."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Body, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from kumo.api import door
from kumo.api.auth import authenticate
from kumo.api.networking.query import list_response, show_response
from kumo.api.networking.resource import Collection, routes, service
from kumo.api.render import json_response, no_content
from kumo.api.routing import GatedRouter
from kumo.context import RequestContext
from kumo.network.qos import service as qos
from kumo.network.qos.rules import RULE_TYPES, RuleType
from kumo.network.validate import member

router = GatedRouter(local="/v2.0/qos")
router.include_router(
    routes(
        Collection(
            collection="policies",
            member="policy",
            path="qos/policies",
            attributes=qos.ATTRIBUTES,
            sql_filters=frozenset(qos.SQL_FILTERS),
            service_filters=qos.SERVICE_FILTERS,
            list_items=qos.list_policies,
            show=qos.show_policy,
            create=qos.create_policies,
            update=qos.update_policy,
            delete=qos.delete_policy,
        )
    )
)


@router.get("/v2.0/qos/rule-types")
def list_rule_types(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    return list_response(request, "rule_types", qos.rule_types(), {"type"}, key="type")


@router.get("/v2.0/qos/rule-types/{rule_type}")
def show_rule_type(
    rule_type: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return show_response(request, "rule_type", qos.rule_type(rule_type))


def _rule_routes(kind: RuleType) -> None:
    base = f"/v2.0/qos/policies/{{policy_id}}/{kind.collection}"
    alias = f"/v2.0/qos/alias_{kind.collection}/{{rule_id}}"
    attributes = {"id", *kind.fields}

    def list_rules(
        policy_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
    ) -> Response:
        items = qos.list_rules(service(request), ctx, policy_id, kind)
        return list_response(request, kind.collection, items, attributes)

    def show_rule(
        policy_id: str, rule_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
    ) -> Response:
        return show_response(
            request, kind.member, qos.show_rule(service(request), ctx, policy_id, kind, rule_id)
        )

    def create_rule(
        policy_id: str,
        request: Request,
        body: Any = Body(None),
        ctx: RequestContext = Depends(authenticate),
    ) -> Response:
        data = member(body, kind.member)
        view = qos.create_rule(service(request), ctx, policy_id, kind, data)
        return json_response({kind.member: view}, status=201)

    def update_rule(
        policy_id: str,
        rule_id: str,
        request: Request,
        body: Any = Body(None),
        ctx: RequestContext = Depends(authenticate),
    ) -> Response:
        data = member(body, kind.member)
        view = qos.update_rule(service(request), ctx, policy_id, kind, rule_id, data)
        return json_response({kind.member: view})

    def delete_rule(
        policy_id: str, rule_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
    ) -> Response:
        qos.delete_rule(service(request), ctx, policy_id, kind, rule_id)
        return no_content()

    def show_alias(
        rule_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
    ) -> Response:
        policy_id = qos.policy_of_rule(service(request), ctx, kind, rule_id)
        return show_rule(policy_id, rule_id, request, ctx)

    def update_alias(
        rule_id: str,
        request: Request,
        body: Any = Body(None),
        ctx: RequestContext = Depends(authenticate),
    ) -> Response:
        policy_id = qos.policy_of_rule(service(request), ctx, kind, rule_id)
        return update_rule(policy_id, rule_id, request, body, ctx)

    def delete_alias(
        rule_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
    ) -> Response:
        policy_id = qos.policy_of_rule(service(request), ctx, kind, rule_id)
        return delete_rule(policy_id, rule_id, request, ctx)

    async def rule_visible(request: Request, ctx: RequestContext) -> None:
        params = request.path_params
        svc = service(request)
        rule_id = params["rule_id"]
        find: Callable[[], object]
        if "policy_id" in params:
            policy_id = params["policy_id"]
            find = lambda: qos.show_rule(svc, ctx, policy_id, kind, rule_id)  # noqa: E731
        else:
            find = lambda: qos.policy_of_rule(svc, ctx, kind, rule_id)  # noqa: E731
        await run_in_threadpool(door.hidden, find)

    for endpoint in (update_rule, delete_rule, update_alias, delete_alias):
        door.add(endpoint, door.ON_REFUSAL, rule_visible)
    router.add_api_route(base, list_rules, methods=["GET"])
    router.add_api_route(base, create_rule, methods=["POST"])
    router.add_api_route(base + "/{rule_id}", show_rule, methods=["GET"])
    router.add_api_route(base + "/{rule_id}", update_rule, methods=["PUT"])
    router.add_api_route(base + "/{rule_id}", delete_rule, methods=["DELETE"])
    router.add_api_route(alias, show_alias, methods=["GET"])
    router.add_api_route(alias, update_alias, methods=["PUT"])
    router.add_api_route(alias, delete_alias, methods=["DELETE"])


for _kind in RULE_TYPES.values():
    _rule_routes(_kind)
