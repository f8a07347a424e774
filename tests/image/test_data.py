"""Image data: upload, download, checksums, the status machine, the store's files."""

from __future__ import annotations

import hashlib
import os
import stat

from tests.image.conftest import G, ImageCloud


def test_upload_download_round_trip(cloud: ImageCloud) -> None:
    alice = cloud.member("alice")
    data = os.urandom(3 * (1 << 20) + 12345)  # several buffers, not a multiple of one
    image = cloud.create(alice, name="disk", disk_format="qcow2", min_disk=1, min_ram=64)
    assert image["status"] == "queued" and image["size"] is None
    r = cloud.upload(alice, image["id"], data)
    assert r.status_code == 204, r.text

    got = cloud.show(alice, image["id"])
    assert got["status"] == "active"
    assert got["size"] == len(data)
    assert got["checksum"] == hashlib.md5(data).hexdigest()
    assert got["os_hash_algo"] == "sha512"
    assert got["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert (got["min_disk"], got["min_ram"], got["disk_format"]) == (1, 64, "qcow2")

    with cloud.c.stream("GET", f"{G}/images/{image['id']}/file", headers=alice) as r:
        assert r.status_code == 200
        assert r.headers["content-md5"] == got["checksum"]
        assert r.headers["content-length"] == str(len(data))
        assert r.headers["content-type"] == "application/octet-stream"
        body = b"".join(r.iter_bytes())
    assert body == data
    assert hashlib.sha512(body).hexdigest() == got["os_hash_value"]

    # One file per image, named by its id, readable by its owner only.
    assert cloud.files() == [image["id"]]
    path = cloud.store / image["id"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(cloud.store.stat().st_mode) == 0o700
    assert path.read_bytes() == data

    # Deleting the image removes its data.
    assert cloud.c.delete(f"{G}/images/{image['id']}", headers=alice).status_code == 204
    assert cloud.files() == []
    cloud.show(alice, image["id"], status=404)


def test_upload_only_to_a_queued_image(cloud: ImageCloud) -> None:
    alice = cloud.member("alice")
    image = cloud.create(alice, name="once")
    assert cloud.upload(alice, image["id"], b"first").status_code == 204
    r = cloud.upload(alice, image["id"], b"second")
    assert r.status_code == 409, r.text
    r = cloud.c.get(f"{G}/images/{image['id']}/file", headers=alice)
    assert r.content == b"first"

    bare = cloud.c.post(f"{G}/images", headers=alice, json={"name": "no-formats"}).json()
    r = cloud.upload(alice, bare["id"], b"x")
    assert r.status_code == 400 and "disk_format" in r.text
    assert cloud.show(alice, bare["id"])["status"] == "queued"


def test_download_of_an_image_without_data(cloud: ImageCloud) -> None:
    alice = cloud.member("alice")
    image = cloud.create(alice, name="empty")
    r = cloud.c.get(f"{G}/images/{image['id']}/file", headers=alice)
    assert r.status_code == 204 and r.content == b""

    # busybox has no bytes: an active image of size 0.
    busybox = next(
        i for i in cloud.c.get(f"{G}/images", headers=alice).json()["images"]
        if i["name"] == "busybox"
    )  # fmt: skip
    r = cloud.c.get(f"{G}/images/{busybox['id']}/file", headers=alice)
    assert r.status_code == 200 and r.content == b""
    assert r.headers["content-md5"] == hashlib.md5(b"").hexdigest()


def test_only_the_owner_uploads(cloud: ImageCloud) -> None:
    alice, bob = cloud.member("alice"), cloud.member("bob")
    image = cloud.create(alice, name="a", visibility="community")
    assert cloud.upload(bob, image["id"], b"mine now").status_code == 403
    assert cloud.show(alice, image["id"])["status"] == "queued"
    assert cloud.files() == []
    private = cloud.create(alice, name="p", visibility="private")
    assert cloud.upload(bob, private["id"], b"x").status_code == 404


def test_a_file_missing_from_the_store_is_unavailable(cloud: ImageCloud) -> None:
    alice = cloud.member("alice")
    image = cloud.create(alice, name="lost")
    assert cloud.upload(alice, image["id"], b"data").status_code == 204
    (cloud.store / image["id"]).unlink()
    r = cloud.c.get(f"{G}/images/{image['id']}/file", headers=alice)
    assert r.status_code == 503


def test_abandoned_partial_files_are_swept(cloud: ImageCloud) -> None:
    cloud.store.mkdir(mode=0o700, parents=True, exist_ok=True)
    old = cloud.store / "0f0e0d0c-0000-4000-8000-000000000000.abcd1234.part"
    new = cloud.store / "0f0e0d0c-0000-4000-8000-000000000001.abcd1234.part"
    old.write_bytes(b"half")
    new.write_bytes(b"half")
    os.utime(old, (1, 1))
    cloud.rt.image.bootstrap()
    assert cloud.files() == [new.name]
