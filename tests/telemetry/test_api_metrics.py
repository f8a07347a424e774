"""An API server's ``/metrics``, ``/readyz`` and the request id on outbox events."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, text

from kumo.db.outbox_models import OutboxEvent
from tests.network.conftest import N, open_cloud


def _samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _count(samples: dict, route: str, method: str, status: str) -> float:  # type: ignore[type-arg]
    key = ("kumo_api_request_duration_seconds_count",
           (("method", method), ("route", route), ("status", status)))  # fmt: skip
    return float(samples.get(key, 0.0))


def test_requests_are_counted_by_route_template(db_url: str, tmp_path: Path) -> None:
    with open_cloud(db_url, tmp_path) as cloud:
        before = _samples(cloud.c.get("/metrics").text)
        net = cloud.c.post(N + "/networks", headers=cloud.admin, json={"network": {"name": "a"}})
        nid = net.json()["network"]["id"]
        for _ in range(3):
            assert cloud.c.get(f"{N}/networks/{nid}", headers=cloud.admin).status_code == 200
        cloud.c.get(f"{N}/networks/{'0' * 32}", headers=cloud.admin)
        cloud.c.get("/no/such/thing")
        r = cloud.c.get("/metrics")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        after = _samples(r.text)
        route = f"{N}/networks/{{ident}}"
        assert _count(after, route, "GET", "200") - _count(before, route, "GET", "200") == 3
        assert _count(after, route, "GET", "404") - _count(before, route, "GET", "404") == 1
        assert _count(after, f"{N}/networks", "POST", "201") >= 1
        assert _count(after, "(unmatched)", "GET", "404") >= 1
        # never a raw path (an id) in a label
        assert nid not in r.text
        names = {name for name, _ in after}
        assert {"kumo_db_connections_in_use", "kumo_db_connections_open",
                "kumo_watch_subscribers", "kumo_console_sessions"} <= names  # fmt: skip


def test_readyz_checks_the_database_and_its_schema(db_url: str, tmp_path: Path) -> None:
    with open_cloud(db_url, tmp_path) as cloud:
        r = cloud.c.get("/readyz")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["status"] == "ready"
        assert body["checks"]["migrations"]["current"] == body["checks"]["migrations"]["head"]
        with cloud.rt.db.engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = 'older'"))
        r = cloud.c.get("/readyz")
        assert r.status_code == 503
        assert r.json()["checks"]["migrations"] == {
            "ok": False, "head": body["checks"]["migrations"]["head"], "current": "older"}  # fmt: skip
        assert cloud.c.get("/healthz").status_code == 200  # alive, not ready


def test_outbox_events_carry_the_request_id(db_url: str, tmp_path: Path) -> None:
    given = "req-0f1e2d3c-4b5a-4697-8877-665544332211"
    with open_cloud(db_url, tmp_path) as cloud:
        r = cloud.c.post(N + "/networks", headers=cloud.admin, json={"network": {"name": "x"}})
        made = r.headers["x-openstack-request-id"]
        nid = r.json()["network"]["id"]
        r = cloud.c.post(
            N + "/ports",
            headers={**cloud.admin, "X-OpenStack-Request-ID": given},
            json={"port": {"network_id": nid}},
        )
        assert r.headers["x-openstack-request-id"] == given
        pid = r.json()["port"]["id"]
        with cloud.rt.db.read_session() as s:
            ids = {e.object_id: e.request_id for e in s.scalars(select(OutboxEvent))}
        assert ids[nid] == made and ids[pid] == given


def test_metrics_can_be_turned_off(db_url: str, tmp_path: Path) -> None:
    with open_cloud(db_url, tmp_path, metrics=False) as cloud:
        assert cloud.c.get("/metrics").status_code == 404
