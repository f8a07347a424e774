"""Serial consoles: a short-lived signed token naming the instance's
namespace, and the shell the console proxy attaches to it.

Console tokens are signed with the database's ``console`` keys
(``kumo/identity/keys.py``), not the identity token keys: a console URL is
no identity token, and an identity token opens no console.

The proxy (``kumo/api/compute/console.py``) runs in the API process and
reaches instance namespaces on the machine it runs on, which is where the
lab's hosts are; a deployment with hosts on several machines would need
the host agent to serve the console instead (not done).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time

from cryptography.fernet import InvalidToken
from sqlalchemy import delete
from sqlalchemy.orm import Session

from kumo.compiler import names
from kumo.compute import server_networks, servers
from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.compute_models import ConsoleToken
from kumo.errors import BadRequest, Conflict, Unauthorized
from kumo.identity.keys import KeyRing

TOKEN_TTL = 600
CONSOLE_TYPES = {"serial": "serial"}
"""protocol → type of the consoles kumo offers."""
INVALID = "The console token is invalid or expired."


def console_url(
    session: Session,
    keys: KeyRing,
    ctx: RequestContext,
    server_id: str,
    protocol: str,
    kind: str,
    ws_base: str,
) -> str:
    """The websocket URL of a server's console (Nova's remote console)."""
    if CONSOLE_TYPES.get(protocol) != kind:
        raise BadRequest(f"Unavailable console type {kind}.", kind="ConsoleTypeUnavailable")
    server = servers.load(session, ctx, server_id)
    bound = [p for p in server_networks.server_ports(session, server.id) if p.host]
    if not bound:
        raise Conflict(
            f"Instance {server_id} is not ready: it has no port on a host yet.",
            kind="InstanceNotReady",
        )
    netns = names.instance_netns(bound[0].host, bound[0].id)
    nonce = secrets.token_urlsafe(24)
    expires = time.time() + TOKEN_TTL
    claims = {"server": server.id, "netns": netns, "exp": expires, "nonce": nonce}
    session.add(
        ConsoleToken(
            nonce=nonce,
            server_id=server.id,
            expires_at=dt.datetime.fromtimestamp(expires, dt.UTC).replace(tzinfo=None),
        )
    )
    token = keys.encrypt(json.dumps(claims).encode())
    return f"{ws_base}/compute/console?token={token}"


def target(keys: KeyRing, token: str) -> tuple[str, str]:
    """(namespace, nonce) a console token opens; Unauthorized when it is not a
    valid console token. The caller spends the nonce (``spend``) before
    opening the console."""
    try:
        claims = json.loads(keys.decrypt(token, ttl=TOKEN_TTL))
        if not isinstance(claims, dict):
            raise ValueError("not a console token")
        netns, nonce, expires = str(claims["netns"]), str(claims["nonce"]), float(claims["exp"])
    except (InvalidToken, ValueError, KeyError, TypeError) as exc:
        raise Unauthorized(INVALID) from exc
    if expires < time.time():
        raise Unauthorized(INVALID)
    return netns, nonce


def spend(session: Session, nonce: str) -> bool:
    """Use a console URL up: True the first time, False ever after."""
    now = utcnow().replace(tzinfo=None)
    session.execute(delete(ConsoleToken).where(ConsoleToken.expires_at < now))
    gone = session.execute(delete(ConsoleToken).where(ConsoleToken.nonce == nonce))
    return bool(getattr(gone, "rowcount", 0))


def console_log(session: Session, ctx: RequestContext, server_id: str, length: int | None) -> str:
    """The instance's console output: what its guest processes wrote (its
    DHCP clients, its services), oldest first, the last ``length`` lines."""
    from kumo.dataplane.guest.processes import RUN_DIR

    server = servers.load(session, ctx, server_id)
    bound = [p for p in server_networks.server_ports(session, server.id) if p.host]
    if not bound:
        return ""
    netns = names.instance_netns(bound[0].host, bound[0].id)
    logs = sorted(RUN_DIR.glob(f"{netns}.*.log"), key=lambda p: p.stat().st_mtime)
    lines: list[str] = []
    for log in logs:
        try:
            lines += log.read_text(errors="replace").splitlines()
        except OSError:
            continue
    if length is not None and length >= 0:
        lines = lines[-length:] if length else []
    return "\n".join(lines) + ("\n" if lines else "")
