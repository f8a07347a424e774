"""Signing keys in the database, shared by every API server on it.

Two API servers (two apps with their own state directories, and two real
``kumo serve`` processes) on one database: tokens cross, revocations
cross within a second, the second start leaves the admin password and the
keys alone, rotation keeps old tokens and signs new ones with the new
primary, identity and console tokens never pass for each other, and the
state directory's modes are narrowed at every start.
"""

from __future__ import annotations

import logging
import os
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import select
from starlette.testclient import TestClient, WebSocketDenialResponse

from kumo.api.app import create_app
from kumo.cli.serve import prepare
from kumo.compute import console
from kumo.config import Settings
from kumo.db.engine import Database
from kumo.db.identity_models import SigningKey, User
from kumo.identity import keys as keylib
from kumo.identity.authbody import password_auth
from kumo.image.images import BUSYBOX_ID
from kumo.runtime import Runtime

AUTH = "/identity/v3/auth/tokens"


def primary_key(db: Database, purpose: str) -> str:
    with db.read_session() as s:
        row = s.scalars(
            select(SigningKey)
            .where(SigningKey.purpose == purpose)
            .order_by(SigningKey.serial.desc())
        ).first()
    assert row is not None
    return row.key


def clouds_password(path: Path) -> str:
    password: str = yaml.safe_load(path.read_text())["clouds"]["kumo"]["auth"]["password"]
    return password


def admin_hash(db: Database) -> str | None:
    with db.read_session() as s:
        user = s.scalar(select(User).where(User.name == "admin"))
        assert user is not None
        return user.password_hash


# -- the key repository ------------------------------------------------------------------


def test_rotation_promotes_the_staged_key_and_prunes_the_oldest(db_url: str) -> None:
    db = Database(db_url)
    try:
        assert keylib.ensure(db, "token") is True
        assert keylib.ensure(db, "token") is False  # never made twice
        first = {k.state: k.fingerprint for k in keylib.describe(db, ["token"])}
        assert set(first) == {"staged", "primary"}

        keylib.rotate(db, "token", max_active=3)
        after = keylib.describe(db, ["token"])
        assert [(k.serial, k.state) for k in after] == [
            (2, "primary"), (1, "secondary"), (0, "staged"),
        ]  # fmt: skip
        # the staged key (already accepted everywhere) is the one promoted
        assert after[0].fingerprint == first["staged"]
        assert after[1].fingerprint == first["primary"]

        keylib.rotate(db, "token", max_active=3)
        again = keylib.describe(db, ["token"])
        assert [(k.serial, k.state) for k in again] == [
            (3, "primary"), (2, "secondary"), (0, "staged"),
        ]  # fmt: skip
        assert first["primary"] not in {k.fingerprint for k in again}  # pruned

        keylib.rotate(db, "token", max_active=4)
        assert [k.serial for k in keylib.describe(db, ["token"])] == [4, 3, 2, 0]
        # the console keys are a repository of their own
        assert keylib.ensure(db, "console") is True
        assert {k.purpose for k in keylib.describe(db)} == {"token", "console"}
    finally:
        db.dispose()


def test_servers_starting_at_once_make_one_set_of_keys(db_url: str) -> None:
    dbs = [Database(db_url) for _ in range(4)]
    made: list[bool] = []
    barrier = threading.Barrier(len(dbs))

    def start(db: Database) -> None:
        barrier.wait()
        made.append(keylib.ensure(db, "token"))

    threads = [threading.Thread(target=start, args=(db,)) for db in dbs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert sorted(made) == [False, False, False, True]
        assert len(keylib.describe(dbs[0], ["token"])) == 2
    finally:
        for db in dbs:
            db.dispose()


def test_a_ring_reloads_on_an_unknown_key_at_most_every_min_reload(db_url: str) -> None:
    db = Database(db_url)
    try:
        stale = keylib.KeyRing(db, "token", max_age=60, min_reload=60)
        eager = keylib.KeyRing(db, "token", max_age=60, min_reload=0)
        stale.encrypt(b"load")
        eager.encrypt(b"load")
        # two rotations: the primary is now a key neither ring has seen
        keylib.rotate(db, "token", 3)
        keylib.rotate(db, "token", 3)
        token = keylib.KeyRing(db, "token").encrypt(b"hello")
        with pytest.raises(InvalidToken):
            stale.decrypt(token)  # loaded less than min_reload ago: no reload
        assert eager.decrypt(token) == b"hello"  # reloaded, found the new primary
    finally:
        db.dispose()


# -- two API servers on one database -----------------------------------------------------


@dataclass
class Server:
    runtime: Runtime
    client: TestClient
    settings: Settings

    def token(self, password: str, project: str | None = "admin") -> str:
        r = self.client.post(AUTH, json=password_auth("admin", password, project_name=project))
        assert r.status_code == 201, r.text
        return r.headers["X-Subject-Token"]

    def ok(self, token: str) -> bool:
        r = self.client.get("/networking/v2.0/networks", headers={"X-Auth-Token": token})
        assert r.status_code in (200, 401), r.text
        return r.status_code == 200


@dataclass
class Pair:
    a: Server
    b: Server
    password: str


@pytest.fixture
def pair(db_url: str, tmp_path: Path) -> Iterator[Pair]:
    servers = []
    clouds = []
    for name in ("a", "b"):
        settings = Settings(state_dir=tmp_path / name, database_url=db_url, key_refresh_seconds=0.2)
        clouds.append(prepare(settings))
        runtime = Runtime.open(settings, migrate=False)
        servers.append(Server(runtime, TestClient(create_app(runtime)), settings))
    assert clouds[0] is not None and clouds[1] is None  # only the first knows the password
    try:
        yield Pair(*servers, password=clouds_password(clouds[0]))
    finally:
        for s in servers:
            s.client.close()
            s.runtime.close()


def test_a_token_from_one_server_works_on_the_other(pair: Pair) -> None:
    for issuer, other in ((pair.a, pair.b), (pair.b, pair.a)):
        token = issuer.token(pair.password)
        assert other.ok(token)
        r = other.client.get(AUTH, headers={"X-Auth-Token": token, "X-Subject-Token": token})
        assert r.status_code == 200, r.text
        assert r.json()["token"]["project"]["name"] == "admin"


def test_a_revocation_on_one_server_holds_on_the_other_within_a_second(pair: Pair) -> None:
    token = pair.a.token(pair.password)
    for _ in range(5):  # b knows the token well: every cache of it is warm
        assert pair.b.ok(token)
    r = pair.a.client.delete(AUTH, headers={"X-Auth-Token": token, "X-Subject-Token": token})
    assert r.status_code == 204, r.text
    revoked = time.monotonic()
    # Every request b starts a second or more after the revocation refuses
    # the token (the time a request itself takes under load is not b's lag).
    while True:
        started = time.monotonic()
        if not pair.b.ok(token):
            break
        assert started - revoked < 1.0, "b still takes a token revoked on a"
        time.sleep(0.02)


def test_a_second_server_leaves_the_admin_password_and_keys_alone(
    db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = Settings(state_dir=tmp_path / "first", database_url=db_url)
    assert prepare(first) == first.state_dir / "clouds.yaml"
    password = clouds_password(first.state_dir / "clouds.yaml")
    db = Database(db_url)
    try:
        hash_before = admin_hash(db)
        keys_before = keylib.describe(db)
        second = Settings(state_dir=tmp_path / "second", database_url=db_url)
        with caplog.at_level(logging.WARNING, logger="kumo.cli.serve"):
            assert prepare(second) is None
        assert not (second.state_dir / "clouds.yaml").exists()
        assert "did not create it" in caplog.text and "no clouds.yaml written" in caplog.text
        # a restart of the first keeps its clouds.yaml, still right
        assert prepare(first) == first.state_dir / "clouds.yaml"
        assert admin_hash(db) == hash_before
        assert keylib.describe(db) == keys_before
    finally:
        db.dispose()
    runtime = Runtime.open(second, migrate=False)
    try:
        with TestClient(create_app(runtime)) as client:
            r = client.post(AUTH, json=password_auth("admin", password, project_name="admin"))
            assert r.status_code == 201, r.text
    finally:
        runtime.close()


def test_rotation_keeps_old_tokens_and_signs_new_ones_with_the_new_primary(
    pair: Pair,
) -> None:
    db = pair.a.runtime.db
    old_primary = primary_key(db, "token")
    old = pair.a.token(pair.password)
    Fernet(old_primary.encode()).decrypt(old.encode())

    keylib.rotate(db, "token", max_active=3)
    new_primary = primary_key(db, "token")
    assert new_primary != old_primary
    time.sleep(0.3)  # past key_refresh_seconds: both servers read the keys again
    for server in (pair.a, pair.b):
        new = server.token(pair.password)
        Fernet(new_primary.encode()).decrypt(new.encode())  # signed with the new primary
        with pytest.raises(InvalidToken):
            Fernet(old_primary.encode()).decrypt(new.encode())
        assert pair.a.ok(new) and pair.b.ok(new)
        assert server.ok(old)  # the old primary is a secondary: still accepted

    keylib.rotate(db, "token", max_active=3)  # the old primary is pruned
    time.sleep(0.3)
    assert not pair.a.ok(old) and not pair.b.ok(old)


def _boot_server(server: Server, admin: dict[str, str]) -> str:
    c = server.client
    r = c.post("/internal/v1/agents", headers=admin,
               json={"agent": {"host": "keys-h1", "availability_zone": "nova",
                               "configurations": {}}})  # fmt: skip
    assert r.status_code == 201, r.text
    r = c.post("/networking/v2.0/networks", headers=admin, json={"network": {"name": "kn"}})
    assert r.status_code == 201, r.text
    net = r.json()["network"]["id"]
    r = c.post("/networking/v2.0/subnets", headers=admin,
               json={"subnet": {"network_id": net, "cidr": "10.77.0.0/24", "ip_version": 4}})  # fmt: skip
    assert r.status_code == 201, r.text
    r = c.post("/compute/v2.1/servers", headers=admin,
               json={"server": {"name": "kvm", "imageRef": BUSYBOX_ID, "flavorRef": "1",
                                "networks": [{"uuid": net}]}})  # fmt: skip
    assert r.status_code == 202, r.text
    server_id: str = r.json()["server"]["id"]
    return server_id


def test_identity_and_console_tokens_never_pass_for_each_other(pair: Pair) -> None:
    pair.a.runtime.compute.bootstrap()
    pair.a.runtime.image.bootstrap()
    identity = pair.a.token(pair.password)
    admin = {"X-Auth-Token": identity}
    sid = _boot_server(pair.a, admin)
    r = pair.a.client.post(
        f"/compute/v2.1/servers/{sid}/remote-consoles",
        headers={**admin, "OpenStack-API-Version": "compute 2.6"},
        json={"remote_console": {"protocol": "serial", "type": "serial"}},
    )
    assert r.status_code == 200, r.text
    url = r.json()["remote_console"]["url"]
    console_token = url.split("token=", 1)[1]
    # the console URL is good on the other server too (shared console keys)
    netns = console.target(pair.b.runtime.compute.console_keys, console_token).netns
    assert netns is not None and netns.startswith("k")

    # a console token as X-Auth-Token: 401 in each API's own dialect
    for server in (pair.a, pair.b):
        bad = {"X-Auth-Token": console_token}
        r = server.client.get("/compute/v2.1/servers", headers=bad)
        assert r.status_code == 401, r.text
        assert r.json()["unauthorized"]["code"] == 401
        r = server.client.get("/identity/v3/projects", headers=bad)
        assert r.status_code == 401, r.text
        assert r.json()["error"]["title"] == "Unauthorized"
        assert r.headers["WWW-Authenticate"].startswith("Keystone uri=")
        r = server.client.get("/networking/v2.0/networks", headers=bad)
        assert r.status_code == 401, r.text
        assert r.json()["NeutronError"]["type"] == "Unauthorized"
        r = server.client.post(AUTH, json={"auth": {"identity": {
            "methods": ["token"], "token": {"id": console_token}}}})  # fmt: skip
        assert r.status_code == 401, r.text
        assert r.json()["error"]["code"] == 401

    # an identity token (or garbage) on the console websocket: 401 with a Nova fault
    for server in (pair.a, pair.b):
        for wrong in (identity, "forged", ""):
            with (
                pytest.raises(WebSocketDenialResponse) as denied,
                server.client.websocket_connect(f"/compute/console?token={wrong}"),
            ):
                pass
            assert denied.value.status_code == 401
            assert denied.value.json()["unauthorized"]["code"] == 401


# -- files -------------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_state_directory_modes_are_narrowed_at_every_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(state_dir=tmp_path / "state", database_url=None)
    old = os.umask(0o022)
    try:
        prepare(settings)
    finally:
        os.umask(old)
    state = settings.state_dir
    db = state / "kumo.db"
    clouds = state / "clouds.yaml"
    assert _mode(state) == 0o700 and _mode(db) == 0o600 and _mode(clouds) == 0o600

    os.chmod(state, 0o755)
    for path in (db, clouds):
        os.chmod(path, 0o644)
    (state / "fernet.key").write_bytes(Fernet.generate_key())
    os.chmod(state / "fernet.key", 0o640)
    with caplog.at_level(logging.WARNING, logger="kumo.statedir"):
        prepare(settings)
    assert _mode(state) == 0o700
    for path in (db, clouds, state / "fernet.key"):
        assert _mode(path) == 0o600, path
    for path in (state, db, clouds):
        assert f"{path} had mode" in caplog.text


def test_keys_list_shows_no_key(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    from kumo.cli.main import main

    db = Database(db_url)
    try:
        for purpose in keylib.PURPOSES:
            keylib.ensure(db, purpose)
        assert main(["keys", "rotate", "--purpose", "console", "--database-url", db_url]) == 0
        assert main(["keys", "list", "--database-url", db_url]) == 0
        out = capsys.readouterr().out
        with db.read_session() as s:
            secrets = [k for k in s.scalars(select(SigningKey.key))]
        assert len(secrets) == 5  # token: staged + primary; console: one more after rotation
        assert not any(k in out or k[:16] in out for k in secrets)
        assert "primary" in out and "secondary" in out and "staged" in out
    finally:
        db.dispose()
