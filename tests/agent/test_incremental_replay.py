"""Event passes against full passes: a random stream of watch events goes
through the agent's cache, compiler and dataplane pass by pass (the
compiler answering from what it remembers, the reconcilers narrowed to
what changed); after every event the kernel must hold exactly what a
fresh agent, compiling the same objects from scratch and applying them
in one full pass, would put there.

Replayed with several seeds: ports come and go across networks, move
between hosts, change addresses and groups; networks and the security
group change under them. The ports carry what a lab's do (a project,
a ``dns_assignment``, some a QoS policy) and their networks a DNS domain
that changes, so the DNS zones, the DHCP leases and the QoS, patched per
changed port, are compared with those built whole."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import pytest

from kumo.agent.cache import Cache
from kumo.compiler import ClusterView, compile_host, dhcp, dns, firewall, metadata, qos
from kumo.compiler import compile as compile_module
from kumo.compiler.memo import LastAnswer
from kumo.compiler.plan import HostPlan
from kumo.dataplane.driver import Dataplane
from kumo.dataplane.fake import FakeKernel
from kumo.dataplane.nftables.port import FakeNft

HOST = "host-a"
OTHER = "host-b"
SG = "5a000000-0000-4000-8000-000000000001"
SG2 = "5a000000-0000-4000-8000-000000000002"
NETS = [f"0000000{i}-0000-4000-8000-0000000000e0" for i in range(3)]


PROJECTS = ("5b000000-0000-4000-8000-000000000001", "5b000000-0000-4000-8000-000000000002")
QOS = (
    [{"id": "q1", "type": "bandwidth_limit", "direction": "egress", "max_kbps": 10_000}],
    [{"id": "q2", "type": "dscp_marking", "dscp_mark": 26},
     {"id": "q3", "type": "packet_rate_limit", "direction": "ingress", "max_kpps": 5}],
)  # fmt: skip


def _network(i: int, mtu: int = 1450, domain: str = "") -> dict[str, Any]:
    return {
        "id": NETS[i], "provider:network_type": "vxlan", "provider:segmentation_id": 100 + i,
        "mtu": mtu, "admin_state_up": True, "dns_domain": domain,
    }  # fmt: skip


def _subnet(i: int) -> dict[str, Any]:
    return {
        "id": f"sb{i}", "network_id": NETS[i], "cidr": f"10.{i}.0.0/16",
        "gateway_ip": f"10.{i}.0.1", "ip_version": 4, "enable_dhcp": True,
    }  # fmt: skip


def _group(rules: int) -> dict[str, Any]:
    every = [
        {"id": "r1", "direction": "ingress", "ethertype": "IPv4", "remote_group_id": SG},
        {"id": "r2", "direction": "egress", "ethertype": "IPv4"},
        {"id": "r3", "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
         "port_range_min": 22, "port_range_max": 22},
    ]  # fmt: skip
    return {"id": SG, "security_group_rules": every[:rules]}


def _second_group(stateful: bool, rules: int) -> dict[str, Any]:
    """A group whose rules name the first group and itself (remote-group sets)."""
    every = [
        {"id": "s1", "direction": "ingress", "ethertype": "IPv4", "remote_group_id": SG},
        {"id": "s2", "direction": "ingress", "ethertype": "IPv4", "remote_group_id": SG2},
        {"id": "s3", "direction": "egress", "ethertype": "IPv4", "protocol": "udp"},
    ]  # fmt: skip
    return {"id": SG2, "stateful": stateful, "security_group_rules": every[:rules]}


def _port(
    n: int, net: int, host: str, ip: int, *, secured: bool, up: bool, extra: int = 0
) -> dict[str, Any]:
    """``extra``: 1 also in the second group, 2 with an allowed address pair
    (a network: the group's set then holds networks), 3 both; its project,
    host name and QoS policy follow from ``n``, ``ip`` and ``extra``."""
    groups = [SG, SG2] if extra & 1 else [SG]
    pairs = [{"ip_address": f"10.9.{n & 0xFF}.0/24"}] if extra & 2 else []
    address = f"10.{net}.{ip >> 8}.{ip & 0xFF}"
    name = f"vm{ip % 7}"  # two ports may share a name: records sort by more than it
    return {
        "id": f"{n:08x}-b000-4000-8000-000000000000",
        "network_id": NETS[net],
        "mac_address": f"fa:16:3e:00:{n >> 8:02x}:{n & 0xFF:02x}",
        "fixed_ips": [{"subnet_id": f"sb{net}", "ip_address": address}],
        "binding:host_id": host,
        "device_owner": "compute:nova",
        "admin_state_up": up,
        "security_groups": groups if secured else [],
        "port_security_enabled": secured,
        "allowed_address_pairs": pairs,
        "status": "DOWN",
        "project_id": PROJECTS[ip % 2] if n % 6 else "",
        "dns_assignment": [{"hostname": name, "ip_address": address, "fqdn": f"{name}.cloud."}],
        "kumo_qos_rules": QOS[extra % 2] if (n + ip) % 3 == 0 else [],
    }


def _event(kind: str, body: dict[str, Any], op: str = "update") -> dict[str, Any]:
    return {"type": "event", "op": op, "kind": kind, "object": body, "revision": 0}


def _start() -> list[dict[str, Any]]:
    agents = [
        {"kind": "agent", "id": "a1", "host": HOST, "configurations": {"tunnel_ip": "192.0.2.1"}},
        {"kind": "agent", "id": "a2", "host": OTHER, "configurations": {"tunnel_ip": "192.0.2.2"}},
    ]
    objects = [
        *agents,
        {"kind": "security_group", **_group(2)},
        {"kind": "security_group", **_second_group(True, 2)},
    ]
    for i in range(len(NETS)):
        objects += [{"kind": "network", **_network(i)}, {"kind": "subnet", **_subnet(i)}]
    for n in range(12):
        body = _port(n, n % 3, HOST if n % 4 else OTHER, 10 + n, secured=n % 5 != 0, up=True)
        objects.append({"kind": "port", **body})
    return objects


def _random_event(rng: random.Random, ports: dict[int, dict[str, Any]]) -> dict[str, Any]:
    roll = rng.random()
    if roll < 0.35 or not ports:
        n = max(ports, default=100) + 1
        body = _port(n, rng.randrange(3), rng.choice((HOST, HOST, OTHER)), 100 + n,
                     secured=rng.random() < 0.8, up=True, extra=rng.choice((0, 0, 1, 2, 3)))  # fmt: skip
        ports[n] = body
        return _event("port", body, "create")
    n = rng.choice(sorted(ports))
    if roll < 0.55:
        return _event("port", ports.pop(n), "delete")
    if roll < 0.85:
        old = ports[n]
        body = _port(
            n,
            rng.randrange(3),
            rng.choice((HOST, OTHER)),
            rng.randrange(2, 4000),
            secured=rng.random() < 0.8,
            up=rng.random() < 0.9,
            extra=rng.choice((0, 0, 1, 2, 3)),
        ) | {"mac_address": old["mac_address"]}
        ports[n] = body
        return _event("port", body)
    if roll < 0.89:
        return _event("security_group", _group(rng.randrange(1, 4)))
    if roll < 0.93:
        return _event("security_group", _second_group(rng.random() < 0.7, rng.randrange(1, 4)))
    return _event(
        "network",
        _network(rng.randrange(3), rng.choice((1400, 1450)), rng.choice(("", "", "d.example."))),
    )


def _kernel(fake: FakeKernel, nft: FakeNft) -> dict[str, Any]:
    """What the fake kernel and nftables hold, without what the kernel
    chooses itself (interface indexes, MACs it made up)."""
    state: dict[str, Any] = {}
    for name, ns in fake.namespaces.items():
        links = {n: dataclasses.replace(x.state, mac="", index=0) for n, x in ns.links.items()}
        state[name] = (
            links,
            sorted(ns.addresses), sorted(ns.routes.items()), sorted(ns.neighbours.items()),
            sorted(ns.fdb), sorted(ns.sysctls.items()),
        )  # fmt: skip
    state["nft"] = (
        sorted(nft.tables),
        {k: sorted(v) for k, v in nft.sets.items()},
        nft.maps,
        nft.chains,
    )
    return state


def _same_view(patched: ClusterView, whole: ClusterView) -> None:
    """A view patched from the last one (with its indexes) is the view made
    from scratch, in the same order."""
    assert patched == whole
    for kind in ("networks", "subnets", "ports", "hosts", "security_groups"):
        assert list(getattr(patched, kind)) == list(getattr(whole, kind))
    for host in (HOST, OTHER):
        assert patched.ports_on(host) == whole.ports_on(host)
        assert patched.local_ports_by_network(host) == whole.local_ports_by_network(host)
    for network_id in NETS:
        assert patched.ports_of(network_id) == whole.ports_of(network_id)
        assert patched.subnets_of(network_id) == whole.subnets_of(network_id)
    for group_id in (SG, SG2):
        assert patched.ports_in_group(group_id) == whole.ports_in_group(group_id)


def _fresh_plan(cache: Cache) -> HostPlan:
    """The plan of a compiler that remembers nothing (a fresh process)."""
    remembered = [
        compile_module._INSTANCES, compile_module._PORTS, metadata._PARTS,
        compile_module._INSTANCE_PORTS,
        compile_module._SORTED_PORTS, compile_module._VM_PORTS, compile_module._REMOTE,
    ]  # fmt: skip
    held: list[dict[Any, Any]] = [
        firewall._STATES, compile_module._NETWORK_PARTS, metadata._NETWORK_CLIENTS,
        dhcp._LEASE_STATES, dhcp._HOST_LEASES, dns._ZONE_STATES, qos._STATES,
        compile_module._LAST_PLANS,
    ]  # fmt: skip
    saved = [m._last for m in remembered]
    for memo in remembered:
        memo._last = {}
    kept = [dict(d) for d in held]
    for d in held:
        d.clear()
    try:
        bodies = {k: list(cache.bodies(k).values()) for k in ("network", "subnet", "port")}
        view = ClusterView.from_bodies(
            bodies["network"],
            bodies["subnet"],
            bodies["port"],
            list(cache.bodies("agent").values()),
            list(cache.bodies("security_group").values()),
        )
        return compile_host(HOST, view)
    finally:
        for memo, last in zip(remembered, saved, strict=True):
            memo._last = last
        for d, before in zip(held, kept, strict=True):
            d.clear()
            d.update(before)


def _whole_parts(plan: HostPlan, view: ClusterView) -> None:
    """The plan's DNS zones, DHCP leases and QoS, patched per changed port,
    are those built whole from the same view."""
    zones = set()
    for endpoint in plan.metadata:
        network = view.networks[endpoint.network_id]
        zones.add(dns.zone(endpoint, network, view.ports_of(network.id)))
    assert plan.dns == frozenset(zones)
    assert [z.records for z in sorted(plan.dns)] == [z.records for z in sorted(zones)]
    leases: set[Any] = set()
    for network_id, ports in view.local_ports_by_network(HOST).items():
        network = view.networks.get(network_id)
        if network is not None:
            leases |= dhcp.network_leases(
                network, view.subnets_of(network_id), ports, compile_module.is_instance_port
            )
    assert plan.dhcp == leases
    devices = frozenset(i.port_id for i in plan.instances)
    assert plan.qos == qos.whole_qos(HOST, view, devices)


@pytest.mark.parametrize("seed", [2, 3, 4, 5])
def test_event_passes_leave_the_kernel_as_a_full_pass_would(seed: int) -> None:
    rng = random.Random(seed)
    cache = Cache(HOST)
    start = _start()
    cache.replace(1, start)
    ports = {
        int(o["id"][:8], 16): {k: v for k, v in o.items() if k != "kind"}
        for o in start
        if o["kind"] == "port"
    }
    fake, nft = FakeKernel(), FakeNft()
    agent = Dataplane(fake, HOST, nft=nft)
    assert agent.apply(compile_host(HOST, cache.view())).ok
    narrowed = records = limited = 0
    for step in range(40):
        event = _random_event(rng, ports)
        cache.apply(event)
        view = cache.view()
        _same_view(view, cache._whole())
        plan = compile_host(HOST, view)
        fresh_plan = _fresh_plan(cache)
        for part in ("dns", "dhcp", "qos"):
            assert getattr(plan, part) == getattr(fresh_plan, part), f"step {step}: {part}"
        assert plan == fresh_plan, f"step {step}: remembered compile differs"
        _whole_parts(plan, view)
        records += sum(len(z.records) for z in plan.dns)
        limited += len(plan.qos.ports)
        for address_set in plan.firewall.sets:  # each group's members, as counted
            group_id = address_set.name.split("_", 1)[1]
            members = [p for p in view.ports.values() if group_id in p.security_groups]
            raws = {a for p in members for a in p.ip_addresses}
            raws |= {a.ip_address for p in members for a in p.address_pairs}
            expected = firewall._set_elements(frozenset(raws), address_set.family)
            assert address_set.elements == expected, f"step {step}: {address_set.name}"
        result = agent.apply(plan)
        assert result.ok, result.errors
        narrowed += not result.full
        fresh_kernel, fresh_nft = FakeKernel(), FakeNft()
        fresh = Dataplane(fresh_kernel, HOST, nft=fresh_nft).apply(plan)
        assert fresh.ok
        assert _kernel(fake, nft) == _kernel(fresh_kernel, fresh_nft), f"step {step}: {event}"
        assert result.wired_ports == fresh.wired_ports
    assert narrowed > 25  # the passes compared were event passes, not full ones
    assert records > 100 and limited > 40  # zones and QoS had something to compare


def test_last_answer_asks_again_only_when_an_input_changed() -> None:
    calls: list[tuple[int, ...]] = []

    def make(*xs: int) -> int:
        calls.append(xs)
        return sum(xs)

    memo: LastAnswer[int] = LastAnswer(limit=2)
    big = tuple(range(1000))
    assert memo.get("a", make, *big) == sum(big)
    assert memo.get("a", make, *big) == sum(big)
    assert memo.get("a", make, 1, 2) == 3
    assert memo.get("b", make, 1, 2) == 3
    assert len(calls) == 3
    assert memo.get("c", make, 5) == 5  # over the limit: forgets, never wrong
    assert memo.get("a", make, 1, 2) == 3
    assert len(calls) == 5
