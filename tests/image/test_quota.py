"""The per-project image storage quota (``image_quota_bytes``): 413 when exceeded."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.image.conftest import G, ImageCloud


@pytest.fixture
def image_settings() -> dict[str, Any]:
    return {"image_quota_bytes": 3000}


def _chunked(data: bytes) -> Iterator[bytes]:
    """A body without Content-Length: the quota is only found out while it streams."""
    for i in range(0, len(data), 500):
        yield data[i : i + 500]


def test_quota_exceeded(cloud: ImageCloud) -> None:
    alice, bob = cloud.member("alice"), cloud.member("bob")
    first = cloud.create(alice, name="first")
    assert cloud.upload(alice, first["id"], b"a" * 2000).status_code == 204

    # Declared up front (Content-Length): refused before a byte is stored.
    second = cloud.create(alice, name="second")
    r = cloud.upload(alice, second["id"], b"b" * 1500)
    assert r.status_code == 413, r.text
    # Found while streaming: refused as soon as it passes the quota.
    r = cloud.upload(alice, second["id"], _chunked(b"b" * 1500))
    assert r.status_code == 413, r.text
    # Either way the image may be tried again and no partial file is left.
    assert cloud.show(alice, second["id"])["status"] == "queued"
    assert cloud.files() == [first["id"]]

    # What fits, fits; another project has its own quota.
    assert cloud.upload(alice, second["id"], _chunked(b"b" * 1000)).status_code == 204
    other = cloud.create(bob, name="other")
    assert cloud.upload(bob, other["id"], b"c" * 3000).status_code == 204

    # Deleting frees the space.
    third = cloud.create(alice, name="third")
    assert cloud.upload(alice, third["id"], b"d" * 1000).status_code == 413
    assert cloud.c.delete(f"{G}/images/{first['id']}", headers=alice).status_code == 204
    assert cloud.upload(alice, third["id"], b"d" * 1000).status_code == 204


def test_quota_is_checked_again_when_an_upload_completes(cloud: ImageCloud) -> None:
    """Two uploads that each fit when they start cannot together pass the quota."""
    alice = cloud.member("alice")
    ctx = cloud.rt.identity.validate_token(alice["X-Auth-Token"])
    one, two = cloud.create(alice, name="one"), cloud.create(alice, name="two")
    up1 = cloud.rt.image.start_upload(ctx, one["id"], None)
    up2 = cloud.rt.image.start_upload(ctx, two["id"], None)
    up1.write(b"1" * 2000)
    up2.write(b"2" * 2000)
    up1.complete()
    with pytest.raises(Exception) as info:
        up2.complete()
    assert getattr(info.value, "status", None) == 413
    assert cloud.show(alice, two["id"])["status"] == "queued"
    assert cloud.files() == [one["id"]]
