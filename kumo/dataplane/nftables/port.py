"""The narrow port to nftables, conntrack and the bridge-netfilter switch.

``NftCommands`` runs the real tools (``nft -j``, ``conntrack``) in the host
namespace, through ``ip netns exec`` when the host is a named namespace
(the lab). ``FakeNft`` keeps kumo's sets in memory, checks the commands'
shape, and fails the next call on request, as the real one would.
"""

from __future__ import annotations

import errno
import json
import subprocess
from dataclasses import dataclass, field
from typing import Any, Protocol

from kumo.dataplane.nftables.render import TABLE, Json
from kumo.dataplane.port import DataplaneError, NotPresent, Rejected


@dataclass(frozen=True)
class ConntrackFilter:
    """Which connections to forget: zone, protocol, addresses, destination port."""

    zone: int
    family: int
    protocol: int | None = None
    src: str | None = None
    dst: str | None = None
    dport: int | None = None


class NftPort(Protocol):
    def apply(self, commands: list[Json]) -> None:
        """Run ``commands`` as one transaction (all or nothing)."""

    def apply_script(self, script: str) -> None:
        """Run an nft script (text syntax) as one transaction."""

    def list_sets(self, table: str = TABLE) -> list[Json]:
        """Every set (with its elements) of the tables named ``table``, as ``nft -j`` lists them."""

    def set_bridge_netfilter(self, on: bool) -> None:
        """Whether bridged IPv4/IPv6 traffic passes through the inet hooks."""

    def forget_connections(self, flt: ConntrackFilter) -> int:
        """Delete matching conntrack entries; how many went."""

    def announce(self, ifname: str, ip: str) -> None:
        """Send gratuitous ARP for ``ip`` from ``ifname``."""


class NftCommands:
    def __init__(self, netns: str | None = None, *, timeout: float = 60.0) -> None:
        self.netns = netns
        self.timeout = timeout
        self.calls = 0

    def _run(self, argv: list[str], stdin: str | None = None, ok: tuple[int, ...] = (0,)) -> str:
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        self.calls += 1
        try:
            done = subprocess.run(
                prefix + argv,
                input=stdin,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DataplaneError(argv[0], errno.EIO, str(exc)) from exc
        if done.returncode not in ok:
            detail = (done.stderr or done.stdout).strip().splitlines()
            message = " | ".join(detail[-3:])
            if "No such file or directory" in message and self.netns:
                raise NotPresent(argv[0], errno.ENOENT, message)
            raise Rejected(argv[0], errno.EINVAL, message)
        return done.stdout

    def apply(self, commands: list[Json]) -> None:
        self._run(["nft", "-j", "-f", "-"], json.dumps({"nftables": commands}))

    def apply_script(self, script: str) -> None:
        self._run(["nft", "-f", "-"], script)

    def list_sets(self, table: str = TABLE) -> list[Json]:
        out = self._run(["nft", "-j", "list", "sets"])
        items = json.loads(out or '{"nftables": []}').get("nftables", [])
        return [i["set"] for i in items if "set" in i and i["set"].get("table") == table]

    def announce(self, ifname: str, ip: str) -> None:
        self._run(["busybox", "arping", "-U", "-c", "2", "-w", "1", "-I", ifname, "-s", ip, ip],
                  ok=(0, 1))  # fmt: skip

    def set_bridge_netfilter(self, on: bool) -> None:
        value = "1" if on else "0"
        self._run(
            [
                "sysctl",
                "-qw",
                f"net.bridge.bridge-nf-call-iptables={value}",
                f"net.bridge.bridge-nf-call-ip6tables={value}",
            ]
        )

    def forget_connections(self, flt: ConntrackFilter) -> int:
        argv = ["conntrack", "-D", "-f", "ipv4" if flt.family == 4 else "ipv6", "-w", str(flt.zone)]
        if flt.protocol is not None:
            argv += ["-p", str(flt.protocol)]
        if flt.src:
            argv += ["-s", flt.src]
        if flt.dst:
            argv += ["-d", flt.dst]
        if flt.dport is not None and flt.protocol in (6, 17, 132, 33, 136):
            argv += ["--dport", str(flt.dport)]
        out = self._run(argv, ok=(0, 1))
        # conntrack prints the deleted entries, one per line, and a summary on stderr.
        return sum(1 for line in out.splitlines() if line.strip())


@dataclass
class FakeNft:
    """In-memory nftables: tables exist or not; sets hold elements."""

    sets: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    """(family, set name) → elements, for kumo's tables."""
    table_of: dict[tuple[str, str], str] = field(default_factory=dict)
    """(family, set name) → the table that holds it."""
    announced: list[tuple[str, str]] = field(default_factory=list)
    tables: set[str] = field(default_factory=set)
    bridge_netfilter: bool = True
    transactions: list[list[Json]] = field(default_factory=list)
    forgotten: list[ConntrackFilter] = field(default_factory=list)
    scripts: list[str] = field(default_factory=list)
    fail_next: int = 0
    """Fail this many following calls with ``Rejected`` (nothing applied)."""

    def _maybe_fail(self, op: str) -> None:
        if self.fail_next:
            self.fail_next -= 1
            raise Rejected(op, errno.EINVAL, "injected failure")

    def apply(self, commands: list[Json]) -> None:
        self._maybe_fail("nft")
        tables, sets = set(self.tables), {k: set(v) for k, v in self.sets.items()}
        for command in commands:
            ((verb, body),) = command.items()
            ((kind, obj),) = body.items()
            family = obj.get("family", "")
            if kind == "table":
                if verb == "add":
                    tables.add(family)
                elif family not in tables:
                    raise NotPresent("nft", errno.ENOENT, f"table {family} {TABLE}")
                else:
                    tables.discard(family)
                    sets = {k: v for k, v in sets.items() if k[0] != family}
            elif kind == "set":
                if family not in tables:
                    raise NotPresent("nft", errno.ENOENT, f"table {family} {TABLE}")
                sets[(family, obj["name"])] = {_elem(e) for e in obj.get("elem", [])}
                self.table_of[(family, obj["name"])] = obj.get("table", TABLE)
            elif kind == "element":
                members = sets.get((family, obj["name"]))
                if members is None:
                    raise NotPresent("nft", errno.ENOENT, f"set {obj['name']}")
                for e in obj["elem"]:
                    if verb == "add":
                        members.add(_elem(e))
                    elif _elem(e) not in members:
                        raise NotPresent("nft", errno.ENOENT, f"element {e}")
                    else:
                        members.discard(_elem(e))
            elif family not in tables:
                raise NotPresent("nft", errno.ENOENT, f"table {family} {TABLE}")
        self.tables, self.sets = tables, sets
        self.transactions.append(commands)

    def apply_script(self, script: str) -> None:
        """Understands the set and table lines of a script (the rest is
        kept in ``scripts``)."""
        self._maybe_fail("nft")
        sets, table_of = dict(self.sets), dict(self.table_of)
        for line in script.splitlines():
            words = line.split()
            if len(words) >= 4 and words[1] == "table" and words[0] == "delete":
                family, table = words[2], words[3]
                for key in [k for k, t in table_of.items() if k[0] == family and t == table]:
                    sets.pop(key, None)
                    table_of.pop(key, None)
            elif len(words) >= 5 and words[1] == "set":
                family, table, name = words[2], words[3], words[4]
                if words[0] == "add":
                    sets.setdefault((family, name), set())
                    table_of[(family, name)] = table
                elif (family, name) not in sets:
                    raise NotPresent("nft", errno.ENOENT, f"set {name}")
                else:
                    del sets[(family, name)]
                    table_of.pop((family, name), None)
        self.sets, self.table_of = sets, table_of
        self.scripts.append(script)

    def list_sets(self, table: str = TABLE) -> list[Json]:
        self._maybe_fail("nft")
        out: list[Json] = []
        for (family, name), members in sorted(self.sets.items()):
            if self.table_of.get((family, name), TABLE) != table:
                continue
            body: dict[str, Any] = {"family": family, "table": table, "name": name}
            if members:
                body["elem"] = sorted(members)
            out.append(body)
        return out

    def set_bridge_netfilter(self, on: bool) -> None:
        self._maybe_fail("sysctl")
        self.bridge_netfilter = on

    def forget_connections(self, flt: ConntrackFilter) -> int:
        self._maybe_fail("conntrack")
        self.forgotten.append(flt)
        return 0

    def announce(self, ifname: str, ip: str) -> None:
        self._maybe_fail("arping")
        self.announced.append((ifname, ip))


def _elem(value: Any) -> str:
    if isinstance(value, dict) and "prefix" in value:
        return f"{value['prefix']['addr']}/{value['prefix']['len']}"
    return str(value)
