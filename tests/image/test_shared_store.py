"""Two API servers on one database and one shared image directory (``KUMO_IMAGE_DIR``)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from starlette.testclient import TestClient

from kumo.api.app import create_app
from kumo.config import Settings
from kumo.runtime import Runtime
from tests.image.conftest import G, ImageCloud


def test_an_image_uploaded_through_one_server_downloads_through_another(
    cloud: ImageCloud, db_url: str, tmp_path: Path
) -> None:
    shared = tmp_path / "shared-images"
    # The fixture's server keeps its default store; two more servers share one.
    one = Runtime.open(Settings(state_dir=tmp_path / "one", database_url=db_url, image_dir=shared))
    two = Runtime.open(Settings(state_dir=tmp_path / "two", database_url=db_url, image_dir=shared))
    try:
        alice = cloud.member("alice")
        data = os.urandom(100_000)
        image = cloud.create(alice, name="everywhere")
        with TestClient(create_app(one)) as c1, TestClient(create_app(two)) as c2:
            r = c1.put(f"{G}/images/{image['id']}/file", headers=alice, content=data)
            assert r.status_code == 204, r.text
            r = c2.get(f"{G}/images/{image['id']}/file", headers=alice)
            assert r.status_code == 200 and r.content == data
            assert r.headers["content-md5"] == hashlib.md5(data).hexdigest()
            assert sorted(p.name for p in shared.iterdir()) == [image["id"]]
            assert not (tmp_path / "one" / "images").exists()
            assert c2.delete(f"{G}/images/{image['id']}", headers=alice).status_code == 204
            assert list(shared.iterdir()) == []
    finally:
        one.close()
        two.close()
