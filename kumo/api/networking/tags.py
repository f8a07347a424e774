"""Networking v2.0: the tag sub-resource of networks, subnets, ports and the
other taggable resources. A QoS policy's tags are at
``/v2.0/qos/policies/{id}/tags`` and, as Neutron serves them, at
``/v2.0/policies/{id}/tags``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from sqlalchemy.orm import Session
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.render import json_response, no_content
from kumo.context import RequestContext
from kumo.db.uow import UnitOfWork, run_in_transaction
from kumo.errors import BadRequest, Forbidden, NotFound
from kumo.network import events
from kumo.network import tags as taglib
from kumo.network.core import networks, subnets
from kumo.network.core.networks import touch
from kumo.network.l3 import floatingips, routers
from kumo.network.ports import ports
from kumo.network.qos import policies as qos_policies
from kumo.network.secgroups import groups as secgroups
from kumo.network.subnetpools import pools
from kumo.network.trunks import trunks
from kumo.policy import allowed

router = APIRouter()

# collection -> (resource type, loader, event emitter)
LOADERS: dict[str, tuple[str, Callable[..., Any], Callable[..., Any]]] = {
    "networks": ("network", networks.load, events.network),
    "subnets": ("subnet", subnets.load, events.subnet),
    "ports": ("port", ports.load, events.port),
    "security-groups": ("security_group", secgroups.load, events.security_group),
    "routers": ("router", routers.load, events.router),
    "floatingips": ("floatingip", floatingips.load, events.floatingip),
    "subnetpools": ("subnetpool", pools.load, lambda uow, obj: None),
    "trunks": ("trunk", trunks.load, trunks.emit),
    "policies": ("qos_policy", qos_policies.load, lambda uow, obj: None),
}


QOS_TAGGED = frozenset({"policies"})
"""The collections with tags under ``/v2.0/qos/``."""


def _spec(collection: str, request: Request) -> tuple[str, Callable[..., Any], Callable[..., Any]]:
    under_qos = "/v2.0/qos/" in request.url.path
    if collection not in LOADERS or under_qos and collection not in QOS_TAGGED:
        raise NotFound("The resource could not be found.")
    return LOADERS[collection]


def _change(
    request: Request,
    ctx: RequestContext,
    collection: str,
    ident: str,
    fn: Callable[[Session, str, str], Any],
) -> Any:
    rtype, load, emit = _spec(collection, request)

    def work(uow: UnitOfWork) -> Any:
        obj = load(uow.session, ctx, ident, lock=True)
        if not allowed(ctx, "network:update_tags", {"project_id": obj.project_id}):
            raise Forbidden(f"(rule:update_{rtype}:tags) is disallowed by policy")
        result = fn(uow.session, rtype, obj.id)
        touch(obj)
        uow.session.flush()
        emit(uow, obj)
        return result

    return run_in_transaction(request.app.state.runtime.db, work)


def _singular(collection: str) -> str:
    return collection[:-3] + "y" if collection.endswith("ies") else collection[:-1]


def _current(request: Request, ctx: RequestContext, collection: str, ident: str) -> list[str]:
    _rtype, load, _ = _spec(collection, request)
    with request.app.state.runtime.db.read_session() as s:
        obj = load(s, ctx, ident)
        return taglib.tags_for(s, [obj.id]).get(obj.id, [])


@router.get("/v2.0/{collection}/{ident}/tags")
@router.get("/v2.0/qos/{collection}/{ident}/tags")
def get_tags(
    collection: str, ident: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    return json_response({"tags": _current(request, ctx, collection, ident)})


@router.get("/v2.0/{collection}/{ident}/tags/{tag}")
@router.get("/v2.0/qos/{collection}/{ident}/tags/{tag}")
def check_tag(
    collection: str,
    ident: str,
    tag: str,
    request: Request,
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    if tag not in _current(request, ctx, collection, ident):
        raise NotFound(
            f"Tag {tag} could not be found for {_singular(collection)} {ident}.",
            kind="TagNotFound",
        )
    return no_content()


@router.put("/v2.0/{collection}/{ident}/tags")
@router.put("/v2.0/qos/{collection}/{ident}/tags")
def replace_tags(
    collection: str,
    ident: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    if not isinstance(body, dict) or not isinstance(body.get("tags"), list):
        raise BadRequest("Invalid input for tags: expected {'tags': [...]}")
    tags = [taglib.check_tag(t) for t in body["tags"]]
    _change(
        request, ctx, collection, ident, lambda s, rtype, rid: taglib.replace(s, rtype, rid, tags)
    )
    return json_response({"tags": sorted(dict.fromkeys(tags))})


@router.put("/v2.0/{collection}/{ident}/tags/{tag}")
@router.put("/v2.0/qos/{collection}/{ident}/tags/{tag}")
def add_tag(
    collection: str,
    ident: str,
    tag: str,
    request: Request,
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    taglib.check_tag(tag)
    _change(request, ctx, collection, ident, lambda s, rtype, rid: taglib.add(s, rtype, rid, tag))
    return Response(status_code=201)


@router.delete("/v2.0/{collection}/{ident}/tags")
@router.delete("/v2.0/qos/{collection}/{ident}/tags")
def delete_all_tags(
    collection: str, ident: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    _change(request, ctx, collection, ident, lambda s, rtype, rid: taglib.delete_tags(s, rid))
    return no_content()


@router.delete("/v2.0/{collection}/{ident}/tags/{tag}")
@router.delete("/v2.0/qos/{collection}/{ident}/tags/{tag}")
def delete_tag(
    collection: str,
    ident: str,
    tag: str,
    request: Request,
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    def remove(s: Session, rtype: str, rid: str) -> None:
        if taglib.remove(s, rid, tag) == 0:
            raise NotFound(f"Tag {tag} could not be found for {rtype} {ident}.", kind="TagNotFound")

    _change(request, ctx, collection, ident, remove)
    return no_content()
