"""Two real ``kumo serve`` processes on one database, each with its own state
directory: they share the signing keys, revocations and the admin user, and
``kumo keys rotate`` reaches both without a restart."""

from __future__ import annotations

import os
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from kumo.db.engine import Database
from kumo.db.identity_models import SigningKey
from kumo.identity.authbody import password_auth
from tests.live import KUMO, LiveServer, _free_port

AUTH = "/identity/v3/auth/tokens"


@dataclass
class Second:
    base: str
    state_dir: Path
    log: Path


@pytest.fixture(scope="module")
def second(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Second]:
    state = tmp_path_factory.mktemp("second")
    port = _free_port()
    log = state.parent / f"{state.name}.log"
    out = open(log, "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [KUMO, "serve", "--state-dir", str(state), "--port", str(port),
         "--database-url", live_server.database_url],
        stdout=out, stderr=subprocess.STDOUT,
        env={**os.environ, "KUMO_KEY_REFRESH": "0.5"},
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the second kumo serve did not come up"
            time.sleep(0.1)
        yield Second(base, state, log)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        out.close()


def token_at(base: str, password: str) -> str:
    r = httpx.post(base + AUTH, json=password_auth("admin", password, project_name="admin"))
    assert r.status_code == 201, r.text
    return r.headers["X-Subject-Token"]


def accepted(base: str, token: str) -> bool:
    r = httpx.get(f"{base}/networking/v2.0/networks", headers={"X-Auth-Token": token})
    assert r.status_code in (200, 401), r.text
    return r.status_code == 200


def within(seconds: float, check: Callable[[], bool]) -> float:
    """How long ``check`` took to hold; fails after ``seconds``."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < seconds, f"not within {seconds} s"
        time.sleep(0.02)
    return time.monotonic() - start


def kumo(*args: str) -> str:
    done = subprocess.run([KUMO, *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_second_server_keeps_the_admin_password_and_writes_no_clouds_yaml(
    live_server: LiveServer, second: Second
) -> None:
    said = second.log.read_text()
    assert "did not create it" in said and "no clouds.yaml written" in said
    assert not (second.state_dir / "clouds.yaml").exists()
    assert stat.S_IMODE(second.state_dir.stat().st_mode) == 0o700
    # the first server's password still opens both
    for base in (live_server.base, second.base):
        token_at(base, live_server.admin_password)


def test_tokens_cross_both_ways(live_server: LiveServer, second: Second) -> None:
    from_first = token_at(live_server.base, live_server.admin_password)
    from_second = token_at(second.base, live_server.admin_password)
    assert accepted(second.base, from_first)
    assert accepted(live_server.base, from_second)


def test_a_revocation_on_one_holds_on_the_other_within_a_second(
    live_server: LiveServer, second: Second
) -> None:
    token = token_at(live_server.base, live_server.admin_password)
    with httpx.Client(base_url=second.base, headers={"X-Auth-Token": token}) as other:
        for _ in range(5):  # warm every cache the second server has
            assert other.get("/networking/v2.0/networks").status_code == 200
        r = httpx.delete(
            live_server.base + AUTH, headers={"X-Auth-Token": token, "X-Subject-Token": token}
        )
        assert r.status_code == 204, r.text
        within(1.0, lambda: other.get("/networking/v2.0/networks").status_code == 401)


def test_rotation_reaches_both_servers_without_a_restart(
    live_server: LiveServer, second: Second
) -> None:
    url = live_server.database_url
    db = Database(url)

    def primary() -> str:
        with db.read_session() as s:
            return str(
                s.scalars(
                    select(SigningKey.key)
                    .where(SigningKey.purpose == "token")
                    .order_by(SigningKey.serial.desc())
                ).first()
            )

    try:
        old = token_at(live_server.base, live_server.admin_password)
        kumo("keys", "rotate", "--purpose", "token", "--database-url", url)
        time.sleep(0.6)  # the second server reads its keys every 0.5 s
        new = token_at(second.base, live_server.admin_password)
        Fernet(primary().encode()).decrypt(new.encode())  # signed with the new primary
        for base in (live_server.base, second.base):
            assert accepted(base, new) and accepted(base, old)

        # a second rotation promotes a key the first server has never loaded
        # and prunes the key ``old`` was signed with
        kumo("keys", "rotate", "--purpose", "token", "--database-url", url)
        time.sleep(0.6)
        newer = token_at(second.base, live_server.admin_password)
        Fernet(primary().encode()).decrypt(newer.encode())
        within(2.0, lambda: accepted(live_server.base, newer))  # reloaded on the unknown key
        for base in (live_server.base, second.base):
            within(2.0, lambda base=base: not accepted(base, old))  # type: ignore[misc]

        listed = kumo("keys", "list", "--database-url", url)
        with db.read_session() as s:
            secrets = list(s.scalars(select(SigningKey.key)))
        assert "primary" in listed and "staged" in listed
        assert not any(k[:16] in listed for k in secrets)
    finally:
        db.dispose()
