"""End to end: image data and sharing with the real ``openstack`` CLI against ``kumo serve``."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.live import LiveServer

pytestmark = pytest.mark.slow
OPENSTACK = str(Path(sys.executable).parent / "openstack")


def _cli(env: dict[str, str], *args: str, fmt: bool = True) -> object:
    out = subprocess.run(
        [OPENSTACK, *args, *(["-f", "json"] if fmt else [])],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout) if fmt and out.stdout.strip() else None


def _as_user(server: LiveServer, user: str, password: str, project: str) -> dict[str, str]:
    env = server.env()
    env.pop("OS_CLOUD")
    env.pop("OS_CLIENT_CONFIG_FILE")
    env.update(
        OS_AUTH_URL=f"{server.base}/identity/v3",
        OS_USERNAME=user,
        OS_PASSWORD=password,
        OS_PROJECT_NAME=project,
        OS_USER_DOMAIN_ID="default",
        OS_PROJECT_DOMAIN_ID="default",
        OS_IDENTITY_API_VERSION="3",
    )
    return env


def test_cli_image_create_save_and_share(live_server: LiveServer, tmp_path: Path) -> None:
    admin = live_server.env()
    data = os.urandom((5 << 20) + 321)
    src = tmp_path / "disk.qcow2"
    src.write_bytes(data)
    made = _cli(
        admin, "image", "create", "--file", str(src), "--disk-format", "qcow2",
        "--container-format", "bare", "--property", "hw_disk_bus=virtio", "myimg",
    )  # fmt: skip
    assert isinstance(made, dict)
    shown = _cli(admin, "image", "show", "myimg")
    assert isinstance(shown, dict)
    assert shown["status"] == "active" and shown["size"] == len(data)
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert shown["disk_format"] == "qcow2" and shown["container_format"] == "bare"
    assert shown["properties"]["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert shown["properties"]["hw_disk_bus"] == "virtio"

    out = tmp_path / "saved"
    _cli(admin, "image", "save", "--file", str(out), "myimg", fmt=False)
    assert out.read_bytes() == data

    # Share it with another project; its member accepts and downloads it.
    _cli(admin, "project", "create", "--domain", "default", "demo")
    _cli(admin, "user", "create", "--domain", "default", "--password", "pw-dana",
         "--project", "demo", "dana")  # fmt: skip
    _cli(admin, "role", "add", "--project", "demo", "--user", "dana", "member", fmt=False)
    dana = _as_user(live_server, "dana", "pw-dana", "demo")
    listed = _cli(dana, "image", "list")
    assert isinstance(listed, list) and "myimg" not in [i["Name"] for i in listed]

    member = _cli(admin, "image", "add", "project", "myimg", "demo")
    assert isinstance(member, dict) and member["status"] == "pending"
    _cli(dana, "image", "set", "--accept", shown["id"], fmt=False)
    listed = _cli(dana, "image", "list")
    assert isinstance(listed, list) and "myimg" in [i["Name"] for i in listed]
    copy = tmp_path / "copy"
    _cli(dana, "image", "save", "--file", str(copy), "myimg", fmt=False)
    assert copy.read_bytes() == data

    # Deactivated, the image is the admin's to download only.
    _cli(admin, "image", "set", "--deactivate", "myimg", fmt=False)
    failed = subprocess.run(
        [OPENSTACK, "image", "save", "--file", str(tmp_path / "no"), shown["id"]],
        env=dana, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert failed.returncode != 0
    _cli(admin, "image", "set", "--activate", "myimg", fmt=False)

    _cli(admin, "image", "delete", "myimg", fmt=False)
    images_dir = live_server.state_dir / "images"
    assert list(images_dir.iterdir()) == []
