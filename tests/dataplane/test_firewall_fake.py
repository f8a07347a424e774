"""The firewall reconciler against the in-memory nftables: rewrite versus
element updates, failures and retries, removal, conntrack cleanup."""

from __future__ import annotations

from typing import Any

from kumo.compiler import ClusterView, HostPlan, compile_host, names
from kumo.compiler.plan import HOST_NS
from kumo.dataplane.driver import Dataplane
from kumo.dataplane.fake import FakeKernel
from kumo.dataplane.nftables import render
from kumo.dataplane.nftables.port import FakeNft
from tests.compiler import states as s

G1 = "91000000-0000-4000-8000-000000000001"


def bodies(
    members: list[str],
    rules: list[dict[str, Any]] | None = None,
    *,
    secure: bool = True,
    stateful: bool = True,
) -> ClusterView:
    rules = rules if rules is not None else [
        {"id": "r1", "direction": "ingress", "ethertype": "IPv4", "remote_group_id": G1},
        {"id": "r2", "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
         "port_range_min": 22, "port_range_max": 22},
    ]  # fmt: skip
    ports = [
        s.port(pid, s.NET1, f"fa:16:3e:00:00:0{i}", "host-a" if i == 1 else "host-b",
               [("s1", f"10.0.0.1{i}")], port_security_enabled=secure,
               security_groups=[G1] if pid in members or i == 1 else [])
        for i, pid in enumerate([s.P1, s.P2, s.P3], start=1)
    ]  # fmt: skip
    return ClusterView.from_bodies(
        [s.network(s.NET1, seg=101)],
        [s.subnet("s1", s.NET1, "10.0.0.0/24", "10.0.0.1")],
        ports,
        s.AGENTS,
        [{"id": G1, "stateful": stateful, "security_group_rules": rules}],
    )


def bridge_netfilter(dp: Dataplane) -> bool | None:
    """The bridge-netfilter switch of NET1's bridge on host-a."""
    links = {x.name: x for x in dp.port.raw.list_links(HOST_NS)}
    return links[names.bridge_name(s.NET1)].netfilter


def test_only_bridges_of_networks_with_filtered_ports_reach_conntrack() -> None:
    nft, dp = setup()
    unfiltered = bodies([s.P2], secure=False)
    assert dp.apply(compile_host("host-a", unfiltered)).ok
    assert bridge_netfilter(dp) is False
    assert dp.apply(compile_host("host-a", bodies([s.P2]))).ok
    assert bridge_netfilter(dp) is True
    assert dp.apply(compile_host("host-a", unfiltered)).ok
    assert bridge_netfilter(dp) is False and nft.tables == set()


def setup() -> tuple[FakeNft, Dataplane]:
    nft = FakeNft()
    return nft, Dataplane(FakeKernel(), "host-a", nft=nft)


def test_first_pass_writes_both_tables_and_wires_the_port() -> None:
    nft, dp = setup()
    result = dp.apply(compile_host("host-a", bodies([s.P2])))
    assert result.ok and result.wired_ports == {s.P1}
    assert nft.tables == {"bridge", "inet"}
    # conntrack sees the filtered network's bridge only, not the whole namespace
    assert not nft.bridge_netfilter and bridge_netfilter(dp) is True
    assert nft.sets[("inet", f"g4_{G1}")] == {"10.0.0.11", "10.0.0.12"}
    assert dp.firewall.rewrites == 1


def test_membership_change_is_an_element_update() -> None:
    nft, dp = setup()
    dp.apply(compile_host("host-a", bodies([s.P2])))
    result = dp.apply(compile_host("host-a", bodies([s.P3])))
    assert result.ok
    assert dp.firewall.rewrites == 1 and dp.firewall.element_updates == 1
    (last,) = nft.transactions[-1:]
    assert [next(iter(c)) for c in last] == ["delete", "add"]
    assert nft.sets[("inet", f"g4_{G1}")] == {"10.0.0.11", "10.0.0.13"}
    # the connections of the member that left are forgotten (remote-group rule)
    assert any(f.dst == "10.0.0.11" and f.zone == 101 for f in nft.forgotten)


def test_removed_rule_forgets_its_connections_and_changes_only_the_ports_chains() -> None:
    nft, dp = setup()
    dp.apply(compile_host("host-a", bodies([s.P2])))
    (old,) = dp.plan.firewall.ports
    only_group = [{"id": "r1", "direction": "ingress", "ethertype": "IPv4", "remote_group_id": G1}]
    dp.apply(compile_host("host-a", bodies([s.P2], only_group)))
    assert dp.firewall.rewrites == 1 and dp.firewall.port_updates == 1
    (port,) = dp.plan.firewall.ports
    assert port.rules_digest != old.rules_digest
    # the port's dispatch moves to its new rules' chains; the old pair goes
    deleted = {
        c["delete"]["chain"]["name"] for c in nft.transactions[-1] if "chain" in c.get("delete", {})
    }
    assert deleted == {f"e_{old.rules_digest}", f"i_{old.rules_digest}"}
    assert nft.maps[("inet", "ingress")][str(port.index)] == f"i_{port.rules_digest}"
    assert nft.maps[("inet", "egress")][str(port.index << 16)] == f"e_{port.rules_digest}"
    assert len(nft.chains[("inet", f"i_{port.rules_digest}")]) == len(
        render.port_chain(port, "ingress")
    )
    assert {c for c in nft.chains if c[0] == "inet" and c[1][:2] in ("e_", "i_")} == {
        ("inet", f"e_{port.rules_digest}"), ("inet", f"i_{port.rules_digest}")
    }  # fmt: skip
    (flt,) = nft.forgotten
    assert (flt.protocol, flt.dport, flt.dst, flt.zone) == (6, 22, "10.0.0.11", 101)


def test_tables_removed_behind_the_agents_back_come_back() -> None:
    nft, dp = setup()
    plan = compile_host("host-a", bodies([s.P2]))
    dp.apply(plan)
    nft.apply(render.remove_tables())
    dp.resync()
    assert dp.apply(plan).ok
    assert nft.tables == {"bridge", "inet"}


def test_failure_is_retried_and_the_port_waits() -> None:
    nft, dp = setup()
    nft.fail_next = 1
    result = dp.apply(compile_host("host-a", bodies([s.P2])))
    assert not result.ok and s.P1 in result.unwired_ports
    assert result.retry_after is not None
    result = dp.retry()
    assert result.ok and result.wired_ports == {s.P1}


def test_no_filtered_ports_removes_the_tables_and_turns_bridge_netfilter_off() -> None:
    nft, dp = setup()
    dp.apply(compile_host("host-a", bodies([s.P2])))
    assert dp.apply(HostPlan(host="host-a")).ok
    assert nft.tables == set() and nft.sets == {} and not nft.bridge_netfilter


class CountingNft(FakeNft):
    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def list_sets(self, table: str = render.TABLE) -> list[dict[str, Any]]:
        self.reads += 1
        return super().list_sets(table)

    def list_set(self, family: str, name: str, table: str = render.TABLE) -> dict[str, Any] | None:
        self.reads += 1
        return super().list_set(family, name, table)


def test_event_passes_change_the_tables_without_reading_them_back() -> None:
    nft = CountingNft()
    dp = Dataplane(FakeKernel(), "host-a", nft=nft)
    assert dp.apply(compile_host("host-a", bodies([s.P2]))).ok
    reads = nft.reads
    result = dp.apply(compile_host("host-a", bodies([s.P3])))
    assert result.ok and dp.firewall.element_updates == 1
    assert nft.sets[("inet", f"g4_{G1}")] == {"10.0.0.11", "10.0.0.13"}
    assert dp.apply(compile_host("host-a", bodies([s.P3]))).ok
    assert nft.reads == reads
    # A resync reads the tables (two fingerprints, one group's address and
    # prefix sets) and finds them right.
    dp.resync()
    transactions = len(nft.transactions)
    assert dp.apply(compile_host("host-a", bodies([s.P3]))).ok
    assert nft.reads == reads + 4
    assert len(nft.transactions) == transactions


def test_an_event_pass_that_fails_on_drift_is_repaired_by_the_next_full_pass() -> None:
    nft, dp = setup()
    assert dp.apply(compile_host("host-a", bodies([s.P2]))).ok
    nft.sets[("inet", f"g4_{G1}")].discard("10.0.0.12")  # behind the agent's back
    failed = dp.apply(compile_host("host-a", bodies([s.P3])))
    assert not failed.ok  # deleting the missing element fails the transaction
    result = dp.retry()
    assert result.ok
    assert nft.sets[("inet", f"g4_{G1}")] == {"10.0.0.11", "10.0.0.13"}


def test_a_restarted_agent_keeps_matching_tables_and_sets_the_switch() -> None:
    nft, dp = setup()
    assert dp.apply(compile_host("host-a", bodies([s.P2]))).ok
    nft.bridge_netfilter = True  # as a new namespace starts
    restarted = Dataplane(dp.port.raw, "host-a", nft=nft)
    result = restarted.apply(compile_host("host-a", bodies([s.P3])))
    assert result.ok and not nft.bridge_netfilter
    assert nft.sets[("inet", f"g4_{G1}")] == {"10.0.0.11", "10.0.0.13"}
    assert len(nft.transactions) == 2  # the first pass's rewrite, then elements only


def crowd(count: int, rules: list[dict[str, Any]] | None = None) -> ClusterView:
    """``count`` filtered ports on host-a, all in group G1."""
    ports = [
        s.port(f"b{i:07d}-0000-4000-8000-000000000000", s.NET1, f"fa:16:3e:01:{i >> 8:02x}:{i & 255:02x}",
               "host-a", [("s1", f"10.0.{i >> 8}.{i & 255}")], port_security_enabled=True,
               security_groups=[G1])
        for i in range(1, count + 1)
    ]  # fmt: skip
    rules = rules if rules is not None else [
        {"id": "r1", "direction": "ingress", "ethertype": "IPv4", "remote_group_id": G1},
    ]  # fmt: skip
    return ClusterView.from_bodies(
        [s.network(s.NET1, seg=101)],
        [s.subnet("s1", s.NET1, "10.0.0.0/16", "10.0.0.1")],
        ports,
        s.AGENTS,
        [{"id": G1, "security_group_rules": rules}],
    )


def test_a_port_joining_or_leaving_changes_only_its_own_chains_and_elements() -> None:
    nft, dp = setup()
    assert dp.apply(compile_host("host-a", crowd(50))).ok
    before = {p.port_id: p.index for p in dp.plan.firewall.ports}
    chains = set(nft.chains)
    assert dp.apply(compile_host("host-a", crowd(51))).ok
    assert dp.firewall.rewrites == 1 and dp.firewall.port_updates == 1
    after = {p.port_id: p.index for p in dp.plan.firewall.ports}
    assert {k: after[k] for k in before} == before  # nobody renumbered
    (new,) = set(after) - set(before)
    i = after[new]
    assert set(nft.chains) - chains == {("bridge", f"s{i}")}  # its rules' chains are shared
    digest = dp.plan.firewall.ports[0].rules_digest
    assert nft.maps[("inet", "ingress")][str(i)] == f"i_{digest}"
    assert nft.maps[("bridge", "in_port")][dp.plan.firewall.ports[0].ifname].startswith("s")
    joined = next(p for p in dp.plan.firewall.ports if p.port_id == new)
    assert nft.maps[("bridge", "out_mark")][joined.ifname] == str(i)
    last = nft.transactions[-1]
    assert not any("table" in next(iter(c.values())) for c in last)
    # its own chain, rules, dispatch, its counting elements, one set element
    assert len(last) < 29
    assert not any("counter" in next(iter(c.values())) for c in last)  # no named objects
    assert str(i << 16) in nft.sets[("bridge", "tx_cnt")]
    assert str(i) in nft.sets[("bridge", "rx_cnt")]
    # and leaving removes them again, with the dispatch elements
    assert dp.apply(compile_host("host-a", crowd(50))).ok
    assert set(nft.chains) == chains
    assert str(i) not in nft.maps[("inet", "ingress")]
    assert joined.ifname not in nft.maps[("bridge", "out_mark")]
    assert str(i << 16) not in nft.sets[("bridge", "tx_cnt")]
    assert str(i) not in nft.sets[("bridge", "rx_cnt")]
    assert dp.firewall.rewrites == 1 and dp.firewall.port_updates == 2


def test_a_full_pass_continues_from_the_applied_tables_without_rewriting() -> None:
    nft, dp = setup()
    assert dp.apply(compile_host("host-a", crowd(5))).ok
    dp.resync()  # a recent rewrite: the resync reads back but does not rewrite
    assert dp.apply(compile_host("host-a", crowd(6))).ok
    assert dp.firewall.rewrites == 1 and dp.firewall.port_updates == 1
    # once the rewrite interval has passed, a resync rewrites the tables
    dp.firewall.rewritten_at = -dp.firewall.rewrite_interval
    dp.resync()
    assert dp.apply(compile_host("host-a", crowd(6))).ok
    assert dp.firewall.rewrites == 2


def test_after_a_failed_change_the_next_pass_starts_from_what_the_kernel_holds() -> None:
    nft, dp = setup()
    assert dp.apply(compile_host("host-a", crowd(5))).ok
    nft.fail_next = 1
    assert not dp.apply(compile_host("host-a", crowd(7))).ok
    result = dp.retry()
    assert result.ok and len(result.wired_ports) == 7
    assert dp.firewall.rewrites == 1
    assert len([c for c in nft.chains if c[1].startswith("s")]) == 7
    assert len(nft.maps[("inet", "ingress")]) == 7


def test_ports_with_the_same_rules_share_one_pair_of_chains() -> None:
    nft, dp = setup()
    assert dp.apply(compile_host("host-a", crowd(30))).ok
    rule_chains = {c for c in nft.chains if c[0] == "inet" and c[1][:2] in ("e_", "i_")}
    assert len(rule_chains) == 2
    # a rule added to the group: one new pair, every port re-pointed, the old pair gone
    more = [
        {"id": "r1", "direction": "ingress", "ethertype": "IPv4", "remote_group_id": G1},
        {"id": "r2", "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
         "port_range_min": 22, "port_range_max": 22},
    ]  # fmt: skip
    assert dp.apply(compile_host("host-a", crowd(30, more))).ok
    assert dp.firewall.rewrites == 1
    (digest,) = {p.rules_digest for p in dp.plan.firewall.ports}
    now = {c for c in nft.chains if c[0] == "inet" and c[1][:2] in ("e_", "i_")}
    assert now == {("inet", f"e_{digest}"), ("inet", f"i_{digest}")}
    assert set(nft.maps[("inet", "ingress")].values()) == {f"i_{digest}"}
    assert len(nft.maps[("inet", "ingress")]) == 30
    added = [c for c in nft.transactions[-1] if "chain" in c.get("add", {})]
    assert len(added) == 2


def test_stateless_ports_are_left_untracked_by_element_updates() -> None:
    nft, dp = setup()
    assert dp.apply(compile_host("host-a", bodies([s.P2]))).ok
    (port,) = dp.plan.firewall.ports
    assert not port.stateless and nft.sets[("bridge", render.STATELESS_IF)] == set()
    assert dp.apply(compile_host("host-a", bodies([s.P2], stateful=False))).ok
    (port,) = dp.plan.firewall.ports
    assert port.stateless and dp.firewall.rewrites == 1
    assert nft.sets[("bridge", render.STATELESS_IF)] == {port.ifname}
    assert nft.sets[("bridge", render.STATELESS_MAC)] == {port.mac}
    assert dp.apply(compile_host("host-a", bodies([s.P2]))).ok
    assert nft.sets[("bridge", render.STATELESS_IF)] == set()
    assert nft.sets[("bridge", render.STATELESS_MAC)] == set()
    assert dp.firewall.rewrites == 1


def _anonymous_sets(value: Any) -> int:
    """How many anonymous sets (``{"set": [...]}``) an expression tree holds."""
    if isinstance(value, dict):
        here = 1 if isinstance(value.get("set"), list) else 0
        return here + sum(_anonymous_sets(v) for v in value.values())
    if isinstance(value, list):
        return sum(_anonymous_sets(v) for v in value)
    return 0


def test_a_joining_ports_commands_add_nothing_libnftables_reads_per_port() -> None:
    # libnftables reads every named object, anonymous set and interval set
    # element into its cache before a transaction: a port must add none
    nft, dp = setup()
    assert dp.apply(compile_host("host-a", crowd(50))).ok
    assert dp.apply(compile_host("host-a", crowd(51))).ok
    last = nft.transactions[-1]
    kinds = {kind for c in last for kind in next(iter(c.values()))}
    assert kinds <= {"chain", "rule", "element", "set"}
    sets = [b["set"]["name"] for c in last for b in c.values() if "set" in b]
    assert sets and all(x.startswith(render.FIREWALL_FINGERPRINT) for x in sets)  # the plan's
    assert _anonymous_sets(last) == 0
    # the joining address goes to the group's hash set, not its interval set
    (added,) = [c["add"]["element"] for c in last if c.get("add", {}).get("element", {}).get(
        "name", "").startswith("g4_")]  # fmt: skip
    assert added["name"] == f"g4_{G1}" and added["elem"] == ["10.0.0.51"]
    everything = render.ruleset(dp.plan.firewall)
    interval = [c["add"]["set"] for c in everything if c.get("add", {}).get("set", {}).get("flags")]
    assert [x["name"] for x in interval] == [f"g4_{G1}_n"] and "elem" not in interval[0]


def test_element_changes_put_addresses_and_prefixes_in_their_sets() -> None:
    commands = render.element_changes(
        "g4_x", frozenset({"10.1.0.5", "10.2.0.0/16"}), frozenset({"10.1.0.7"})
    )
    assert commands == [
        {"delete": {"element": {"family": "inet", "table": "kumo", "name": "g4_x",
                                "elem": ["10.1.0.7"]}}},
        {"add": {"element": {"family": "inet", "table": "kumo", "name": "g4_x",
                             "elem": ["10.1.0.5"]}}},
        {"add": {"element": {"family": "inet", "table": "kumo", "name": "g4_x_n",
                             "elem": [{"prefix": {"addr": "10.2.0.0", "len": 16}}]}}},
    ]  # fmt: skip


def test_port_counters_are_named_by_port_index_and_direction() -> None:
    # as ``nft -j list set`` gives a set with per-element counters
    listed = [
        {"family": "bridge", "name": "tx_cnt", "table": "kumo", "type": "mark",
         "elem": [{"elem": {"val": 7 << 16, "counter": {"packets": 3, "bytes": 300}}}]},
        {"family": "bridge", "name": "rx_cnt", "table": "kumo", "type": "mark",
         "elem": [{"elem": {"val": 7, "counter": {"packets": 2, "bytes": 200}}}, 9]},
    ]  # fmt: skip
    assert render.port_counters(listed) == [
        {"family": "bridge", "table": "kumo", "name": "tx7", "packets": 3, "bytes": 300},
        {"family": "bridge", "table": "kumo", "name": "rx7", "packets": 2, "bytes": 200},
        {"family": "bridge", "table": "kumo", "name": "rx9", "packets": 0, "bytes": 0},
    ]
