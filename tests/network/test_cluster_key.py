"""The cluster key over HTTP (``GET /internal/v1/cluster-key``): made once,
kept in the database, read only by agents (role service) and admins."""

from __future__ import annotations

import base64
import threading
from pathlib import Path

from kumo.db.engine import Database
from kumo.ha.seal import ClusterKey
from kumo.network import cluster_key
from tests.network.conftest import Cloud, open_cloud
from tests.network.test_routers import error

URL = "/internal/v1/cluster-key"


def read(cloud: Cloud, h: dict[str, str]) -> dict[str, str]:
    r = cloud.c.get(URL, headers=h)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body: dict[str, str] = r.json()["cluster_key"]
    return body


def test_agents_and_admins_read_one_key_kept_in_the_database(db_url: str, tmp_path: Path) -> None:
    with open_cloud(db_url, tmp_path) as cloud:
        password = cloud.rt.identity.create_service_user("agent-1")
        agent = cloud._token("agent-1", password, "service")
        body = read(cloud, agent)
        assert body["algorithm"] == "HMAC-SHA256"
        key = ClusterKey(base64.b64decode(body["key"]))
        assert len(key.secret) == 32
        assert body["id"] == key.id.hex()
        assert read(cloud, cloud.admin) == body
        url = cloud.rt.settings.resolved_database_url
    # Another API server on the same database (or this one restarted) hands
    # out the same key.
    db = Database(url)
    try:
        assert cluster_key.underlay_key(db).secret == key.secret
    finally:
        db.dispose()


def test_without_the_role_the_key_is_refused(cloud: Cloud) -> None:
    assert error(cloud.c.get(URL), 401) == "Unauthorized"
    assert error(cloud.c.get(URL, headers={"X-Auth-Token": "nonsense"}), 401) == "Unauthorized"
    alice = cloud.member("alice")
    assert error(cloud.c.get(URL, headers=alice), 403) == "PolicyNotAuthorized"
    assert cloud.c.get(URL, headers=cloud.admin).status_code == 200
    assert error(cloud.c.get(URL, headers=alice), 403) == "PolicyNotAuthorized"


def test_servers_making_the_key_at_once_agree(cloud: Cloud) -> None:
    dbs = [Database(cloud.rt.settings.resolved_database_url) for _ in range(4)]
    keys: list[bytes] = []
    start = threading.Barrier(len(dbs))

    def make(db: Database) -> None:
        start.wait()
        keys.append(cluster_key.underlay_key(db).secret)

    threads = [threading.Thread(target=make, args=(db,)) for db in dbs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    for db in dbs:
        db.dispose()
    assert len(keys) == len(dbs) and len(set(keys)) == 1
