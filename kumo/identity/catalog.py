"""The service catalog: which APIs kumo serves, where, in one region."""

from __future__ import annotations

import uuid
from typing import Any

# (type, name, path under the base URL)
SERVICES = (
    ("identity", "keystone", "/identity"),
    ("network", "neutron", "/networking"),
    ("compute", "nova", "/compute/v2.1"),
    ("image", "glance", "/image"),
    ("orchestration", "heat", "/orchestration/v1/%(project_id)s"),
    ("block-storage", "cinder", "/volume/v3"),
    ("volumev3", "cinderv3", "/volume/v3"),
)
PROJECT = "%(project_id)s"
"""Replaced by the token's project in a token's catalog (as Keystone substitutes it)."""
INTERFACES = ("public", "internal", "admin")


def _stable_id(*parts: str) -> str:
    return uuid.uuid5(uuid.NAMESPACE_URL, "kumo:" + ":".join(parts)).hex


def services() -> list[dict[str, Any]]:
    return [
        {"id": _stable_id(t), "type": t, "name": n, "enabled": True, "description": ""}
        for t, n, _ in SERVICES
    ]


def endpoints(base_url: str, region: str, project_id: str | None = None) -> list[dict[str, Any]]:
    """Every endpoint; with ``project_id`` its URL filled in (and without one, in a
    catalog, an endpoint that needs it is left out, as Keystone does)."""
    base = base_url.rstrip("/")
    return [
        {
            "id": _stable_id(t, iface),
            "service_id": _stable_id(t),
            "interface": iface,
            "region": region,
            "region_id": region,
            "url": base + (path.replace(PROJECT, project_id) if project_id else path),
            "enabled": True,
        }
        for t, _n, path in SERVICES
        for iface in INTERFACES
    ]


def catalog(base_url: str, region: str, project_id: str | None = None) -> list[dict[str, Any]]:
    eps = [e for e in endpoints(base_url, region, project_id) if PROJECT not in e["url"]]
    out = []
    for svc in services():
        if not any(e["service_id"] == svc["id"] for e in eps):
            continue
        out.append(
            {
                "id": svc["id"],
                "type": svc["type"],
                "name": svc["name"],
                "endpoints": [
                    {k: e[k] for k in ("id", "interface", "region", "region_id", "url")}
                    for e in eps
                    if e["service_id"] == svc["id"]
                ],
            }
        )
    return out
