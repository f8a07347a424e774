"""The API server's side of the console channel to host agents: a server's
console log and console, read and opened at its host agent's console
endpoint (``kumo.agent.console_server``) with a one-time credential
(``kumo.agent.console_credential``) made for that host, that server and
that operation.

An agent reports its endpoint as ``configurations.console_url``; it
fetches its own host's key (``GET /internal/v1/console-key``) with its
enrolment credential, never another host's (``host_key``).
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.agent import console_credential as credential
from kumo.agent.console_server import UPGRADE
from kumo.context import RequestContext
from kumo.db.agent_models import Agent
from kumo.db.engine import Database
from kumo.errors import Conflict
from kumo.identity import agent_credentials
from kumo.network import cluster_key

log = logging.getLogger("kumo.compute.console")

TIMEOUT = 10.0
"""Seconds to reach an agent's endpoint and hear its answer."""


class Unavailable(Exception):
    """The agent's endpoint could not be reached or refused (its message says why)."""


def agent_config(session: Session, host: str) -> dict[str, object]:
    """What ``host``'s compute agent reported about itself ({} when none did)."""
    q = select(Agent.configurations).where(Agent.host == host, Agent.binary == "kumo-agent")
    for config in session.scalars(q):
        if isinstance(config, dict):
            return config
    return {}


def endpoint(session: Session, host: str) -> str | None:
    """``host``'s agent's console endpoint, if it reported one."""
    url = agent_config(session, host).get("console_url")
    return url.rstrip("/") if isinstance(url, str) and url else None


class Channel:
    """One API server's keys to the agents' console endpoints."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._secret: bytes | None = None
        self._http = httpx.Client(timeout=TIMEOUT)

    def secret(self) -> bytes:
        if self._secret is None:
            self._secret = cluster_key.console_channel_key(self.db).secret
        return self._secret

    def key_of(self, host: str) -> bytes:
        return credential.host_key(self.secret(), host)

    def host_key(self, ctx: RequestContext, host: str) -> bytes:
        """``host``'s key for its agent (``internal:console_key``: an agent
        only its own host's, as enrolled; admins any)."""
        with self.db.read_session() as s:
            agent_credentials.authorize_hosts(s, ctx, [host], "internal:console_key")
        return self.key_of(host)

    def read_log(
        self, url: str, host: str, server_id: str, *, vm: bool, netns: str | None
    ) -> list[str]:
        """The console output's lines, from the agent; Conflict when it does not answer."""
        cred = credential.mint(self.key_of(host), host, server_id, "log", vm=vm, netns=netns)
        try:
            r = self._http.get(
                f"{url}/v1/servers/{server_id}/console-log",
                headers={"Authorization": f"{credential.SCHEME} {cred}"},
            )
            r.raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("console log of server %s from %s failed: %s", server_id, url, exc)
            raise Conflict(
                f"The console log of instance {server_id} is not available: its host's agent "
                "does not answer.",
                kind="InstanceNotReady",
            ) from None
        return r.text.splitlines()

    async def open(
        self, url: str, host: str, server_id: str, *, vm: bool, netns: str | None
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A connection carrying the console's bytes, from the agent; Unavailable otherwise."""
        key = await asyncio.to_thread(self.key_of, host)
        cred = credential.mint(key, host, server_id, "console", vm=vm, netns=netns)
        return await asyncio.wait_for(_upgrade(url, server_id, cred), TIMEOUT)


async def _upgrade(
    url: str, server_id: str, cred: str
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise Unavailable(f"unsupported console endpoint {url}")
    port = parts.port or 80
    try:
        reader, writer = await asyncio.open_connection(parts.hostname, port)
    except OSError as exc:
        raise Unavailable(f"cannot reach {url}: {exc}") from None
    netloc = parts.netloc
    request = (
        f"GET {parts.path.rstrip('/')}/v1/servers/{server_id}/console HTTP/1.1\r\n"
        f"Host: {netloc}\r\nConnection: Upgrade\r\nUpgrade: {UPGRADE}\r\n"
        f"Authorization: {credential.SCHEME} {cred}\r\n\r\n"
    )
    try:
        writer.write(request.encode())
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        writer.close()
        raise Unavailable(f"{url} did not answer: {exc}") from None
    line = head.split(b"\r\n", 1)[0]
    status = line.split(b" ")
    if len(status) < 2 or status[1] != b"101":
        writer.close()
        raise Unavailable(f"{url} refused: {line.decode(errors='replace')}")
    return reader, writer
