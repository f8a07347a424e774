"""The short-lived credential an API server shows a host agent's console
endpoint (``kumo.agent.console_server``) to read a server's console log or
open its console.

Each host has a key of its own, derived from the cloud's console channel
secret (kept in the database, never handed out whole) and the host's name:
API servers derive any host's key; an agent fetches its own host's key
with its enrolment credential (``GET /internal/v1/console-key``) and so
can check credentials for itself but make none another host accepts.

A credential is ``PAYLOAD.MAC`` (both URL-safe base64, no padding): the
payload is JSON naming the host, the server, the operation (``log`` or
``console``), what to open (a VM's run directory, or a namespace
instance's namespace), an expiry and a random nonce; the MAC is
HMAC-SHA256 of the payload under the host's key. The agent accepts one
only for itself, for the server and operation of the request, before its
expiry (at most ``MAX_TTL`` seconds ahead of the agent's clock) and once:
it remembers each nonce until the credential expires.

Pure: the standard library only, no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass

TTL = 30.0
"""Seconds a credential lives: it is made just before the API opens the endpoint."""
MAX_TTL = 120.0
"""An agent refuses a credential expiring further ahead than this (a clock
skew allowance on top of ``TTL``), which bounds how long it keeps nonces."""
OPERATIONS = ("log", "console")
SCHEME = "Kumo-Console"
"""The ``Authorization`` scheme the credential travels in."""
_CONTEXT = b"kumo console channel v1\0"


class Refused(Exception):
    """The credential does not open this endpoint (the agent answers 401)."""


def host_key(secret: bytes, host: str) -> bytes:
    """The key of one host's console endpoint."""
    return hmac.new(secret, _CONTEXT + host.encode(), hashlib.sha256).digest()


@dataclass(frozen=True)
class Claims:
    host: str
    server: str
    operation: str
    expires: float
    nonce: str
    vm: bool = False
    """The server is a VM (its console socket and log are in the agent's VM directory)."""
    netns: str | None = None
    """A namespace instance's namespace (its shell, its guest processes' logs)."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mint(
    key: bytes,
    host: str,
    server: str,
    operation: str,
    *,
    vm: bool = False,
    netns: str | None = None,
    ttl: float = TTL,
    now: float | None = None,
) -> str:
    """A credential for ``operation`` on ``server`` at ``host``'s endpoint."""
    if operation not in OPERATIONS:
        raise ValueError(f"unknown console operation {operation!r}")
    issued = time.time() if now is None else now
    body = {"host": host, "server": server, "op": operation, "exp": issued + ttl,
            "nonce": secrets.token_urlsafe(18), "vm": vm, "netns": netns}  # fmt: skip
    payload = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    mac = hmac.new(key, payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(mac)}"


class NonceBook:
    """The nonces of credentials already used, each kept until its credential expires."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def spend(self, nonce: str, expires: float, now: float) -> bool:
        """True the first time a nonce is shown, False ever after."""
        with self._lock:
            for old in [n for n, exp in self._seen.items() if exp < now]:
                del self._seen[old]
            if nonce in self._seen:
                return False
            self._seen[nonce] = expires
            return True

    def __len__(self) -> int:
        return len(self._seen)


def verify(
    key: bytes,
    credential: str,
    *,
    host: str,
    server: str,
    operation: str,
    nonces: NonceBook,
    now: float | None = None,
) -> Claims:
    """The claims of a credential that opens ``operation`` on ``server`` at
    ``host`` now, spending its nonce; ``Refused`` otherwise."""
    at = time.time() if now is None else now
    try:
        payload_text, mac_text = credential.split(".")
        payload, mac = _unb64(payload_text), _unb64(mac_text)
    except ValueError as exc:
        raise Refused("malformed credential") from exc
    if not hmac.compare_digest(mac, hmac.new(key, payload, hashlib.sha256).digest()):
        raise Refused("bad signature")
    try:
        body = json.loads(payload)
        netns = body.get("netns")
        claims = Claims(
            host=str(body["host"]), server=str(body["server"]), operation=str(body["op"]),
            expires=float(body["exp"]), nonce=str(body["nonce"]), vm=bool(body.get("vm")),
            netns=netns if isinstance(netns, str) else None,
        )  # fmt: skip
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise Refused("malformed credential") from exc
    if claims.host != host:
        raise Refused("for another host")
    if claims.server != server or claims.operation != operation:
        raise Refused("for another server or operation")
    if claims.expires < at:
        raise Refused("expired")
    if claims.expires > at + MAX_TTL:
        raise Refused("expires too far ahead")
    if not nonces.spend(claims.nonce, claims.expires, at):
        raise Refused("already used")
    return claims
