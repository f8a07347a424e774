"""An attach the compute host cannot complete (the export unreachable, QEMU
refusing the disk) ends in ``error_attaching`` with a user message instead
of hanging: the host's attacher retries for a while, then reports the
error; the API moves the attachment and the volume, and a detach frees the
volume again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kumo.agent.volumes import NotRunning, VolumeAttacher
from kumo.vm.qmp import QmpCommandError
from tests.volume.conftest import VolumeCloud
from tests.volume.test_attachments import C, _attachments_of, _host_report, _server


class _Client:
    def __init__(self) -> None:
        self.posted: list[dict[str, Any]] = []

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        assert path == "/internal/v1/volume-attachment-reports"
        self.posted.extend(body["attachments"])
        return {}


class _Vms:
    """A VM whose QEMU refuses the NBD disk, as QEMU does when the export
    cannot be reached (or is not running at all)."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def plugged(self, server_id: str) -> dict[str, tuple[str, int] | None]:
        if isinstance(self.error, NotRunning):
            raise self.error
        return {}

    def plug(self, a: dict[str, Any]) -> None:
        raise self.error


def _attacher(tmp_path: Path, error: Exception) -> tuple[VolumeAttacher, _Client, list[float]]:
    now = [100.0]
    client = _Client()
    attacher = VolumeAttacher("host1", client, tmp_path, attach_timeout=30.0,  # type: ignore[arg-type]
                              clock=lambda: now[0])  # fmt: skip
    attacher.vms = _Vms(error)  # type: ignore[assignment]
    attacher.attachments = {"a1": {"id": "a1", "volume_id": "v1", "server_id": "s1",
                                   "status": "attached", "driver": "qemu", "host": "host1",
                                   "export": {"address": "192.0.2.9", "port": 10809,
                                              "name": "a1"}}}  # fmt: skip
    return attacher, client, now


def test_a_plug_that_keeps_failing_is_reported_as_an_error(tmp_path: Path) -> None:
    refused = QmpCommandError("blockdev-add", "GenericError", "Failed to connect to '192.0.2.9:10809': "
                              "Connection refused")  # fmt: skip
    attacher, client, now = _attacher(tmp_path, refused)
    attacher.reconcile()
    now[0] += 10
    attacher.reconcile()
    assert client.posted == []  # retried: the export may not be there yet
    now[0] += 25
    attacher.reconcile()
    assert client.posted == [{"id": "a1", "status": "error", "error": str(refused)}]
    assert "Connection refused" in client.posted[0]["error"]


def test_a_vm_that_is_not_running_is_no_failure(tmp_path: Path) -> None:
    attacher, client, now = _attacher(tmp_path, NotRunning("VM s1 is not running"))
    attacher.reconcile()
    now[0] += 300
    attacher.reconcile()
    assert client.posted == []


def test_the_api_moves_a_failed_attach_to_error_attaching_with_a_message(
    cloud: VolumeCloud,
) -> None:
    cloud.register("s1")
    h = cloud.member("alice")
    server = _server(cloud, h)
    v = cloud.available(h)
    r = cloud.c.post(f"{C}/servers/{server}/os-volume_attachments", headers=h,
                     json={"volumeAttachment": {"volumeId": v["id"]}})  # fmt: skip
    assert r.status_code == 200, r.text
    (att,) = _attachments_of(cloud, "host1")
    error = "Failed to connect to '192.0.2.9:10809': Connection refused"
    assert _host_report(cloud, [{"id": att["id"], "status": "error", "error": error}]) == [
        att["id"]
    ]
    shown = cloud.show(h, v["id"])
    assert shown["status"] == "error_attaching" and shown["attachments"] == [], shown
    r = cloud.req("GET", f"/attachments/{att['id']}", h, version="3.27")
    assert r.json()["attachment"]["status"] == "error_attaching", r.text
    (told,) = _attachments_of(cloud, "host1")
    assert told["status"] == "error_attaching"  # the host stops trying
    r = cloud.req("GET", f"/messages?resource_uuid={v['id']}", h, version="3.3")
    (message,) = r.json()["messages"]
    assert message["event_id"] == "VOLUME_VOLUME_002_001" and error in message["user_message"]
    assert message["resource_type"] == "VOLUME"
    # a late or repeated report changes nothing
    assert _host_report(cloud, [{"id": att["id"], "status": "error", "error": "x"}]) == []
    # detaching frees it: the host lets go of whatever it had, then reports
    r = cloud.c.delete(f"{C}/servers/{server}/os-volume_attachments/{v['id']}", headers=h)
    assert r.status_code == 202
    assert _host_report(cloud, [{"id": att["id"], "status": "detached"}]) == [att["id"]]
    assert cloud.show(h, v["id"])["status"] == "available"
