"""Write clouds.yaml so openstack CLI and openstacksdk find kumo."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml


def write_clouds_yaml(
    path: Path,
    auth_url: str,
    username: str,
    password: str,
    *,
    project_name: str = "admin",
    cloud: str = "kumo",
    region: str = "RegionOne",
) -> None:
    """Add or replace ``cloud`` in the clouds.yaml at ``path`` (mode 0600)."""
    data: dict[str, Any] = {"clouds": {}}
    if path.exists():
        data = yaml.safe_load(path.read_text()) or {"clouds": {}}
        data.setdefault("clouds", {})
    data["clouds"][cloud] = {
        "auth": {
            "auth_url": auth_url,
            "username": username,
            "password": password,
            "project_name": project_name,
            "user_domain_name": "Default",
            "project_domain_name": "Default",
        },
        "region_name": region,
        "identity_api_version": 3,
        "interface": "public",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(data, f, sort_keys=False)
    os.replace(tmp, path)
