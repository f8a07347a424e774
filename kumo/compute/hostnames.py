"""Instance hostnames: what ``hostname`` prints inside an instance.

A server's hostname is Nova's ``OS-EXT-SRV-ATTR:hostname``: its name made
a valid host name. As in Nova: characters outside Latin-1 are dropped, the
name is cut to 63 characters, spaces, underscores and dots become ``-``,
every other character that is not a letter, digit or ``-`` is dropped, the
rest is lowercased and leading or trailing ``-``/``.`` are stripped; a name
with nothing left gives ``Server-<id>``. One difference: Nova keeps Latin-1
letters such as ``é``; kumo drops every non-ASCII character, so that the
name is a valid RFC 1123 label that ``sethostname(2)`` takes (64 bytes).

A port that is no server's (a lab instance) is known by its own name, made
valid the same way; a port without a usable name by its first address, as
the DHCP lease names it (``host-10-0-0-3``), or else by its id.

The watch feed carries each port's hostname as ``kumo_hostname`` (watch
bodies only, never the Networking API), so the host agent gives the
instance's UTS namespace that name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the agent names hosts too, without a database (or its imports)
    from sqlalchemy.orm import Session

WATCH_KEY = "kumo_hostname"
"""The port watch body's key for the hostname of the instance on the port."""
MAX_LENGTH = 63
_SEPARATORS = re.compile(r"[ _.]")
_INVALID = re.compile(r"[^A-Za-z0-9-]+")


def sanitize(name: str, default: str = "") -> str:
    """``name`` as a host name (see the module's docstring); ``default`` when
    nothing is left of it."""
    latin1 = "".join(c for c in name if ord(c) <= 0xFF)[:MAX_LENGTH]
    cleaned = _INVALID.sub("", _SEPARATORS.sub("-", latin1)).lower().strip("-.")
    return cleaned or default[:MAX_LENGTH]


def server_hostname(server_id: str, name: str) -> str:
    """A server's ``OS-EXT-SRV-ATTR:hostname``."""
    return sanitize(name, f"Server-{server_id}")


def port_hostname(body: Mapping[str, Any], servers: Mapping[str, str]) -> str:
    """The hostname of the instance on a port (its admin ``body``);
    ``servers``: server id → name, for the servers among ports' device ids."""
    device_id = str(body.get("device_id") or "")
    if device_id in servers and str(body.get("device_owner") or "").startswith("compute:"):
        return server_hostname(device_id, servers[device_id])
    ips = [str(f["ip_address"]) for f in body.get("fixed_ips") or ()]
    fallback = f"host-{_dashed(ips[0])}" if ips else f"port-{body['id']}"
    return sanitize(str(body.get("name") or ""), fallback)


def _dashed(ip: str) -> str:
    return ip.replace(".", "-").replace(":", "-")


def server_names(session: Session, bodies: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """Server id → name for the servers the ports of ``bodies`` belong to."""
    from sqlalchemy import select

    from kumo.db.compute_models import Server

    ids = {
        str(b["device_id"])
        for b in bodies
        if b.get("device_id") and str(b.get("device_owner") or "").startswith("compute:")
    }
    out: dict[str, str] = {}
    wanted = sorted(ids)
    for i in range(0, len(wanted), 500):  # a snapshot may name thousands
        q = select(Server.id, Server.name).where(Server.id.in_(wanted[i : i + 500]))
        out.update({sid: name for sid, name in session.execute(q)})
    return out


def watch_bodies(session: Session, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Port admin bodies as the watch feed carries them: each with the
    hostname of its instance (new dicts; ``bodies`` are left as they are)."""
    servers = server_names(session, bodies)
    return [{**b, WATCH_KEY: port_hostname(b, servers)} for b in bodies]
