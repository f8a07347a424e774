"""The read-only flag (attachments become ``ro``) and encryption types
(stored and shown; encrypted volumes cannot be attached: kumo cannot encrypt)."""

from __future__ import annotations

from typing import Any

from tests.volume.conftest import VolumeCloud


def _attach(cloud: VolumeCloud, h: dict[str, str], volume_id: str) -> Any:
    body = {"attachment": {"volume_uuid": volume_id, "instance_uuid": "i-1"}}
    return cloud.req("POST", "/attachments", h, body, version="3.44")


def test_readonly_flag_is_shown_and_makes_attachments_read_only(cloud: VolumeCloud) -> None:
    cloud.register("s1", export_address="192.0.2.5")
    h = cloud.member("alice")
    v = cloud.available(h, metadata={"k": "v"})
    assert cloud.show(h, v["id"])["metadata"] == {"k": "v"}  # never set: not shown
    for flag in (True, False, True):
        r = cloud.action(h, v["id"], {"os-update_readonly_flag": {"readonly": flag}})
        assert r.status_code == 202, r.text
        assert cloud.show(h, v["id"])["metadata"] == {"k": "v", "readonly": str(flag)}
    bad = cloud.action(h, v["id"], {"os-update_readonly_flag": {"readonly": "maybe"}})
    assert bad.status_code == 400
    r = _attach(cloud, h, v["id"])
    assert r.status_code == 200, r.text
    a = cloud.req("GET", f"/attachments/{r.json()['attachment']['id']}", h, version="3.44")
    assert a.json()["attachment"]["attach_mode"] == "ro"
    # not while reserved for a server
    r = cloud.action(h, v["id"], {"os-update_readonly_flag": {"readonly": False}})
    assert r.status_code == 400


def test_encryption_types_and_encrypted_volumes(cloud: VolumeCloud) -> None:
    cloud.register("s1", export_address="192.0.2.5")
    a, h = cloud.admin, cloud.member("alice")
    t = cloud.req("POST", "/types", a, {"volume_type": {"name": "secret"}}).json()["volume_type"]
    url = f"/types/{t['id']}/encryption"
    assert cloud.req("GET", url, a).json() == {}
    spec = {"provider": "luks", "cipher": "aes-xts-plain64", "key_size": 256,
            "control_location": "front-end"}  # fmt: skip
    r = cloud.req("POST", url, a, {"encryption": spec})
    assert r.status_code == 200, r.text
    made = r.json()["encryption"]
    assert {k: made[k] for k in spec} == spec and made["volume_type_id"] == t["id"]
    assert cloud.req("POST", url, a, {"encryption": spec}).status_code == 400  # exists
    bad = {"encryption": {"provider": "luks", "control_location": "middle"}}
    assert cloud.req("POST", "/types/__DEFAULT__/encryption", a, bad).status_code == 400
    r = cloud.req("PUT", f"{url}/{made['encryption_id']}", a, {"encryption": {"key_size": 512}})
    assert r.status_code == 200 and r.json() == {"encryption": {"key_size": 512}}
    assert cloud.req("GET", f"{url}/key_size", a).json() == {"key_size": 512}
    assert cloud.req("GET", url, h).status_code == 403
    # a volume of the type says it is encrypted; attaching it is refused, saying why
    v = cloud.available(h, volume_type="secret")
    assert v["encrypted"] is True
    r = _attach(cloud, h, v["id"])
    assert r.status_code == 400 and "cannot encrypt" in r.text
    # while a volume has the type its encryption stays
    assert cloud.req("DELETE", f"{url}/{made['encryption_id']}", a).status_code == 400
    assert cloud.req("DELETE", f"/volumes/{v['id']}", h).status_code == 202
    cloud.report(volumes=[(v["id"], "deleted")])
    assert cloud.req("DELETE", f"{url}/{made['encryption_id']}", a).status_code == 202
    assert cloud.req("GET", url, a).json() == {}
