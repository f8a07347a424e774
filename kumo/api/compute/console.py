"""Serial console: the URL (``os-getSerialConsole`` action and, from 2.6,
``/servers/{id}/remote-consoles``) and the websocket proxy at
``/compute/console?token=...`` that attaches it to the instance's console at
its host agent's console endpoint or, when the agent reports none, to a
shell in the instance (its network and UTS namespaces) or a VM's serial
port on this machine."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from typing import Any

from fastapi import APIRouter, Body, Depends, Request, WebSocket, WebSocketDisconnect
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.compute.common import service
from kumo.api.faults import error_body
from kumo.api.render import json_response
from kumo.compute import console, console_channel
from kumo.context import RequestContext
from kumo.dataplane import uts
from kumo.db.uow import run_in_transaction
from kumo.errors import BadRequest, Unauthorized

log = logging.getLogger("kumo.api.console")
router = APIRouter()
"""Mounted under /v2.1."""
proxy = APIRouter()
"""Mounted under /compute."""

_GONE = (WebSocketDisconnect, RuntimeError, OSError)
"""How either end going away shows: the client closed (a send or receive
after its close), or the shell exited (its terminal reads and writes fail).
Either ends the session quietly."""


def ws_base(request: Request) -> str:
    base = str(request.base_url).rstrip("/")
    return "ws" + base.removeprefix("http")


def url_for(request: Request, ctx: RequestContext, server_id: str, protocol: str, kind: str) -> str:
    svc = service(request)
    base = ws_base(request)
    return run_in_transaction(
        svc.db,
        lambda uow: console.console_url(
            uow.session, svc.console_keys, ctx, server_id, protocol, kind, base
        ),
    )


@router.post("/servers/{server_id}/remote-consoles")
def remote_console(
    server_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(authenticate),
) -> Response:
    spec = (body or {}).get("remote_console") if isinstance(body, dict) else None
    if not isinstance(spec, dict) or "protocol" not in spec or "type" not in spec:
        raise BadRequest("Invalid input for field/attribute remote_console.")
    url = url_for(request, ctx, server_id, str(spec["protocol"]), str(spec["type"]))
    out = {"protocol": spec["protocol"], "type": spec["type"], "url": url}
    return json_response({"remote_console": out})


def serial_console_action(
    request: Request, ctx: RequestContext, server_id: str, body: dict[str, Any]
) -> Response:
    """``os-getSerialConsole`` (the action form, before 2.6)."""
    spec = body.get("os-getSerialConsole") or {}
    kind = str(spec.get("type", "serial")) if isinstance(spec, dict) else "serial"
    url = url_for(request, ctx, server_id, "serial", kind)
    return json_response({"console": {"type": kind, "url": url}})


def console_output_action(
    request: Request, ctx: RequestContext, server_id: str, body: dict[str, Any]
) -> Response:
    """``os-getConsoleOutput``: the last ``length`` lines of the console log."""
    spec = body.get("os-getConsoleOutput") or {}
    raw = spec.get("length") if isinstance(spec, dict) else None
    try:
        length = None if raw in (None, "") else int(raw)
    except (TypeError, ValueError):
        raise BadRequest("Invalid input for field/attribute length.") from None
    if length is not None and length < -1:
        raise BadRequest("Invalid input for field/attribute length.")
    svc = service(request)
    with svc.db.read_session() as s:
        source = console.log_source(s, ctx, server_id)
    text = console.console_output(svc.console_channel, source, None if length == -1 else length)
    return json_response({"output": text})


async def _serial(
    ws: WebSocket,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    subprotocol: str | None,
) -> None:
    """A VM's serial port: bytes both ways between the websocket and QEMU's
    console socket (QEMU takes one client at a time; a second waits)."""
    await ws.accept(subprotocol=subprotocol)

    async def to_client() -> None:
        with contextlib.suppress(*_GONE):
            while data := await reader.read(4096):
                await ws.send_bytes(data)

    async def from_client() -> None:
        with contextlib.suppress(*_GONE):
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                data = message.get("bytes") or (message.get("text") or "").encode()
                if data:
                    writer.write(data)
                    await writer.drain()

    tasks = [asyncio.create_task(to_client()), asyncio.create_task(from_client())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        writer.close()
        with contextlib.suppress(*_GONE):
            await ws.close()


async def refuse(ws: WebSocket, message: str) -> None:
    """Turn the handshake down with 401 and a Nova fault body (a plain close
    1008 where the server cannot send an HTTP answer to a websocket)."""
    body = error_body(ws.url.path, 401, None, message)
    try:
        await ws.send_denial_response(
            Response(body, status_code=401, media_type="application/json")
        )
    except RuntimeError:
        await ws.close(code=1008)


@proxy.websocket("/console")
async def console_proxy(ws: WebSocket, token: str = "") -> None:
    runtime = ws.app.state.runtime
    try:
        # may read the keys from the database: off the event loop
        found = await asyncio.to_thread(console.target, runtime.compute.console_keys, token)
    except Unauthorized as exc:
        await refuse(ws, exc.message)
        return
    fresh = await asyncio.to_thread(
        run_in_transaction, runtime.db, lambda uow: console.spend(uow.session, found.nonce)
    )
    if not fresh:  # a console URL opens once
        await refuse(ws, console.INVALID)
        return
    offered = ws.scope.get("subprotocols") or []
    subprotocol = "binary" if "binary" in offered else None
    serial: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    if found.agent is not None and found.host is not None:
        try:
            serial = await runtime.compute.console_channel.open(
                found.agent, found.host, found.server, vm=found.vm, netns=found.netns
            )
        except (console_channel.Unavailable, OSError, TimeoutError) as exc:
            log.warning("console of server %s: %s", found.server, exc)
            await refuse(ws, "The instance's console is not available (is it running?).")
            return
    elif found.socket is not None:
        try:
            serial = await asyncio.wait_for(asyncio.open_unix_connection(found.socket), 5.0)
        except (OSError, TimeoutError):
            await refuse(ws, "The VM's serial console is not available (is it running?).")
            return
    from kumo.telemetry.api import console_session  # metrics' registry: set up by then

    with console_session(runtime.settings.metrics):
        if serial is not None:
            await _serial(ws, *serial, subprotocol)
        else:
            await _shell(ws, found.netns or "", subprotocol)


async def _shell(ws: WebSocket, netns: str, subprotocol: str | None) -> None:
    """A shell in an instance's namespace on a pseudo-terminal, its bytes
    both ways over the websocket."""
    await ws.accept(subprotocol=subprotocol)
    proc, master = uts.shell(netns)
    loop = asyncio.get_running_loop()
    output: asyncio.Queue[bytes] = asyncio.Queue()

    def readable() -> None:
        try:
            data = os.read(master, 4096)
        except OSError:
            data = b""
        output.put_nowait(data)
        if not data:
            loop.remove_reader(master)

    loop.add_reader(master, readable)

    async def to_client() -> None:
        with contextlib.suppress(*_GONE):
            while data := await output.get():
                await ws.send_bytes(data)

    async def from_client() -> None:
        with contextlib.suppress(*_GONE):
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                data = message.get("bytes") or (message.get("text") or "").encode()
                if data:
                    os.write(master, data)

    tasks = [asyncio.create_task(to_client()), asyncio.create_task(from_client())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        loop.remove_reader(master)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        os.close(master)
        with contextlib.suppress(*_GONE):  # the client may have closed first
            await ws.close()
