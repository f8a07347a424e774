"""The pages of the block storage, image and orchestration services:
volumes, images, stacks (and one stack).

As the other pages: the data of each in one call, gathered by the service
layer acting as the caller, filtered and paged on the server; ``can_write``
tells the page whether to offer the changes the caller's roles allow (the
APIs decide anyway: the page's actions are their own requests).
"""

from __future__ import annotations

from typing import Any

from kumo.context import RequestContext
from kumo.dashboard import sources
from kumo.dashboard.pages import Params, paged, project_page
from kumo.errors import BadRequest
from kumo.policy import allowed
from kumo.runtime import Runtime


def _own(ctx: RequestContext) -> dict[str, Any]:
    return {"project_id": ctx.project_id}


def volumes(rt: Runtime, ctx: RequestContext, params: Params, root: str) -> dict[str, Any]:
    project_page(ctx)
    servers = sources.server_names(rt, ctx)
    names = {s["id"]: s["name"] for s in servers}
    rows = [
        {
            "id": v["id"],
            "name": v.get("name") or "",
            "size": v["size"],
            "status": v["status"],
            "bootable": v.get("bootable") == "true",
            "volume_type": v.get("volume_type"),
            "attachments": [
                {
                    "server_id": a["server_id"],
                    "server_name": names.get(a["server_id"], a["server_id"]),
                    "device": a.get("device"),
                }
                for a in v.get("attachments", [])
            ],
            "created": v.get("created_at"),
        }
        for v in sources.volumes(rt, ctx, f"{root}/volume")
    ]
    vol_names = {r["id"]: r["name"] for r in rows}
    snaps = [
        {
            "id": x["id"],
            "name": x.get("name") or "",
            "volume_id": x["volume_id"],
            "volume_name": vol_names.get(x["volume_id"]) or x["volume_id"],
            "size": x["size"],
            "status": x["status"],
            "created": x.get("created_at"),
        }
        for x in sources.snapshots(rt, ctx)
    ]
    return {
        "volumes": paged(rows, params, "name", "id", "status"),
        "snapshots": snaps,
        "instances": servers,
        "can_write": allowed(ctx, "volume:create", _own(ctx)),
        "can_attach": allowed(ctx, "compute:os-volumes-attachments:create", _own(ctx)),
        "can_extend": allowed(ctx, "volume:extend", _own(ctx)),
        "can_snapshot": allowed(ctx, "volume:create_snapshot", _own(ctx)),
    }


def images(rt: Runtime, ctx: RequestContext, params: Params, root: str) -> dict[str, Any]:
    project_page(ctx)
    rows = [
        {
            "id": i["id"],
            "name": i.get("name") or "",
            "status": i["status"],
            "size": i.get("size"),
            "visibility": i.get("visibility"),
            "disk_format": i.get("disk_format"),
            "container_format": i.get("container_format"),
            "mine": i.get("owner") == ctx.project_id,
            "protected": i.get("protected", False),
            "created": i.get("created_at"),
        }
        for i in sources.images(rt, ctx)
    ]
    return {
        "images": paged(rows, params, "name", "id", "status"),
        "can_write": allowed(ctx, "image:add_image", _own(ctx)),
    }


def _stack_row(s: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": s["id"],
        "name": s["stack_name"],
        "status": s["stack_status"],
        "reason": s.get("stack_status_reason") or "",
        "description": s.get("description") or "",
        "created": s.get("creation_time"),
        "updated": s.get("updated_time"),
    }


def stacks(rt: Runtime, ctx: RequestContext, params: Params, root: str) -> dict[str, Any]:
    project_page(ctx)
    rows = [_stack_row(s) for s in sources.stacks(rt, ctx, root)]
    return {
        "stacks": paged(rows, params, "name", "id", "status"),
        "can_write": allowed(ctx, "orchestration:stacks:create", _own(ctx)),
    }


def stack(rt: Runtime, ctx: RequestContext, params: Params, root: str) -> dict[str, Any]:
    """One stack (``id``): its parameters, outputs and resources."""
    project_page(ctx)
    ident = params.get("id", "")
    if not ident:
        raise BadRequest("Give the stack's id.")
    shown = sources.stack(rt, ctx, root, ident)
    return {
        "stack": dict(
            _stack_row(shown),
            parameters={
                k: v for k, v in (shown.get("parameters") or {}).items() if not k.startswith("OS::")
            },
            outputs=[
                {
                    "key": o.get("output_key"),
                    "value": o.get("output_value"),
                    "error": o.get("output_error"),
                    "description": o.get("description") or "",
                }
                for o in shown.get("outputs") or []
            ],
            resources=[
                {
                    "name": r["resource_name"],
                    "type": r["resource_type"],
                    "status": r["resource_status"],
                    "physical_id": r.get("physical_resource_id") or "",
                    "reason": r.get("resource_status_reason") or "",
                }
                for r in shown["resources"]
            ],
        ),
        "can_write": allowed(ctx, "orchestration:stacks:delete", _own(ctx)),
    }


PAGES = {"volumes": volumes, "images": images, "stacks": stacks, "stack": stack}
"""Each takes the APIs' root URL (their views carry links)."""
