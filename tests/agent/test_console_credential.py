"""The console endpoint's credential: made by an API server for one host,
one server and one operation; refused with another host's key, after its
expiry, for another host, server or operation, altered, or a second time."""

from __future__ import annotations

import pytest

from kumo.agent import console_credential as cc

SECRET = b"s" * 32
KEY = cc.host_key(SECRET, "host2")
NOW = 1_000_000.0


def check(
    cred: str, key: bytes = KEY, nonces: cc.NonceBook | None = None, **kw: object
) -> cc.Claims:
    want: dict[str, object] = {"host": "host2", "server": "vm1", "operation": "console", "now": NOW}
    want.update(kw)
    return cc.verify(key, cred, nonces=cc.NonceBook() if nonces is None else nonces, **want)  # type: ignore[arg-type]


def test_a_fresh_credential_opens_what_it_names_once() -> None:
    cred = cc.mint(KEY, "host2", "vm1", "console", vm=True, now=NOW)
    nonces = cc.NonceBook()
    claims = check(cred, nonces=nonces)
    assert (claims.host, claims.server, claims.operation, claims.vm) == (
        "host2",
        "vm1",
        "console",
        True,
    )
    with pytest.raises(cc.Refused, match="already used"):  # replayed
        check(cred, nonces=nonces)
    netns = cc.mint(KEY, "host2", "vm1", "log", netns="kihost2-p1", now=NOW)
    assert check(netns, operation="log", nonces=nonces).netns == "kihost2-p1"


def test_another_hosts_key_or_the_secret_itself_is_refused() -> None:
    other = cc.hmac.new(b"x" * 32, b"", "sha256").digest()
    for key in (cc.host_key(SECRET, "host1"), cc.host_key(b"t" * 32, "host2"), SECRET, other):
        with pytest.raises(cc.Refused, match="bad signature"):
            check(cc.mint(key, "host2", "vm1", "console", now=NOW))


def test_an_expired_credential_or_one_expiring_too_far_ahead_is_refused() -> None:
    cred = cc.mint(KEY, "host2", "vm1", "console", now=NOW)
    assert check(cred, now=NOW + cc.TTL - 1).server == "vm1"
    with pytest.raises(cc.Refused, match="expired"):
        check(cred, now=NOW + cc.TTL + 1)
    with pytest.raises(cc.Refused, match="too far ahead"):
        check(cc.mint(KEY, "host2", "vm1", "console", ttl=3600, now=NOW))


def test_a_credential_for_another_host_server_or_operation_is_refused() -> None:
    # made with host2's key but naming host1: host1's endpoint has another key
    # anyway; host2's refuses what names another host
    with pytest.raises(cc.Refused, match="another host"):
        check(cc.mint(KEY, "host1", "vm1", "console", now=NOW))
    with pytest.raises(cc.Refused, match="another host"):
        check(cc.mint(KEY, "host2", "vm1", "console", now=NOW), host="host1")
    with pytest.raises(cc.Refused, match="another server"):
        check(cc.mint(KEY, "host2", "vm1", "console", now=NOW), server="vm2")
    with pytest.raises(cc.Refused, match="another server or operation"):
        check(cc.mint(KEY, "host2", "vm1", "log", now=NOW))


def test_an_altered_or_malformed_credential_is_refused() -> None:
    payload, mac = cc.mint(KEY, "host2", "vm1", "console", now=NOW).split(".")
    body = cc._unb64(payload).replace(b'"vm1"', b'"vm2"')
    for bad in (f"{cc._b64(body)}.{mac}", payload, "", "a.b.c", f"{payload}.{mac}x"):
        with pytest.raises(cc.Refused):
            check(bad, server="vm2" if "vm2" in bad else "vm1")


def test_used_nonces_are_forgotten_once_their_credentials_expire() -> None:
    nonces = cc.NonceBook()
    for i in range(5):
        check(cc.mint(KEY, "host2", "vm1", "console", now=NOW + i), nonces=nonces, now=NOW + i)
    assert len(nonces) == 5
    check(cc.mint(KEY, "host2", "vm1", "console", now=NOW + 100), nonces=nonces, now=NOW + 100)
    assert len(nonces) == 1
