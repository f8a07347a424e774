"""``/v3/os-volume-transfer`` and ``/v3/volume-transfers`` (3.55): volume transfers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.render import json_response
from kumo.api.volume.common import base, params, service, version
from kumo.context import RequestContext
from kumo.volume import transfers
from kumo.volume.microversion import require

router = APIRouter()
PATHS = ("/os-volume-transfer", "/volume-transfers")


def _gate(request: Request) -> None:
    if request.url.path.rstrip("/").split("/v3/", 1)[-1].startswith("volume-transfers"):
        require(version(request), "3.55", "Volume transfers")


def list_transfers(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    _gate(request)
    url, ver = base(request), version(request)
    found = service(request).read(
        lambda s: [
            transfers.view(t, url, ver, detail=False)
            for t in transfers.listing(s, ctx, params(request))
        ]
    )
    return json_response({"transfers": found})


def list_transfers_detail(
    request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    _gate(request)
    url, ver = base(request), version(request)
    found = service(request).read(
        lambda s: [transfers.view(t, url, ver) for t in transfers.listing(s, ctx, params(request))]
    )
    return json_response({"transfers": found})


def create_transfer(
    request: Request, body: Any = Body(None), ctx: RequestContext = Depends(authenticate)
) -> Response:
    _gate(request)
    url, ver = base(request), version(request)

    def work(uow: Any) -> dict[str, Any]:
        t, key = transfers.create(uow, ctx, body, ver)
        return {**transfers.view(t, url, ver), "auth_key": key}

    return json_response({"transfer": service(request).write(work)}, status=202)


def show_transfer(
    transfer_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    _gate(request)
    url, ver = base(request), version(request)
    shown = service(request).read(
        lambda s: transfers.view(transfers.load(s, ctx, transfer_id), url, ver)
    )
    return json_response({"transfer": shown})


def delete_transfer(
    transfer_id: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    _gate(request)
    service(request).write(lambda uow: transfers.delete(uow, ctx, transfer_id))
    return Response(status_code=202)


def accept_transfer(
    transfer_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    _gate(request)
    svc, url, ver = service(request), base(request), version(request)
    done = svc.write(
        lambda uow: transfers.view(
            transfers.accept(uow, svc.settings, ctx, transfer_id, body), url, ver, detail=False
        )
    )
    return json_response({"transfer": done}, status=202)


for _path in PATHS:
    router.add_api_route(_path, list_transfers, methods=["GET"])
    router.add_api_route(f"{_path}/detail", list_transfers_detail, methods=["GET"])
    router.add_api_route(_path, create_transfer, methods=["POST"])
    router.add_api_route(f"{_path}/{{transfer_id}}", show_transfer, methods=["GET"])
    router.add_api_route(f"{_path}/{{transfer_id}}", delete_transfer, methods=["DELETE"])
    router.add_api_route(f"{_path}/{{transfer_id}}/accept", accept_transfer, methods=["POST"])
