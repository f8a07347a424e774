"""Access logs and request ids: one log line per request, the id the response carries."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from tests.network.conftest import N, open_cloud

REQ = re.compile(r"^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "kumo.api.access"]


def test_every_response_has_a_request_id_and_a_log_line(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with open_cloud(db_url, tmp_path) as cloud:
        caplog.set_level(logging.INFO, logger="kumo.api.access")
        caplog.clear()
        ok = cloud.c.get(N + "/networks?name=x", headers=cloud.admin)
        missing = cloud.c.get(N + "/networks/" + "0" * 32, headers=cloud.admin)
        unauthorized = cloud.c.get(N + "/networks")
        servers = cloud.c.get("/compute/v2.1/servers", headers=cloud.admin)
        ids = []
        for r in (ok, missing, unauthorized, servers):
            rid = r.headers.get("x-openstack-request-id", "")
            assert REQ.match(rid), (r.status_code, r.headers)
            ids.append(rid)
        assert len(set(ids)) == 4
        lines = _lines(caplog)
        assert len(lines) == 4, lines
        for line, r, rid in zip(lines, (ok, missing, unauthorized, servers), ids, strict=True):
            method, path, status, ms, unit, logged = line.split(" ")
            assert method == "GET" and path == r.request.url.path  # no query string
            assert int(status) == r.status_code and float(ms) >= 0 and unit == "ms"
            assert logged == rid
        assert [line.split(" ")[2] for line in lines] == ["200", "404", "401", "200"]


def test_a_well_formed_caller_id_is_kept_others_are_replaced(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    given = "req-0f1e2d3c-4b5a-4697-8877-665544332211"
    with open_cloud(db_url, tmp_path) as cloud:
        caplog.set_level(logging.INFO, logger="kumo.api.access")
        caplog.clear()
        kept = cloud.c.get(
            N + "/networks", headers={**cloud.admin, "X-OpenStack-Request-ID": given}
        )
        assert kept.headers["x-openstack-request-id"] == given
        forged = cloud.c.get(
            N + "/networks", headers={**cloud.admin, "X-OpenStack-Request-ID": "evil\nline"}
        )
        assert REQ.match(forged.headers["x-openstack-request-id"])
        assert forged.headers["x-openstack-request-id"] != given
        assert _lines(caplog)[0].endswith(given)
