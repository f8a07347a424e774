"""Stacks, resources and events as Heat's API shows them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kumo.db.orchestration_models import Stack, StackEvent, StackResource


def ts(value: dt.datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def stack_url(endpoint: str, row: Stack) -> str:
    return f"{endpoint}/stacks/{row.name}/{row.id}"


def stack_brief(row: Stack, endpoint: str) -> dict[str, Any]:
    return {
        "id": row.id,
        "stack_name": row.name,
        "description": str((row.template or {}).get("description") or ""),
        "creation_time": ts(row.created_at),
        "updated_time": ts(row.updated_at),
        "deletion_time": ts(row.deleted_at),
        "stack_status": f"{row.action}_{row.status}",
        "stack_status_reason": row.status_reason,
        "stack_owner": row.username,
        "stack_user_project_id": row.project_id,
        "project": row.project_id,
        "parent": row.parent_id,
        "tags": list(row.tags) if row.tags else None,
        "links": [{"href": stack_url(endpoint, row), "rel": "self"}],
    }


def resource_view(
    row: StackResource, stack: Stack, endpoint: str, required_by: list[str]
) -> dict[str, Any]:
    surl = stack_url(endpoint, stack)
    links = [
        {"href": f"{surl}/resources/{row.name}", "rel": "self"},
        {"href": surl, "rel": "stack"},
    ]
    if row.type == "OS::Heat::ResourceGroup" and row.physical_id:
        links.append({"href": f"{endpoint}/stacks/{stack.name}-{row.name}/{row.physical_id}",
                      "rel": "nested"})  # fmt: skip
    return {
        "resource_name": row.name,
        "logical_resource_id": row.name,
        "physical_resource_id": row.physical_id or "",
        "resource_type": row.type,
        "resource_action": row.action,
        "resource_status": f"{row.action}_{row.status}",
        "resource_status_reason": row.status_reason,
        "creation_time": ts(row.created_at),
        "updated_time": ts(row.updated_at or row.created_at),
        "required_by": required_by,
        "description": "",
        "links": links,
    }


def event_view(e: StackEvent, stack: Stack, endpoint: str) -> dict[str, Any]:
    surl = stack_url(endpoint, stack)
    rurl = f"{surl}/resources/{e.resource_name}"
    return {
        "id": e.id,
        "event_time": ts(e.created_at),
        "resource_name": e.resource_name,
        "logical_resource_id": e.resource_name,
        "physical_resource_id": e.physical_id,
        "resource_type": e.resource_type,
        "resource_action": e.action,
        "resource_status": f"{e.action}_{e.status}",
        "resource_status_reason": e.reason,
        "links": [
            {"href": f"{rurl}/events/{e.id}", "rel": "self"},
            {"href": rurl, "rel": "resource"},
            {"href": surl, "rel": "stack"},
        ],
    }
