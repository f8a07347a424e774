"""The one table that turns domain errors into HTTP error bodies.

Each API speaks its own error dialect: NeutronError for networking,
Keystone's ``{"error": {...}}`` for identity, Nova faults for compute and
image, Cinder's (Nova-shaped) faults for block storage.
The dialect is chosen by the mount point of the request path.
"""

from __future__ import annotations

import json
import logging
import re
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from kumo.errors import ECHO_LIMIT, KumoError, shown

log = logging.getLogger(__name__)

NOVA_FAULT_NAMES = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    409: "conflictingRequest",
    412: "preconditionFailed",
    413: "overLimit",
    415: "badMediaType",
    429: "overLimit",
    500: "computeFault",
    501: "notImplemented",
    503: "serviceUnavailable",
}

CINDER_FAULT_NAMES = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "itemNotFound",
    405: "badMethod",
    406: "notAcceptable",
    409: "conflictingRequest",
    413: "overLimit",
    415: "badMediaType",
    429: "overLimit",
    501: "notImplemented",
    503: "serviceUnavailable",
}
"""Cinder answers Nova-style fault bodies (``{"itemNotFound": {"code", "message"}}``);
anything else is ``computeFault``, as in Cinder."""

NEUTRON_DEFAULT_TYPES = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "PolicyNotAuthorized",
    404: "HTTPNotFound",
    405: "HTTPMethodNotAllowed",
    409: "Conflict",
    412: "PreconditionFailed",
    415: "HTTPUnsupportedMediaType",
    500: "InternalServerError",
}


HEAT_TYPES = {
    400: "HTTPBadRequest",
    401: "HTTPUnauthorized",
    403: "Forbidden",
    404: "HTTPNotFound",
    405: "HTTPMethodNotAllowed",
    409: "HTTPConflict",
    413: "RequestEntityTooLarge",
    500: "HTTPInternalServerError",
}
HEAT_EXPLANATIONS = {
    400: "The server could not comply with the request since it is either malformed "
    "or otherwise incorrect.",
    401: "This server could not verify that you are authorized to access the document "
    "you requested.",
    403: "Access was denied to this resource.",
    404: "The resource could not be found.",
    409: "There was a conflict when trying to complete your request.",
    500: "The server has either erred or is incapable of performing the requested operation.",
}
GENERIC_KINDS = {
    "BadRequest",
    "Unauthorized",
    "NotFound",
    "Conflict",
    "InternalError",
    "InvalidInput",
}


def _heat_body(status: int, kind: str | None, message: str) -> dict[str, Any]:
    """Heat's fault: the HTTP explanation, and the error with its type (no traceback)."""
    if kind == "PolicyNotAuthorized":
        kind = "Forbidden"
    if kind is None or kind in GENERIC_KINDS:
        kind = HEAT_TYPES.get(status, "HTTPError")
    title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    return {
        "explanation": HEAT_EXPLANATIONS.get(status, title + "."),
        "code": status,
        "error": {"message": message, "traceback": None, "type": kind},
        "title": title,
    }


def _dialect(path: str) -> str:
    if path.startswith("/orchestration"):
        return "orchestration"
    if path.startswith(("/identity", "/dashboard")):  # the dashboard's own routes too
        return "identity"
    if path.startswith("/compute") or path.startswith("/image"):
        return "compute"
    if path.startswith("/volume"):
        return "volume"
    return "networking"


_QUOTED = re.compile("'([^']{" + str(ECHO_LIMIT + 1) + ",})'")
MESSAGE_LIMIT = 1024


def clip(message: str) -> str:
    """A message as sent: every quoted value longer than ``ECHO_LIMIT``
    shortened, and the whole at most ``MESSAGE_LIMIT`` characters (what a
    validator did not shorten itself is never echoed back whole)."""
    if len(message) <= ECHO_LIMIT:
        return message
    message = _QUOTED.sub(lambda m: f"'{shown(m.group(1))}'", message)
    return shown(message, MESSAGE_LIMIT)


def error_body(path: str, status: int, kind: str | None, message: str, detail: str = "") -> bytes:
    dialect = _dialect(path)
    message, detail = clip(message), clip(detail)
    body: dict[str, Any]
    if dialect == "orchestration":
        body = _heat_body(status, kind, message)
    elif dialect == "identity":
        title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        body = {"error": {"code": status, "title": title, "message": message}}
    elif dialect == "compute":
        name = NOVA_FAULT_NAMES.get(status, "computeFault")
        body = {name: {"code": status, "message": message}}
    elif dialect == "volume":
        name = CINDER_FAULT_NAMES.get(status, "computeFault")
        body = {name: {"code": status, "message": message}}
    else:
        body = {
            "NeutronError": {
                "type": kind or NEUTRON_DEFAULT_TYPES.get(status, "HTTPError"),
                "message": message,
                "detail": detail,
            }
        }
    return json.dumps(body).encode()


def error_response(request: Request, status: int, kind: str | None, message: str) -> Response:
    headers = {}
    if status == 401 and _dialect(request.url.path) == "identity":
        headers["WWW-Authenticate"] = f'Keystone uri="{request.base_url}identity"'
    return Response(
        error_body(request.url.path, status, kind, message),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        if err.get("type") == "json_invalid":
            return "The request body is not valid JSON."
        parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
    return "Invalid request: " + "; ".join(parts)


def install(app: FastAPI) -> None:
    @app.exception_handler(KumoError)
    async def _domain(request: Request, exc: KumoError) -> Response:
        return error_response(request, exc.status, exc.kind, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        return error_response(request, 400, "BadRequest", _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        message = str(exc.detail) if exc.detail else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404 and message == "Not Found":
            message = "The resource could not be found."
        return error_response(request, exc.status_code, None, message)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(request, 500, None, "Request failed: internal server error.")
