"""Serial consoles: a short-lived signed token naming the instance's
namespace (the console proxy attaches a shell there) or, for a VM, its
serial port's unix socket (the proxy connects to it); console output from
guest processes' logs or the VM's serial log.

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
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import InvalidToken
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kumo.compiler import names
from kumo.compute import drivers, server_networks, servers
from kumo.context import RequestContext
from kumo.db.agent_models import Agent
from kumo.db.base import utcnow
from kumo.db.compute_models import ConsoleToken, Server
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
    nonce = secrets.token_urlsafe(24)
    expires = time.time() + TOKEN_TTL
    claims: dict[str, object] = {"server": server.id, "exp": expires, "nonce": nonce}
    if server.driver == drivers.QEMU:
        paths = vm_paths(session, server)
        if paths is None:
            raise Conflict(
                f"Instance {server_id} is not ready: its host runs no VMs yet.",
                kind="InstanceNotReady",
            )
        claims["socket"] = str(paths[0])
    else:
        bound = [p for p in server_networks.server_ports(session, server.id) if p.host]
        if not bound:
            raise Conflict(
                f"Instance {server_id} is not ready: it has no port on a host yet.",
                kind="InstanceNotReady",
            )
        claims["netns"] = names.instance_netns(bound[0].host, bound[0].id)
    session.add(
        ConsoleToken(
            nonce=nonce,
            server_id=server.id,
            expires_at=dt.datetime.fromtimestamp(expires, dt.UTC).replace(tzinfo=None),
        )
    )
    token = keys.encrypt(json.dumps(claims).encode())
    return f"{ws_base}/compute/console?token={token}"


@dataclass(frozen=True)
class Target:
    """What a console token opens: a shell in a namespace instance
    (``netns``) or a VM's serial port (``socket``, QEMU's unix socket)."""

    nonce: str
    netns: str | None = None
    socket: str | None = None


def target(keys: KeyRing, token: str) -> Target:
    """What a console token opens; Unauthorized when it is not a valid
    console token. The caller spends the nonce (``spend``) before opening
    the console."""
    try:
        claims = json.loads(keys.decrypt(token, ttl=TOKEN_TTL))
        if not isinstance(claims, dict):
            raise ValueError("not a console token")
        nonce, expires = str(claims["nonce"]), float(claims["exp"])
        netns, sock = claims.get("netns"), claims.get("socket")
        if not isinstance(netns, str) and not isinstance(sock, str):
            raise ValueError("a console token names a namespace or a socket")
    except (InvalidToken, ValueError, KeyError, TypeError) as exc:
        raise Unauthorized(INVALID) from exc
    if expires < time.time():
        raise Unauthorized(INVALID)
    return Target(nonce, netns if isinstance(netns, str) else None,
                  sock if isinstance(sock, str) else None)  # fmt: skip


def vm_paths(session: Session, server: Server) -> tuple[Path, Path] | None:
    """(serial socket, console log) of a VM, in the run directory its host's
    agent reported (``configurations.vm_dir``). The API reads them on the
    machine it runs on: right for the lab, whose hosts all live on it; with
    hosts on other machines the directory must be shared (or the agent
    serve the console: not done)."""
    if not server.host:
        return None
    q = select(Agent.configurations).where(Agent.host == server.host, Agent.binary == "kumo-agent")
    for config in session.scalars(q):
        vm_dir = (config or {}).get("vm_dir")
        if isinstance(vm_dir, str) and vm_dir:
            base = Path(vm_dir) / "vms" / server.id
            return base / "console.sock", base / "console.log"
    return None


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
    if server.driver == drivers.QEMU:
        paths = vm_paths(session, server)
        return _tail([paths[1]] if paths else [], length)
    bound = [p for p in server_networks.server_ports(session, server.id) if p.host]
    if not bound:
        return ""
    netns = names.instance_netns(bound[0].host, bound[0].id)
    logs = sorted(RUN_DIR.glob(f"{netns}.*.log"), key=lambda p: p.stat().st_mtime)
    return _tail(logs, length)


MAX_LOG_BYTES = 1 << 20
"""The end of a VM's console log read for its output (it grows with every boot)."""


def _tail(logs: list[Path], length: int | None) -> str:
    lines: list[str] = []
    for log in logs:
        try:
            with log.open("rb") as f:
                size = f.seek(0, 2)
                f.seek(max(0, size - MAX_LOG_BYTES))
                text = f.read().decode(errors="replace")
        except OSError:
            continue
        lines += [line.rstrip("\r") for line in text.splitlines()]
    if length is not None and length >= 0:
        # as Nova: the last ``length`` pieces of the text split at newlines,
        # so the answer splits into exactly ``length`` lines
        return "\n".join(lines[-length:]) if length else ""
    return "\n".join(lines) + ("\n" if lines else "")
