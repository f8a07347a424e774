"""Live updates for the browser: server-sent events fed by the watch feed.

The stream reads the process's outbox tailer (the one the agents' watches
read) and keeps only what concerns the caller's project (``relevant``): a
changed instance is sent as its list row, rendered by the service layer
acting as the caller (so an instance the caller may not see is never
sent); an instance deleted is sent as its id. Whatever changed on the
caller's topology (its instances, networks and their subnets, routers and
their legs, floating IPs, or a shared or external network it may read) is
sent as one ``topology`` event per batch: the changed entries as the
topology page draws them and the ids of those gone (``topology.patch``),
which the open page applies without fetching the graph again. A change of
the caller's project's ports, volumes and their snapshots, images (or a
public image) and stacks is sent as a ``changed`` event naming the list
pages concerned (``LISTED``), whose open page reads its data again, as the
user, in its one request. Nothing of another project's objects is ever
sent.
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
from kumo.dashboard import pages, sources, topology
from kumo.policy import allowed
from kumo.watch.tailer import Event, Gone

KEEPALIVE_SECONDS = 15.0
WATCHED = ("network", "subnet", "port", "router", "floatingip")
"""Kinds besides servers that change what the topology draws."""
LISTED = {
    "port": "ports",
    "volume": "volumes",
    "volume_snapshot": "volumes",
    "image": "images",
    "stack": "stacks",
}
"""Kinds whose change makes a list page read its data again (``changed``)."""
MAX_PATCH = 2000
"""More changed objects than this in one batch: the page fetches the graph again."""


@dataclass
class Batch:
    """What a batch of watch events means for one caller."""

    refresh: set[str] = field(default_factory=set)
    """Instances whose rows to send again."""
    deleted: set[str] = field(default_factory=set)
    changed: dict[str, set[str]] = field(default_factory=dict)
    """Topology entries to send again (``topology.KINDS`` -> ids)."""
    new_networks: list[dict[str, Any]] = field(default_factory=list)
    """The project's networks changed, as their event bodies tell (no
    subnets): the page draws those it does not have yet before the patch."""
    pages: set[str] = field(default_factory=set)
    """List pages (``LISTED``) whose data changed for the caller: named,
    nothing of the objects sent; the open page reads its data again."""

    def touch(self, kind: str, ident: str | None) -> None:
        if ident:
            self.changed.setdefault(kind, set()).add(ident)


def _own(ctx: RequestContext, body: dict[str, Any]) -> bool:
    project = body.get("project_id") or body.get("tenant_id")
    return project is not None and project == ctx.project_id


def relevant(ctx: RequestContext, events: Iterable[Event]) -> Batch:
    out = Batch()
    for e in events:
        body = e.body
        listed = LISTED.get(e.kind)
        if listed is not None and (
            _own(ctx, body) or (e.kind == "image" and body.get("visibility") == "public")
        ):
            out.pages.add(listed)
        if e.kind == "server":
            if not _own(ctx, body):
                continue
            if e.op == "delete":
                out.deleted.add(body["id"])
                out.refresh.discard(body["id"])
            else:
                out.refresh.add(body["id"])
            out.touch("instances", body["id"])
            continue
        if e.kind not in WATCHED:
            continue
        mine = _own(ctx, body)
        if not mine and e.kind == "network":
            # another project's network the caller may read (shared, external)
            mine = bool(body.get("shared") or body.get("router:external")) and allowed(
                ctx, "network:get_network", body
            )
        if not mine:
            continue
        if e.kind == "network":
            out.touch("networks", body["id"])
            if e.op != "delete" and _own(ctx, body):
                out.new_networks.append(
                    {
                        "id": body["id"],
                        "name": body.get("name", ""),
                        "status": body.get("status"),
                        "shared": bool(body.get("shared")),
                        "external": bool(body.get("router:external")),
                        "project_id": ctx.project_id,
                        "subnets": [],
                    }
                )
        elif e.kind == "subnet":
            out.touch("networks", body.get("network_id"))
        elif e.kind == "router":
            out.touch("routers", body["id"])
        elif e.kind == "floatingip":
            out.touch("floatingips", body["id"])
        elif e.kind == "port":
            owner = str(body.get("device_owner", ""))
            device = body.get("device_id")
            if owner.startswith("network:router_"):
                out.touch("routers", device)
            elif owner.startswith("compute:") and device:
                out.touch("instances", device)
                if device not in out.deleted:
                    out.refresh.add(device)
    return out


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def stream(
    request: Request,
    ctx: RequestContext,
    base: str,
    expires_at: float,
    after: int | None = None,
) -> AsyncIterator[bytes]:
    from kumo.api.internal import tailer

    rt = request.app.state.runtime
    feed = tailer(request)
    await feed.start()
    draining = request.app.state.draining
    # from the revision the page's data was read at (a change made since is
    # sent), else from now; one older than the feed keeps is a resync
    cursor = feed.last if after is None or after < 0 else after
    yield _sse("hello", {"revision": cursor})
    last_sent = time.monotonic()

    def rows(ids: set[str]) -> list[dict[str, Any]]:
        # the caller's project's instances among ids (gone ones are not there)
        return pages.instance_rows(rt, ctx, sources.server_summaries(rt, ctx, sorted(ids)))

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
            if batch.new_networks:
                # drawn at once (the patch below takes a few queries)
                yield _sse("topology", {"networks": batch.new_networks, "hint": True})
            chunks = [_sse("instance-deleted", {"id": i}) for i in sorted(batch.deleted)]
            if batch.pages:
                chunks.append(_sse("changed", {"pages": sorted(batch.pages)}))
            if batch.refresh:
                for row in await run_in_threadpool(rows, batch.refresh):
                    chunks.append(_sse("instance", row))
            if sum(len(ids) for ids in batch.changed.values()) > MAX_PATCH:
                chunks.append(_sse("resync", {}))
            elif batch.changed:
                patch = await run_in_threadpool(topology.patch, rt, ctx, batch.changed)
                chunks.append(_sse("topology", patch))
            if chunks:
                yield b"".join(chunks)
                last_sent = time.monotonic()
                continue
        if time.monotonic() - last_sent >= KEEPALIVE_SECONDS:
            yield b": keepalive\n\n"
            last_sent = time.monotonic()
        await asyncio.sleep(0)
