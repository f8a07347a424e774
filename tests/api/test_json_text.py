"""Request bodies are strict JSON: NaN, Infinity, NUL and unpaired surrogates are a 400."""

from __future__ import annotations

from pathlib import Path

import pytest

from kumo.api.json_text import loads
from kumo.errors import BadRequest
from tests.network.conftest import N, open_cloud

JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    "raw",
    [
        b'{"mtu": NaN}',
        b'{"mtu": Infinity}',
        b"[-Infinity]",
        b'{"name": "\\ud800"}',
        b'{"name": "x\\udc00y"}',
        b'{"\\ud800": 1}',
        b'["a\\u0000b"]',
        b"[" * 100_000 + b"]" * 100_000,
        b"{",
    ],
)
def test_loads_refuses_what_no_store_keeps(raw: bytes) -> None:
    with pytest.raises(BadRequest):
        loads(raw)


def test_loads_keeps_real_text() -> None:
    assert loads(b'{"name": "caf\\u00e9 \\ud83d\\ude00", "n": "NaN"}') == {
        "name": "café 😀",
        "n": "NaN",
    }
    assert loads('{"name": "ok ✓"}'.encode()) == {"name": "ok ✓"}


def test_every_api_answers_400_in_its_dialect(db_url: str, tmp_path: Path) -> None:
    # Each of these was a 500 (OverflowError, UnicodeEncodeError at the database).
    with open_cloud(db_url, tmp_path) as cloud:
        h = {**cloud.admin, **JSON}
        r = cloud.c.post(N + "/networks", headers=h, content=b'{"network": {"mtu": Infinity}}')
        assert r.status_code == 400, r.text
        assert r.json()["NeutronError"]["type"] == "BadRequest"
        r = cloud.c.post(N + "/networks", headers=h, content=b'{"network": {"name": "\\ud800"}}')
        assert r.status_code == 400, r.text
        r = cloud.c.post(
            "/identity/v3/projects", headers=h, content=b'{"project": {"name": "\\udfff"}}'
        )
        assert r.status_code == 400 and r.json()["error"]["code"] == 400, r.text
        r = cloud.c.post(
            "/compute/v2.1/servers",
            headers={**h, "OpenStack-API-Version": "compute 2.79"},
            content=b'{"server": {"name": "s", "min_count": NaN}}',
        )
        assert r.status_code == 400 and "badRequest" in r.json(), r.text
        assert r.headers["openstack-api-version"] == "compute 2.79"
        r = cloud.c.post(
            "/image/v2/images",
            headers={**cloud.admin, "Content-Type": "text/plain"},
            content=b'{"name": "\\ud800"}',
        )
        assert r.status_code == 400, r.text
        r = cloud.c.post("/image/v2/images", headers=h, content=b"[" * 50_000 + b"]" * 50_000)
        assert r.status_code == 400, r.text
        # Escapes of real characters (a surrogate pair among them) still work.
        r = cloud.c.post(
            N + "/networks", headers=h, content=b'{"network": {"name": "caf\\u00e9\\ud83d\\ude00"}}'
        )
        assert r.status_code == 201, r.text
        assert r.json()["network"]["name"] == "café😀"


def test_image_data_is_never_read_as_json() -> None:
    """Uploaded bytes may hold anything JSON refuses (``\\u``, ``NaN``)."""
    from kumo.api.json_text import _is_json

    upload = {"type": "http", "path": "/image/v2/images/x/file", "headers": []}
    assert not _is_json(upload)
    assert _is_json({"type": "http", "path": "/networking/v2.0/networks", "headers": []})
