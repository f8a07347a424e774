"""Serial consoles: a short-lived signed token naming the instance and
where its console is: its host agent's console endpoint (the console
proxy opens it through ``console_channel``), or, when the agent reports
none, the instance's namespace (the proxy attaches a shell there) or a
VM's serial port's unix socket on the API's own machine. Console output
likewise: from the agent's endpoint, else from the logs on this machine.

Console tokens are signed with the database's ``console`` keys
(``kumo/identity/keys.py``), not the identity token keys: a console URL is
no identity token, and an identity token opens no console. The agent's
endpoint never sees them: the proxy spends the token and opens the
endpoint with a credential of its own (``kumo.agent.console_credential``).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import InvalidToken
from sqlalchemy import delete
from sqlalchemy.orm import Session

from kumo.agent import console_logs
from kumo.compiler import names
from kumo.compute import console_channel, drivers, server_networks, servers
from kumo.context import RequestContext
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
        host = server.host
        claims["vm"] = True
    else:
        bound = [p for p in server_networks.server_ports(session, server.id) if p.host]
        if not bound:
            raise Conflict(
                f"Instance {server_id} is not ready: it has no port on a host yet.",
                kind="InstanceNotReady",
            )
        host = bound[0].host
        claims["netns"] = names.instance_netns(bound[0].host, bound[0].id)
    agent = console_channel.endpoint(session, host) if host else None
    if agent is not None:
        claims["agent"], claims["host"] = agent, host
    elif server.driver == drivers.QEMU:
        paths = vm_paths(session, server)
        if paths is None:
            raise Conflict(
                f"Instance {server_id} is not ready: its host runs no VMs yet.",
                kind="InstanceNotReady",
            )
        claims["socket"] = str(paths[0])
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
    """What a console token opens: the console of ``server`` at its host
    agent's endpoint (``agent``, on ``host``), else a shell in a namespace
    instance (``netns``) or a VM's serial port (``socket``, QEMU's unix
    socket) on this machine."""

    nonce: str
    netns: str | None = None
    socket: str | None = None
    server: str = ""
    agent: str | None = None
    host: str | None = None
    vm: bool = False


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
        agent, host = claims.get("agent"), claims.get("host")
        if isinstance(agent, str) and not isinstance(host, str):
            raise ValueError("a console token naming an agent names its host")
        if not any(isinstance(x, str) for x in (netns, sock, agent)):
            raise ValueError("a console token names an agent, a namespace or a socket")
    except (InvalidToken, ValueError, KeyError, TypeError) as exc:
        raise Unauthorized(INVALID) from exc
    if expires < time.time():
        raise Unauthorized(INVALID)
    return Target(
        nonce,
        netns if isinstance(netns, str) else None,
        sock if isinstance(sock, str) else None,
        server=str(claims.get("server", "")),
        agent=agent if isinstance(agent, str) else None,
        host=host if isinstance(host, str) else None,
        vm=bool(claims.get("vm")),
    )


def vm_paths(session: Session, server: Server) -> tuple[Path, Path] | None:
    """(serial socket, console log) of a VM, in the run directory its host's
    agent reported (``configurations.vm_dir``), for an agent that reports
    no console endpoint: right when the API runs on the agent's machine
    (or sees its ``vm_dir`` at the same path)."""
    if not server.host:
        return None
    vm_dir = console_channel.agent_config(session, server.host).get("vm_dir")
    if isinstance(vm_dir, str) and vm_dir:
        return console_logs.vm_files(Path(vm_dir), server.id)
    return None


def spend(session: Session, nonce: str) -> bool:
    """Use a console URL up: True the first time, False ever after."""
    now = utcnow().replace(tzinfo=None)
    session.execute(delete(ConsoleToken).where(ConsoleToken.expires_at < now))
    gone = session.execute(delete(ConsoleToken).where(ConsoleToken.nonce == nonce))
    return bool(getattr(gone, "rowcount", 0))


@dataclass(frozen=True)
class LogSource:
    """Where an instance's console output is: its host agent's endpoint
    (``agent``, on ``host``), else log files on this machine."""

    server: str
    vm: bool
    host: str | None = None
    netns: str | None = None
    agent: str | None = None
    files: tuple[Path, ...] = ()


def log_source(session: Session, ctx: RequestContext, server_id: str) -> LogSource:
    """Where the console output of a server the caller may see is."""
    server = servers.load(session, ctx, server_id)
    vm = server.driver == drivers.QEMU
    if vm:
        host, netns = server.host, None
    else:
        bound = [p for p in server_networks.server_ports(session, server.id) if p.host]
        if not bound:
            return LogSource(server.id, vm)
        host, netns = bound[0].host, names.instance_netns(bound[0].host, bound[0].id)
    agent = console_channel.endpoint(session, host) if host else None
    if agent is not None:
        return LogSource(server.id, vm, host, netns, agent)
    if vm:
        paths = vm_paths(session, server)
        return LogSource(server.id, vm, host, files=(paths[1],) if paths else ())
    return LogSource(server.id, vm, host, netns, files=tuple(console_logs.guest_logs(netns or "")))


def console_output(channel: console_channel.Channel, source: LogSource, length: int | None) -> str:
    """The instance's console output, the last ``length`` lines: a VM's
    serial log, or what a namespace instance's guest processes wrote (its
    DHCP clients, its services), oldest first. Conflict when its host's
    agent does not answer."""
    if source.agent is not None and source.host:
        lines = channel.read_log(
            source.agent, source.host, source.server, vm=source.vm, netns=source.netns
        )
        return console_logs.tail(lines, length)
    return _tail(list(source.files), length)


def _tail(logs: list[Path], length: int | None) -> str:
    return console_logs.tail(console_logs.read_lines(logs), length)
