"""Live updates for the browser: server-sent events fed by the watch feed.

The stream reads the process's outbox tailer (the one the agents' watches
read) and keeps only what concerns the caller's project (``relevant``): a
changed instance is sent as its list row, rendered by the service layer
acting as the caller (so an instance the caller may not see is never
sent); an instance deleted is sent as its id; any other change the caller
may see (its networks, subnets, ports, routers, floating IPs, security
groups, or a shared or external network) is sent as a ``topology`` event
naming only the kind and id, upon which the topology page fetches its
data again. Nothing of another project's objects is ever sent.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from kumo.context import RequestContext
from kumo.dashboard import pages, sources
from kumo.errors import KumoError
from kumo.policy import allowed
from kumo.watch.tailer import Event, Gone

KEEPALIVE_SECONDS = 15.0
TOPOLOGY_KINDS = ("network", "subnet", "port", "router", "floatingip", "security_group")


@dataclass
class Batch:
    """What a batch of watch events means for one caller."""

    refresh: set[str] = field(default_factory=set)
    """Instances whose rows to send again."""
    deleted: set[str] = field(default_factory=set)
    topology: list[dict[str, Any]] = field(default_factory=list)


def _own(ctx: RequestContext, body: dict[str, Any]) -> bool:
    project = body.get("project_id") or body.get("tenant_id")
    return project is not None and project == ctx.project_id


def relevant(ctx: RequestContext, events: Iterable[Event]) -> Batch:
    out = Batch()
    for e in events:
        body = e.body
        if e.kind == "server":
            if not _own(ctx, body):
                continue
            if e.op == "delete":
                out.deleted.add(body["id"])
                out.refresh.discard(body["id"])
            else:
                out.refresh.add(body["id"])
            out.topology.append({"kind": "server", "id": body["id"]})
            continue
        if e.kind not in TOPOLOGY_KINDS:
            continue
        mine = _own(ctx, body)
        if not mine and e.kind == "network":
            # another project's network the caller may read (shared, external)
            mine = bool(body.get("shared") or body.get("router:external")) and allowed(
                ctx, "network:get_network", body
            )
        if not mine:
            continue
        hint: dict[str, Any] = {"kind": e.kind, "id": body["id"]}
        if e.kind == "network" and _own(ctx, body):
            # the project's own network: drawn at once, before the page has its data again
            hint.update(
                op=e.op, name=body.get("name", ""), external=bool(body.get("router:external"))
            )
        out.topology.append(hint)
        if e.kind == "port" and str(body.get("device_owner", "")).startswith("compute:"):
            device = body.get("device_id")
            if device and device not in out.deleted:
                out.refresh.add(device)
    return out


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def stream(
    request: Request, ctx: RequestContext, base: str, expires_at: float
) -> AsyncIterator[bytes]:
    from kumo.api.internal import tailer

    rt = request.app.state.runtime
    feed = tailer(request)
    await feed.start()
    draining = request.app.state.draining
    cursor = feed.last
    yield _sse("hello", {"revision": cursor})
    last_sent = time.monotonic()

    def rows(ids: set[str]) -> list[dict[str, Any]]:
        out = []
        for ident in sorted(ids):
            try:
                out.append(pages.instance_row(sources.server(rt, ctx, ident, base)))
            except KumoError:  # gone, or not the caller's to see
                continue
        return out

    while not draining.is_set:
        if time.time() >= expires_at:
            yield _sse("expired", {})
            return
        await feed.wait(cursor, 1.0)
        if await request.is_disconnected():
            return
        try:
            events = await feed.events_after(cursor)
        except Gone:
            cursor = feed.last
            yield _sse("resync", {})
            continue
        if events:
            cursor = events[-1].revision
            batch = relevant(ctx, events)
            chunks = [_sse("instance-deleted", {"id": i}) for i in sorted(batch.deleted)]
            if batch.refresh:
                for row in await run_in_threadpool(rows, batch.refresh):
                    chunks.append(_sse("instance", row))
            if batch.topology:
                chunks.append(_sse("topology", batch.topology[:200]))
            if chunks:
                yield b"".join(chunks)
                last_sent = time.monotonic()
                continue
        if time.monotonic() - last_sent >= KEEPALIVE_SECONDS:
            yield b": keepalive\n\n"
            last_sent = time.monotonic()
        await asyncio.sleep(0)
