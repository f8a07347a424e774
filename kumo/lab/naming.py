"""What a lab's name decides: its namespace prefix, host names, state
directory and API port (no I/O but reading the environment).

The lab named ``default`` keeps the names the documentation uses:
namespaces ``klab-*``, hosts ``host1..hostN``, state in /var/lib/kumo/lab
(or ``$KUMO_LAB_DIR``), API on port 8080. A lab named ``N`` gets
namespaces ``kl-N-*``, hosts ``N-host1..N-hostM``, state in
/var/lib/kumo/labs/N and a free port chosen at ``kumo up``.

These names never overlap between labs: every namespace suffix (``ul``,
``phys``, ``ext``, ``up``, ``hN``) and host suffix (``hostN``) has no dash,
so the part before the last dash gives the lab back. Host names matter as
much as namespaces: an agent owns (and sweeps) the instance, router and
metadata namespaces tagged with its host's name, so two labs must never
share a host name.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

DEFAULT_NAME = "default"
DEFAULT_PREFIX = "klab-"
DEFAULT_PORT = 8080
FIRST_PORT = 8081
"""Labs other than ``default`` take the first free port from here."""
LABS_DIR = Path("/var/lib/kumo/labs")

_NAME = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,18}[a-z0-9])?$")


class LabNameError(ValueError):
    pass


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise LabNameError(
            f"lab name {name!r}: use 1 to 20 lowercase letters, digits and inner dashes"
        )
    return name


def default_name() -> str:
    """The lab a command means when it names none: ``$KUMO_LAB`` or ``default``."""
    return os.environ.get("KUMO_LAB") or DEFAULT_NAME


def prefix_for(name: str) -> str:
    return DEFAULT_PREFIX if name == DEFAULT_NAME else f"kl-{name}-"


def name_for_prefix(prefix: str) -> str:
    """The name a lab started with an explicit ``--prefix`` registers under."""
    if prefix == DEFAULT_PREFIX:
        return DEFAULT_NAME
    return prefix.rstrip("-") or prefix


def host_stem(name: str, prefix: str) -> str:
    """Host names are this stem and the host's number."""
    if prefix == DEFAULT_PREFIX:
        return "host"
    if prefix == prefix_for(name):
        return f"{name}-host"
    return f"{prefix}host"


def state_dir_for(name: str) -> Path:
    if name == DEFAULT_NAME:
        return Path(os.environ.get("KUMO_LAB_DIR", "/var/lib/kumo/lab"))
    return LABS_DIR / name


def host_alias(ref: str, hosts: list[str]) -> str:
    """A lab host by its name, or by the default lab's name for the same
    position (``host2`` is the second host of any lab), so commands written
    for the default lab work in every lab."""
    if ref in hosts:
        return ref
    match = re.fullmatch(r"host(\d+)", ref)
    if match and 1 <= int(match.group(1)) <= len(hosts):
        return hosts[int(match.group(1)) - 1]
    return ref
