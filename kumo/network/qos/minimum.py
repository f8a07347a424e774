"""Minimum bandwidth and minimum packet rate rules as scheduling attributes.

kumo has no Placement service: a port whose effective QoS policy has
minimum bandwidth rules, on a network with a physical network, asks for
that bandwidth on the physical network of the host it lands on. The port
shows the ask as Neutron's ``resource_request`` (the physical network's
trait and the ``NET_BW_*_KILOBIT_PER_SEC`` amounts);
the compute scheduler places a server only on a host whose agent reports
enough bandwidth left on that physical network (``configurations.
bandwidths``, from ``kumo agent --bandwidth PHYSNET:KBPS``), counting the
asks of the ports already bound there. Ports on tunnelled networks ask
for no bandwidth.

Minimum packet rate rules (``qos-pps-minimum``) ask for packets per second
of the host's virtual switch, whatever the network: egress, ingress, or
both directions together (``any``). The port shows them as a second request
group (``port-resource-request-groups``: ``request_groups``, each with an
``id`` derived from the port and its rules, and ``same_subtree``). A host
offers its switch's packet rate either without direction (``kumo agent
--packet-rate KPPS``) or per direction (``--packet-rate EGR:IGR``),
reported as ``configurations.packet_rates``; as in Placement, where these
are distinct resource classes, an ``any`` ask is served only by a host
offering a rate without direction and egress/ingress asks only by one
offering rates per direction. The scheduler counts what the ports bound to
a host ask (``packet_rates_used_by_host``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from kumo.db.network_models import Network, Port
from kumo.db.qos_models import QosRule

EGRESS = "NET_BW_EGR_KILOBIT_PER_SEC"
INGRESS = "NET_BW_IGR_KILOBIT_PER_SEC"
PPS = {
    "egress": "NET_PACKET_RATE_EGR_KILOPACKET_PER_SEC",
    "ingress": "NET_PACKET_RATE_IGR_KILOPACKET_PER_SEC",
    "any": "NET_PACKET_RATE_KILOPACKET_PER_SEC",
}
"""The placement resource class of a minimum packet rate per direction."""
VNIC_TRAIT = "CUSTOM_VNIC_TYPE_NORMAL"

Ask = tuple[int, int]
"""(egress, ingress) kilobits per second."""
PacketRates = dict[str, int]
"""Direction (``egress``, ``ingress`` or ``any``) → thousands of packets per second."""


def physnet_trait(physnet: str) -> str:
    """Placement's custom trait for a physical network (upper case, [A-Z0-9_])."""
    name = "".join(ch if ch.isalnum() else "_" for ch in physnet.upper())
    return f"CUSTOM_PHYSNET_{name}"


def _minimums(session: Session, policy_ids: set[str]) -> dict[str, Ask]:
    out: dict[str, list[int]] = {}
    if not policy_ids:
        return {}
    q = select(QosRule.policy_id, QosRule.direction, QosRule.min_kbps).where(
        QosRule.policy_id.in_(policy_ids), QosRule.rule_type == "minimum_bandwidth"
    )
    for policy_id, direction, kbps in session.execute(q):
        pair = out.setdefault(policy_id, [0, 0])
        pair[0 if direction == "egress" else 1] += int(kbps or 0)
    return {p: (v[0], v[1]) for p, v in out.items() if v[0] or v[1]}


def asks(
    session: Session, ports: Iterable[tuple[str, str, str | None]]
) -> dict[str, tuple[str, Ask]]:
    """(port or request id, network id, the port's own policy or None) →
    (physical network, its ask), for those that ask for anything."""
    items = list(ports)
    nets: dict[str, tuple[str | None, str | None]] = {}
    wanted = {net for _, net, _ in items}
    if wanted:
        q = select(Network.id, Network.physical_network, Network.qos_policy_id).where(
            Network.id.in_(wanted)
        )
        nets = {n: (phys, pol) for n, phys, pol in session.execute(q)}
    effective = {key: own or nets.get(net, (None, None))[1] for key, net, own in items}
    found = _minimums(session, {p for p in effective.values() if p})
    out: dict[str, tuple[str, Ask]] = {}
    for key, net, _ in items:
        physnet = nets.get(net, (None, None))[0]
        policy_id = effective[key]
        if physnet and policy_id and policy_id in found:
            out[key] = (physnet, found[policy_id])
    return out


def _rules(session: Session, policy_ids: set[str], rule_type: str) -> dict[str, list[QosRule]]:
    out: dict[str, list[QosRule]] = {}
    if not policy_ids:
        return out
    q = (
        select(QosRule)
        .where(QosRule.policy_id.in_(policy_ids), QosRule.rule_type == rule_type)
        .order_by(QosRule.direction, QosRule.id)
    )
    for rule in session.scalars(q):
        out.setdefault(rule.policy_id, []).append(rule)
    return out


def _group_id(port_id: str, rules: list[QosRule]) -> str:
    """A request group's id: stable for the port and the rules it stands for."""
    return str(uuid.uuid5(uuid.UUID(port_id), ":".join(r.id for r in rules)))


_ASKING = (
    select(QosRule.policy_id)
    .where(QosRule.rule_type.in_(("minimum_bandwidth", "minimum_packet_rate")))
    .distinct()
)


def asking(db: Session | Connection) -> set[str]:
    """The policies with a minimum rule: only their ports ask for anything."""
    return set(db.scalars(_ASKING))


def resource_requests(
    session: Session,
    ports: Iterable[tuple[str, str, str | None]],
    asking_policies: set[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Port id → its ``resource_request`` in the format of
    ``port-resource-request-groups``: a group for the minimum bandwidth
    (``required`` the physical network's and the vNIC type's traits) and
    one for the minimum packet rate (the vNIC type's trait), each with its
    ``resources``, both in ``same_subtree``.

    Only policies with a minimum rule can ask for anything: one narrow read
    finds them first (``asking_policies`` when the caller has just read
    them), and without any (the usual cloud) no port is looked at.
    """
    found = asking(session) if asking_policies is None else asking_policies
    if not found:
        return {}
    items = list(ports)
    nets: dict[str, tuple[str | None, str | None]] = {}
    wanted = {net for _, net, _ in items}
    if wanted:
        q = select(Network.id, Network.physical_network, Network.qos_policy_id).where(
            Network.id.in_(wanted)
        )
        nets = {n: (phys, pol) for n, phys, pol in session.execute(q)}
    effective = {key: own or nets.get(net, (None, None))[1] for key, net, own in items}
    policies = {p for p in effective.values() if p in found}
    bandwidths = _rules(session, policies, "minimum_bandwidth")
    rates = _rules(session, policies, "minimum_packet_rate")
    out: dict[str, dict[str, Any]] = {}
    for port_id, net, _ in items:
        policy_id = effective[port_id]
        if not policy_id:
            continue
        groups: list[dict[str, Any]] = []
        physnet = nets.get(net, (None, None))[0]
        bw = [r for r in bandwidths.get(policy_id, []) if r.min_kbps]
        if physnet and bw:
            resources = {(EGRESS if r.direction == "egress" else INGRESS): r.min_kbps for r in bw}
            groups.append({
                "id": _group_id(port_id, bw),
                "required": [physnet_trait(physnet), VNIC_TRAIT],
                "resources": resources,
            })  # fmt: skip
        pps = [r for r in rates.get(policy_id, []) if r.min_kpps]
        if pps:
            groups.append({
                "id": _group_id(port_id, pps),
                "required": [VNIC_TRAIT],
                "resources": {PPS[r.direction]: r.min_kpps for r in pps},
            })  # fmt: skip
        if groups:
            out[port_id] = {"request_groups": groups, "same_subtree": [g["id"] for g in groups]}
    return out


def used_by_host(session: Session) -> dict[str, dict[str, Ask]]:
    """Host → physical network → what its bound ports ask for."""
    q = select(Port.id, Port.host, Port.network_id, Port.qos_policy_id).where(Port.host != "")
    rows = list(session.execute(q))
    found = asks(session, ((pid, net, pol) for pid, _, net, pol in rows))
    out: dict[str, dict[str, list[int]]] = {}
    for pid, host, _, _ in rows:
        if pid in found:
            physnet, (egress, ingress) = found[pid]
            pair = out.setdefault(host, {}).setdefault(physnet, [0, 0])
            pair[0] += egress
            pair[1] += ingress
    return {h: {p: (v[0], v[1]) for p, v in nets.items()} for h, nets in out.items()}


def total(found: Iterable[tuple[str, Ask]]) -> dict[str, Ask]:
    """Asks summed per physical network."""
    out: dict[str, list[int]] = {}
    for physnet, (egress, ingress) in found:
        pair = out.setdefault(physnet, [0, 0])
        pair[0] += egress
        pair[1] += ingress
    return {p: (v[0], v[1]) for p, v in out.items()}


def packet_rate_asks(
    session: Session, ports: Iterable[tuple[str, str, str | None]]
) -> dict[str, PacketRates]:
    """(port or request id, network id, the port's own policy or None) →
    what its minimum packet rate rules ask per direction, for those that
    ask anything (on any network: the host's switch carries them all)."""
    items = list(ports)
    nets: dict[str, str | None] = {}
    wanted = {net for _, net, own in items if not own}
    if wanted:
        q = select(Network.id, Network.qos_policy_id).where(Network.id.in_(wanted))
        nets = {n: pol for n, pol in session.execute(q)}
    effective = {key: own or nets.get(net) for key, net, own in items}
    rates = _rules(session, {p for p in effective.values() if p}, "minimum_packet_rate")
    out: dict[str, PacketRates] = {}
    for key, _, _ in items:
        policy_id = effective[key]
        found = {r.direction: r.min_kpps for r in rates.get(policy_id or "", []) if r.min_kpps}
        if found:
            out[key] = found
    return out


def add_rates(total: PacketRates, more: PacketRates) -> None:
    """Add ``more`` into ``total``, direction by direction."""
    for direction, kpps in more.items():
        total[direction] = total.get(direction, 0) + kpps


def packet_rates_used_by_host(session: Session) -> dict[str, PacketRates]:
    """Host → what the minimum packet rate rules of its bound ports ask."""
    q = select(Port.id, Port.host, Port.network_id, Port.qos_policy_id).where(Port.host != "")
    rows = list(session.execute(q))
    found = packet_rate_asks(session, ((pid, net, pol) for pid, _, net, pol in rows))
    out: dict[str, PacketRates] = {}
    for pid, host, _, _ in rows:
        if pid in found:
            add_rates(out.setdefault(host, {}), found[pid])
    return out
