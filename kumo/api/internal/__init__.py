"""The agents' internal API, mounted at /internal/v1.

Registration and heartbeats, port status and HA state reports, servers
for the metadata service, the watch feed (``list`` then
``watch?since=REV``), the cluster key (``cluster_key.py``), each host's
console endpoint key (``console_key.py``) and
distributed SNAT's port-block leases (``snat_leases.py``). Only
service or admin credentials; an agent's credential reports and reads
only for its own host (the service layer decides, from the host recorded
when it was enrolled), and an admin enrols hosts (``credentials.py``).
The router's lifespan runs the rescheduling loop (``rescheduler.py``).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import Body, Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from kumo.api.auth import authenticate
from kumo.api.compute.common import base as compute_base
from kumo.api.faults import error_response
from kumo.api.internal import cluster_key, console_key, credentials, rescheduler, snat_leases
from kumo.api.internal.list_queue import ListQueue, Saturated
from kumo.api.render import json_response
from kumo.api.routing import GatedRouter
from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.engine import Database
from kumo.db.uow import COMMIT_LISTENERS, run_in_transaction
from kumo.errors import BadRequest, KumoError
from kumo.network import agent_reports, agents
from kumo.network.l3 import scheduler as l3_scheduler
from kumo.network.validate import integer
from kumo.policy import authorize
from kumo.watch import encoded, snapshot
from kumo.watch.tailer import Gone, Tailer

router = GatedRouter(lifespan=rescheduler.lifespan)
router.include_router(cluster_key.router)
router.include_router(console_key.router)
router.include_router(credentials.router)
router.include_router(snat_leases.router)
BOOKMARK_SECONDS = 5.0


class WatchGone(KumoError):
    status = 410
    kind = "ResourceExpired"


def service_context(ctx: RequestContext = Depends(authenticate)) -> RequestContext:
    authorize(ctx, "internal:watch")
    return ctx


def tailer(request: Request) -> Tailer:
    state = request.app.state
    if getattr(state, "tailer", None) is None:
        rt = state.runtime
        state.tailer = Tailer(
            rt.db, retention=rt.settings.outbox_retention, metrics=rt.settings.metrics
        )
        COMMIT_LISTENERS.append(state.tailer.poke)
        draining = getattr(state, "draining", None)
        if draining is not None:
            draining.wakers.append(state.tailer.wake_all)
    t: Tailer = state.tailer
    return t


@router.post("/agents")
def register(
    request: Request, body: Any = Body(None), ctx: RequestContext = Depends(service_context)
) -> Response:
    rt = request.app.state.runtime
    data = body.get("agent") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise BadRequest("Expected {'agent': {...}}")
    agent = run_in_transaction(
        rt.db, lambda uow: agent_reports.register(uow, rt.settings, ctx, data)
    )
    return json_response({"agent": agents.view(agent, rt.settings)}, status=201)


@router.post("/agents/{agent_id}/heartbeat")
def heartbeat(
    agent_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(service_context),
) -> Response:
    rt = request.app.state.runtime
    data = body if isinstance(body, dict) else {}
    agent = run_in_transaction(
        rt.db, lambda uow: agent_reports.heartbeat(uow, rt.settings, ctx, agent_id, data)
    )
    return json_response({"agent": agents.view(agent, rt.settings)})


@router.post("/agents/{agent_id}/ha-states")
def ha_states(
    agent_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(service_context),
) -> Response:
    """``{"ha_states": {router_id: "active" | "standby"}}`` from the agent's host."""
    rt = request.app.state.runtime
    states = body.get("ha_states") if isinstance(body, dict) else None
    if not isinstance(states, dict) or not all(
        isinstance(k, str) and v in l3_scheduler.HA_STATES for k, v in states.items()
    ):
        raise BadRequest("Expected {'ha_states': {router_id: 'active' or 'standby'}}")
    changed = run_in_transaction(
        rt.db, lambda uow: agent_reports.ha_states(uow, rt.settings, ctx, agent_id, states)
    )
    return json_response({"changed": changed})


@router.post("/agents/{agent_id}/metering")
def metering_counts(
    agent_id: str,
    request: Request,
    body: Any = Body(None),
    ctx: RequestContext = Depends(service_context),
) -> Response:
    """``{"counts": {label_id: [bytes, packets]}}``: the totals the agent's
    host counted for each label since the agent started."""
    rt = request.app.state.runtime
    raw = body.get("counts") if isinstance(body, dict) else None
    if not isinstance(raw, dict) or not all(
        isinstance(k, str)
        and isinstance(v, list)
        and len(v) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in v)
        for k, v in raw.items()
    ):
        raise BadRequest("Expected {'counts': {label_id: [bytes, packets]}}")
    counts = {k: (int(v[0]), int(v[1])) for k, v in raw.items()}
    recorded = run_in_transaction(
        rt.db, lambda uow: agent_reports.metering(uow, ctx, agent_id, counts)
    )
    return json_response({"recorded": recorded})


@router.post("/ports/status")
def port_status(
    request: Request, body: Any = Body(None), ctx: RequestContext = Depends(service_context)
) -> Response:
    rt = request.app.state.runtime
    if not isinstance(body, dict):
        raise BadRequest("Expected {'active': [...], 'down': [...]}")
    lists: dict[str, list[str]] = {}
    for key in ("active", "down"):
        ids = body.get(key) or []
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise BadRequest(f"'{key}' must be a list of port ids")
        lists[key] = ids
    changed = rt.network.report_port_status(ctx, lists["active"], lists["down"])
    return json_response({"changed": changed})


@router.post("/storage-hosts")
def storage_host(
    request: Request, body: Any = Body(None), ctx: RequestContext = Depends(service_context)
) -> Response:
    """A storage agent's registration and heartbeat: ``{"storage_host": {"host",
    "availability_zone", "backend", "pools": [...]}}`` (see ``kumo.volume.pools``)."""
    out = request.app.state.runtime.volume.register_storage_host(ctx, body)
    return json_response({"storage_host": out})


@router.post("/storage-reports")
def storage_report(
    request: Request, body: Any = Body(None), ctx: RequestContext = Depends(service_context)
) -> Response:
    """Outcomes of a storage agent's work (see ``kumo.volume.reports``)."""
    changed = request.app.state.runtime.volume.storage_report(ctx, body)
    return json_response({"changed": changed})


@router.post("/volume-attachment-reports")
def volume_attachment_report(
    request: Request, body: Any = Body(None), ctx: RequestContext = Depends(service_context)
) -> Response:
    """A compute host's outcomes of plugging and unplugging volumes
    (``kumo.volume.attachments.report``)."""
    changed = request.app.state.runtime.volume.attachment_report(ctx, body)
    return json_response({"changed": changed})


@router.get("/servers/{server_id}")
def server(
    server_id: str, request: Request, ctx: RequestContext = Depends(service_context)
) -> Response:
    """A server of the caller's host for its metadata service: ``{"server":
    <admin view>, "public_key": <its key pair's> or null}``, asked for by the
    port (``?port_id=``) the request came from."""
    rt = request.app.state.runtime
    port_id = request.query_params.get("port_id", "")
    return json_response(
        rt.compute.server_for_agent(ctx, server_id, compute_base(request), port_id)
    )


@router.post("/servers/power-states")
def server_power_states(
    request: Request, body: Any = Body(None), ctx: RequestContext = Depends(service_context)
) -> Response:
    """``{"servers": [{"id", "power", "reboots", "fault"}]}``: the agent's VMs
    whose state changed (``kumo.compute.power_reports``)."""
    rt = request.app.state.runtime
    return json_response({"changed": rt.compute.report_power(ctx, body)})


@router.get("/images/{image_id}/file")
async def image_file(
    image_id: str, request: Request, ctx: RequestContext = Depends(service_context)
) -> Response:
    """An image's data for the host of a server booted from it (its VM's disk)."""
    from kumo.api.image.data import stream

    rt = request.app.state.runtime
    found = await run_in_threadpool(rt.image.open_for_agent, ctx, image_id)
    return stream(found)


@router.put("/snapshots/{image_id}/file")
async def snapshot_file(
    image_id: str, request: Request, ctx: RequestContext = Depends(service_context)
) -> Response:
    """A VM snapshot's data from the agent of the server's host, written
    through the image service as the user who asked for the snapshot
    (``kumo.compute.snapshots``)."""
    from kumo.api.image.data import declared, receive

    rt = request.app.state.runtime
    user = await run_in_threadpool(rt.compute.snapshot_context, ctx, image_id)
    ok = False
    try:
        up = await run_in_threadpool(rt.image.start_upload, user, image_id, declared(request))
        await receive(request, up)
        ok = True
    finally:
        await run_in_threadpool(rt.compute.end_snapshot, ctx, image_id, ok)
    return Response(status_code=204)


@router.delete("/snapshots/{image_id}")
def snapshot_failed(
    image_id: str, request: Request, ctx: RequestContext = Depends(service_context)
) -> Response:
    """The agent could not make the snapshot's data: the image is killed."""
    request.app.state.runtime.compute.end_snapshot(ctx, image_id, False)
    return Response(status_code=204)


@router.put("/volume-uploads/{image_id}/file")
async def volume_upload_file(
    image_id: str, request: Request, ctx: RequestContext = Depends(service_context)
) -> Response:
    """A volume's data from the agent of its storage host, written through the
    image service as the user who asked for the upload (``kumo.volume.uploads``)."""
    from kumo.api.image.data import declared, receive

    rt = request.app.state.runtime
    user = await run_in_threadpool(rt.volume.upload_context, ctx, image_id)
    ok, why = False, ""
    try:
        up = await run_in_threadpool(rt.image.start_upload, user, image_id, declared(request))
        await receive(request, up)
        ok = True
    except KumoError as exc:
        why = str(exc)
        raise
    finally:
        await run_in_threadpool(rt.volume.end_upload, ctx, image_id, ok, why)
    return Response(status_code=204)


@router.delete("/volume-uploads/{image_id}")
def volume_upload_failed(
    image_id: str, request: Request, ctx: RequestContext = Depends(service_context)
) -> Response:
    """The agent could not read the volume's data: the image is killed, the
    volume goes back to its status, with ``?error=`` as its user message."""
    error = request.query_params.get("error", "")[:1000]
    request.app.state.runtime.volume.end_upload(ctx, image_id, False, error)
    return Response(status_code=204)


def _authorize_topics(db: Database, ctx: RequestContext, topics: frozenset[str]) -> None:
    with db.read_session() as s:
        agent_reports.authorize_topics(s, ctx, topics)


@router.get("/list")
async def list_objects(
    request: Request, ctx: RequestContext = Depends(service_context)
) -> Response:
    """A snapshot of the topics. With ``host=H`` (``host:H`` among the
    topics), the topics are taken on to all that H needs, and the answer
    names them. Lists wait their turn, first come first served, and run on
    threads of their own (``list_queue``): one whose client has gone by then
    is dropped unread, and one that would wait too long is answered ``503``
    with ``Retry-After`` at once."""
    rt = request.app.state.runtime
    await tailer(request).start()
    topics = snapshot.parse_topics(request.query_params.get("topics"))
    host = request.query_params.get("host")
    if host is not None and f"host:{host}" not in topics:
        raise BadRequest(f"host {host!r} is not among the topics")
    queue = lists(request)
    try:
        async with queue.turn():
            if await _gone(request):
                return Response(status_code=499)
            answer = await queue.run(_list, rt.db, rt.settings, ctx, topics, host)
    except Saturated as exc:
        return _saturated(request, exc)
    return Response(answer, media_type="application/json")


def _list(
    db: Database,
    settings: Settings,
    ctx: RequestContext,
    topics: frozenset[str],
    host: str | None,
) -> bytes:
    """A list's answer, from the caller's right to the topics to its bytes
    (all of it on the list's thread: the event loop only sends it)."""
    _authorize_topics(db, ctx, topics)

    def authorize(session: Session, wanted: frozenset[str]) -> None:
        agent_reports.authorize_topics(session, ctx, wanted)

    revision, reached, objects = snapshot.take_for(db, settings, topics, host, authorize)
    body: dict[str, Any] = {"revision": revision, "objects": objects}
    if host is not None:
        body["topics"] = sorted(reached)
    return encoded.answer(body)


def _saturated(request: Request, exc: Saturated) -> Response:
    response = error_response(request, 503, "ServiceUnavailable", str(exc))
    response.headers["Retry-After"] = str(int(exc.retry_after))
    return response


async def _gone(request: Request) -> bool:
    """Whether the client has closed the connection. The request's (empty)
    body is taken first, then the server is let read the socket once: the
    closing is seen only when it reads."""
    await request.body()
    await asyncio.sleep(0.01)
    return await request.is_disconnected()


def lists(request: Request) -> ListQueue:
    """This process's list queue."""
    state = request.app.state
    queue: ListQueue | None = getattr(state, "list_queue", None)
    if queue is None:
        queue = state.list_queue = ListQueue(state.runtime.settings.list_places)
    return queue


@router.get("/watch")
async def watch(request: Request, ctx: RequestContext = Depends(service_context)) -> Response:
    feed = tailer(request)
    await feed.start()
    since = integer(request.query_params.get("since", "0"), "since")
    topics = snapshot.parse_topics(request.query_params.get("topics"))
    await run_in_threadpool(_authorize_topics, request.app.state.runtime.db, ctx, topics)
    sub = feed.subscribe(topics)  # before reading: what comes after wakes it
    try:
        first = await feed.events_after(since)
    except Gone as exc:
        feed.unsubscribe(sub)
        raise WatchGone(str(exc)) from exc

    draining = request.app.state.draining
    watchers: Any = None
    if request.app.state.runtime.settings.metrics:
        from kumo.telemetry.api import WATCHERS

        watchers = WATCHERS

    async def stream() -> AsyncIterator[bytes]:
        if watchers is not None:
            watchers.inc()
        try:
            async for chunk in _stream():
                yield chunk
        finally:
            feed.unsubscribe(sub)
            if watchers is not None:
                watchers.dec()

    async def _stream() -> AsyncIterator[bytes]:
        cursor = since
        pending = first
        last_sent = time.monotonic()
        while not draining.is_set:
            lines = []
            for event in pending:
                if event.revision <= cursor:
                    continue
                cursor = event.revision
                line = event.for_watch(topics)
                if line is not None:
                    lines.append(line)
            if lines:
                yield ("\n".join(lines) + "\n").encode()
                last_sent = time.monotonic()
            elif time.monotonic() - last_sent >= BOOKMARK_SECONDS:
                yield (json.dumps({"type": "bookmark", "revision": cursor}) + "\n").encode()
                last_sent = time.monotonic()
            if feed.last <= cursor or feed.holds_after(cursor):
                # Until an event for these topics, or the next bookmark is
                # due (events for others since are passed over then); a
                # watch catching up from the database reads on at once.
                await sub.wait(max(0.0, last_sent + BOOKMARK_SECONDS - time.monotonic()))
            if draining.is_set:
                return  # the server is stopping: the agent reconnects
            sub.clear()
            try:
                pending = await feed.events_after(cursor)
            except Gone:
                yield (json.dumps({"type": "gone", "revision": cursor}) + "\n").encode()
                return
            await asyncio.sleep(0)

    return StreamingResponse(stream(), media_type="application/x-ndjson")
