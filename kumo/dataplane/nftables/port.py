"""The narrow port to nftables, conntrack and the bridge-netfilter switch.

``NftCommands`` runs the real tools (``nft -j``, ``conntrack``) in the host
namespace, through ``ip netns exec`` when the host is a named namespace
(the lab). ``FakeNft`` keeps kumo's sets in memory, checks the commands'
shape, and fails the next call on request, as the real one would.
"""

from __future__ import annotations

import errno
import json
import re
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

from kumo.dataplane import netns
from kumo.dataplane.nftables import lib as nftlib
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

    def list_set(self, family: str, name: str, table: str = TABLE) -> Json | None:
        """One set with its elements, or None when it (or its table) is absent.

        Far cheaper than ``list_sets`` beside a large ruleset: nft then
        fetches that set alone, not every chain and rule."""

    def has_table(self, family: str, table: str = TABLE) -> bool:
        """Whether the table exists (listing it: meant for small tables, or
        for ones about to be removed)."""

    def list_counters(self, table: str = TABLE) -> list[Json]:
        """Every named counter (``family``, ``name``, ``packets``, ``bytes``)
        of the tables named ``table``, in one read."""

    def set_bridge_netfilter(self, on: bool) -> None:
        """Whether bridged IPv4/IPv6 traffic passes through the inet hooks."""

    def forget_connections(self, flt: ConntrackFilter) -> int:
        """Delete matching conntrack entries; how many went."""

    def announce(self, ifname: str, ip: str) -> None:
        """Send gratuitous ARP for ``ip`` from ``ifname``."""


BRIDGE_NETFILTER_KEYS = ("bridge-nf-call-iptables", "bridge-nf-call-ip6tables")
"""The switches that hand bridged frames to the IP hooks (``/proc/sys/net/bridge``)."""


class NftCommands:
    def __init__(
        self, netns: str | None = None, *, timeout: float = 60.0, in_process: bool = True
    ) -> None:
        self.netns = netns
        self.timeout = timeout
        self.calls = 0
        self.lib = nftlib.load(netns) if in_process else None
        """libnftables in this process; None: the ``nft`` program is run."""

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

    def _nft(self, text: str, *, as_json: bool, argv: list[str] | None = None) -> str:
        """Run ``text`` (JSON or an nft script) in this process; without the
        library, the program: ``argv`` when given, else ``nft [-j] -f -``
        reading ``text``."""
        if self.lib is not None:
            self.calls += 1
            return self.lib.run(text, as_json=as_json)
        if argv is not None:
            return self._run(argv)
        return self._run(["nft", *(["-j"] if as_json else []), "-f", "-"], text)

    def apply(self, commands: list[Json]) -> None:
        self._nft(json.dumps({"nftables": commands}), as_json=True)

    def apply_script(self, script: str) -> None:
        self._nft(script, as_json=False)

    def list_sets(self, table: str = TABLE) -> list[Json]:
        out = self._nft(
            '{"nftables": [{"list": {"sets": {}}}]}',
            as_json=True,
            argv=["nft", "-j", "list", "sets"],
        )
        return [s for s in _listed_sets(out) if s.get("table") == table]

    def _list(self, what: Json, argv: list[str]) -> str | None:
        """``nft -j list ...`` of one object; None when it does not exist."""
        try:
            text = json.dumps({"nftables": [{"list": what}]})
            return self._nft(text, as_json=True, argv=["nft", "-j", "list", *argv])
        except DataplaneError as exc:
            if "No such file or directory" in exc.detail:
                return None
            raise

    def list_set(self, family: str, name: str, table: str = TABLE) -> Json | None:
        what = {"set": {"family": family, "table": table, "name": name}}
        out = self._list(what, ["set", family, table, name])
        return None if out is None else next(iter(_listed_sets(out)), None)

    def has_table(self, family: str, table: str = TABLE) -> bool:
        what = {"table": {"family": family, "name": table}}
        return self._list(what, ["table", family, table]) is not None

    def list_counters(self, table: str = TABLE) -> list[Json]:
        out = self._nft(
            '{"nftables": [{"list": {"counters": {}}}]}',
            as_json=True,
            argv=["nft", "-j", "list", "counters"],
        )
        items = json.loads(out or '{"nftables": []}').get("nftables", [])
        return [
            i["counter"] for i in items if "counter" in i and i["counter"].get("table") == table
        ]

    def announce(self, ifname: str, ip: str) -> None:
        self._run(["busybox", "arping", "-U", "-c", "2", "-w", "1", "-I", ifname, "-s", ip, ip],
                  ok=(0, 1))  # fmt: skip

    def set_bridge_netfilter(self, on: bool) -> None:
        """Written from this thread inside the namespace: running ``sysctl``
        there (``ip netns exec``) forked the agent, ~30 ms on a quiet
        machine and ~0.3 s on a loaded one with 1,000 instances, in every
        agent's first pass."""
        value = "1" if on else "0"
        try:
            with netns.entered(self.netns):
                for key in BRIDGE_NETFILTER_KEYS:
                    with open(f"/proc/sys/net/bridge/{key}", "w") as f:
                        f.write(value)
        except FileNotFoundError as exc:  # no namespace, or no br_netfilter in it
            if self.netns:
                raise NotPresent("sysctl", errno.ENOENT, str(exc)) from exc
            raise Rejected("sysctl", errno.EINVAL, str(exc)) from exc
        except OSError as exc:
            raise Rejected("sysctl", errno.EINVAL, str(exc)) from exc

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
    maps: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    """(family, map name) → key → the chain its verdict jumps to (or, in a
    data map, the value)."""
    chains: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    """(family, chain name) → its rules, each as the JSON of its expressions."""
    counters: dict[tuple[str, str], tuple[int, int]] = field(default_factory=dict)
    """(family, counter name) → (packets, bytes); a test may set the counts."""
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
        # Copy on write: a transaction copies the tables' indexes, and a set,
        # map or chain only when it changes it (copying 1,000 ports' chains
        # for each port's transaction cost more than the agent's own work).
        state = _Tables(
            set(self.tables),
            dict(self.sets),
            dict(self.table_of),
            dict(self.maps),
            dict(self.chains),
            dict(self.counters),
            dict(self._uses()),
        )
        for command in commands:
            state.run(command)
        self.tables, self.sets, self.table_of = state.tables, state.sets, state.table_of
        self.maps, self.chains, self.counters = state.maps, state.chains, state.counters
        self._used = (self.chains, state.uses)
        self.transactions.append(commands)

    _used: tuple[dict[tuple[str, str], list[str]], dict[tuple[str, str], int]] | None = field(
        default=None, repr=False, compare=False
    )
    """``chains`` as the last transaction left it, and its rules' uses of
    named sets and maps (see ``_uses``)."""

    def _uses(self) -> dict[tuple[str, str], int]:
        """(family, "@name") → how many rules name it: counted as the rules
        come and go, counted again when ``chains`` was replaced from outside."""
        known = self._used
        if known is not None and known[0] is self.chains:
            return known[1]
        uses: dict[tuple[str, str], int] = {}
        for (family, _), rules in self.chains.items():
            for rule in rules:
                for ref in _named(rule):
                    uses[(family, ref)] = uses.get((family, ref), 0) + 1
        return uses

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

    def list_set(self, family: str, name: str, table: str = TABLE) -> Json | None:
        self._maybe_fail("nft")
        if self.table_of.get((family, name), TABLE) != table or (family, name) not in self.sets:
            return None
        body: Json = {"family": family, "table": table, "name": name}
        if self.sets[(family, name)]:
            body["elem"] = sorted(self.sets[(family, name)])
        return body

    def has_table(self, family: str, table: str = TABLE) -> bool:
        self._maybe_fail("nft")
        if table == TABLE:
            return family in self.tables
        return any(k[0] == family and t == table for k, t in self.table_of.items())

    def list_counters(self, table: str = TABLE) -> list[Json]:
        self._maybe_fail("nft")
        return [
            {"family": family, "table": table, "name": name, "packets": p, "bytes": b}
            for (family, name), (p, b) in sorted(self.counters.items())
        ]

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


@dataclass
class _Tables:
    """One transaction's working copy of FakeNft's tables, failing where
    the kernel does: objects in a missing table, rules in a missing chain,
    deleting what is not there or what is still referenced."""

    tables: set[str]
    sets: dict[tuple[str, str], set[str]]
    table_of: dict[tuple[str, str], str]
    maps: dict[tuple[str, str], dict[str, str]]
    chains: dict[tuple[str, str], list[str]]
    counters: dict[tuple[str, str], tuple[int, int]]
    uses: dict[tuple[str, str], int]
    """(family, "@name") → the rules that name it."""
    owned: set[tuple[str, tuple[str, str]]] = field(default_factory=set)
    """(store, key) of the sets, maps and chains this transaction copied
    (the others are still the committed state's own objects)."""

    def _own(self, store: str, key: tuple[str, str]) -> Any:
        """The transaction's own copy of one set, map or chain."""
        table: dict[tuple[str, str], Any] = getattr(self, store)
        if (store, key) not in self.owned:
            table[key] = table[key].copy()
            self.owned.add((store, key))
        return table[key]

    def _drop_rules(self, family: str, rules: list[str]) -> None:
        for rule in rules:
            for ref in _named(rule):
                self.uses[(family, ref)] -= 1

    def run(self, command: Json) -> None:
        ((verb, body),) = command.items()
        ((kind, obj),) = body.items()
        family = obj.get("family", "")
        if kind == "table":
            if verb == "add":
                self.tables.add(family)
            elif family not in self.tables:
                raise NotPresent("nft", errno.ENOENT, f"table {family} {TABLE}")
            else:
                self.tables.discard(family)
                for store in (self.sets, self.maps, self.chains, self.counters, self.table_of):
                    for key in [k for k in store if k[0] == family]:
                        del store[key]
                for key in [k for k in self.uses if k[0] == family]:
                    del self.uses[key]
            return
        if family not in self.tables:
            raise NotPresent("nft", errno.ENOENT, f"table {family} {TABLE}")
        key = (family, obj.get("name") or obj.get("chain", ""))
        if kind == "set" and verb == "add":
            self.sets[key] = {_elem(e) for e in obj.get("elem", [])}
            self.owned.add(("sets", key))
            self.table_of[key] = obj.get("table", TABLE)
        elif kind == "set" and verb == "delete":
            self._need(self.sets, key, "set")
            self._unused("@" + key[1], family, f"set {key[1]}")
            del self.sets[key]
            self.table_of.pop(key, None)
        elif kind == "counter" and verb == "add":
            self.counters.setdefault(key, (0, 0))
        elif kind == "counter" and verb == "delete":
            self._need(self.counters, key, "counter")
            if any(key[1] in m.values() for (f, _), m in self.maps.items() if f == family):
                raise Rejected("nft", errno.EBUSY, f"counter {key[1]} is in a map")
            del self.counters[key]
        elif kind == "map" and verb == "add":
            if key not in self.maps:
                self.maps[key] = {}
                self.owned.add(("maps", key))
        elif kind == "chain" and verb == "add":
            if key not in self.chains:
                self.chains[key] = []
                self.owned.add(("chains", key))
        elif kind == "chain" and verb == "flush":
            self._drop_rules(family, self._need(self.chains, key, "chain"))
            self.chains[key] = []
            self.owned.add(("chains", key))
        elif kind == "chain" and verb == "delete":
            self._need(self.chains, key, "chain")
            if self.chains[key]:
                raise Rejected("nft", errno.EBUSY, f"chain {key[1]} is not empty")
            if any(key[1] in m.values() for (f, _), m in self.maps.items() if f == family):
                raise Rejected("nft", errno.EBUSY, f"chain {key[1]} is in a map")
            del self.chains[key]
        elif kind == "rule" and verb == "add":
            self._need(self.chains, key, "chain")
            text = json.dumps(obj.get("expr", []))
            for ref in _references(obj.get("expr", [])):
                if (family, ref) not in self.sets and (family, ref) not in self.maps:
                    raise NotPresent("nft", errno.ENOENT, f"set {ref}")
            self._own("chains", key).append(text)
            for ref in _named(text):
                self.uses[(family, ref)] = self.uses.get((family, ref), 0) + 1
        elif kind == "element":
            self._element(verb, key, obj["elem"])

    def _element(self, verb: str, key: tuple[str, str], elems: list[Any]) -> None:
        if key in self.maps:
            entries = self._own("maps", key)
            for e in elems:
                if verb == "add":
                    value = e[1]["jump"]["target"] if isinstance(e[1], dict) else str(e[1])
                    if entries.get(str(e[0]), value) != value:  # the same again is no error
                        raise Rejected("nft", errno.EEXIST, f"element {e[0]} exists")
                    entries[str(e[0])] = value
                elif str(e) not in entries:
                    raise NotPresent("nft", errno.ENOENT, f"element {e}")
                else:
                    del entries[str(e)]
            return
        self._need(self.sets, key, "set")
        members = self._own("sets", key)
        for e in elems:
            if verb == "add":
                members.add(_elem(e))
            elif _elem(e) not in members:
                raise NotPresent("nft", errno.ENOENT, f"element {e}")
            else:
                members.discard(_elem(e))

    @staticmethod
    def _need(store: dict[tuple[str, str], Any], key: tuple[str, str], what: str) -> Any:
        if key not in store:
            raise NotPresent("nft", errno.ENOENT, f"{what} {key[1]}")
        return store[key]

    def _unused(self, ref: str, family: str, what: str) -> None:
        if self.uses.get((family, ref), 0) > 0:
            raise Rejected("nft", errno.EBUSY, f"{what} is in use")


_NAMED = re.compile(r'"(@[^"]*)"')


@lru_cache(maxsize=1 << 16)
def _named(rule: str) -> tuple[str, ...]:
    """The ``@name`` strings a rule's JSON holds, once per mention."""
    return tuple(_NAMED.findall(rule))


def _references(exprs: Any) -> list[str]:
    """Named sets and maps an expression list refers to (``@name``)."""
    out: list[str] = []
    if isinstance(exprs, dict):
        for v in exprs.values():
            out += _references(v)
    elif isinstance(exprs, list):
        for v in exprs:
            out += _references(v)
    elif isinstance(exprs, str) and exprs.startswith("@"):
        out.append(exprs[1:])
    return out


def _listed_sets(out: str) -> list[Json]:
    """The sets in ``nft -j list`` output."""
    items = json.loads(out or '{"nftables": []}').get("nftables", [])
    return [i["set"] for i in items if "set" in i]


def _elem(value: Any) -> str:
    if isinstance(value, dict) and "prefix" in value:
        return f"{value['prefix']['addr']}/{value['prefix']['len']}"
    return str(value)
