"""Error bodies never echo a caller's over-long value whole."""

from __future__ import annotations

from pathlib import Path

from kumo.api.faults import MESSAGE_LIMIT, clip, error_body
from kumo.errors import ECHO_LIMIT, InvalidInput, shown
from kumo.network import validate
from tests.network.conftest import N, open_cloud

HUGE = "x" * 100_000


def test_shown_keeps_short_values_and_cuts_long_ones() -> None:
    assert shown("net-1") == "net-1"
    assert shown("a" * ECHO_LIMIT) == "a" * ECHO_LIMIT
    assert shown(HUGE) == "x" * ECHO_LIMIT + "…"
    assert shown(12345) == "12345"


def test_validators_echo_at_most_the_limit() -> None:
    for check in (
        lambda: validate.string({"name": HUGE}, "name"),
        lambda: validate.uuid(HUGE, "id"),
        lambda: validate.mac(HUGE),
    ):
        try:
            check()
        except InvalidInput as exc:
            assert len(str(exc)) < ECHO_LIMIT + 100, str(exc)[:200]
        else:
            raise AssertionError("accepted")


def test_fault_bodies_clip_what_validators_did_not() -> None:
    message = f"Invalid input for name: '{HUGE}' is not valid"
    clipped = clip(message)
    assert clipped == f"Invalid input for name: '{'x' * ECHO_LIMIT}…' is not valid"
    assert len(clip("y" * 10_000)) == MESSAGE_LIMIT + 1
    for path in ("/networking/v2.0/networks", "/identity/v3/users", "/compute/v2.1/servers"):
        assert len(error_body(path, 400, "BadRequest", message, HUGE)) < 2_000


def test_an_over_long_name_is_refused_without_echoing_it(db_url: str, tmp_path: Path) -> None:
    with open_cloud(db_url, tmp_path) as cloud:
        r = cloud.c.post(N + "/networks", headers=cloud.admin, json={"network": {"name": HUGE}})
        assert r.status_code == 400
        assert len(r.content) < 1_000, len(r.content)
        message = r.json()["NeutronError"]["message"]
        assert "exceeds maximum length of 255" in message and "x" * ECHO_LIMIT + "…" in message
        users = cloud.c.post(
            "/identity/v3/users", headers=cloud.admin, json={"user": {"name": HUGE}}
        )
        assert users.status_code == 400 and len(users.content) < 1_000
        servers = cloud.c.post(
            "/compute/v2.1/servers",
            headers=cloud.admin,
            json={"server": {"name": HUGE, "flavorRef": "1", "imageRef": "x"}},
        )
        assert servers.status_code == 400 and len(servers.content) < 2_000, servers.text[:300]
