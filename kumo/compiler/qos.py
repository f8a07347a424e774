"""compile_qos: the QoS of this host's ports. Pure.

A local port's device (``names.tap_name``, the host end of an instance's
veth pair or a VM's tap, in the bridge of its network) gets the limits
and the mark of its effective QoS policy, whose rules its port event
carries. A floating IP's bandwidth limits (``fip_limits``) go on the
external leg of the router namespace that translates it, a router
gateway's (``address_limits``) on the gateway leg of the namespace that
translates the router's SNAT, and with distributed SNAT also on the
external leg of each host translating with its own port blocks (the
whole limit per host). Rates are Neutron's kilobits per second (1000 bits) as bytes per
second; a burst of 0 means 80 % of the rate over one second, the burst
Neutron's agents choose for TCP. Packet rates are Neutron's thousands of
packets per second as packets per second; a packet burst of 0 means a
tenth of a second at the rate.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from dataclasses import dataclass, field

from kumo.compiler import names
from kumo.compiler.model import ClusterView, FloatingIpView, PortView, QosRuleView
from kumo.compiler.plan import NatLimit, PortQos, QosPlan

DEFAULT_BURST_RATIO = 0.8
"""A rule's burst when it names none, as a share of one second at its rate."""


def fip_limits(ifname: str, fip: FloatingIpView) -> list[NatLimit]:
    """A floating IP's bandwidth limits on the external leg ``ifname`` of the
    namespace that translates it."""
    return address_limits(ifname, fip.floating_ip_address, fip.qos)


def address_limits(ifname: str, address: str, rules: tuple[QosRuleView, ...]) -> list[NatLimit]:
    """The bandwidth limits of an external address (a floating IP, a router's
    gateway IP) on the leg ``ifname`` where it is translated."""
    return sorted(
        NatLimit(ifname, address, rule.direction, *_limit(rule))
        for rule in rules
        if rule.type == "bandwidth_limit"
        and rule.direction in ("egress", "ingress")
        and rule.max_kbps > 0
    )


def _limit(rule: QosRuleView) -> tuple[int, int]:
    rate = rule.max_kbps * 1000 // 8
    burst_kbits = rule.max_burst_kbps or int(rule.max_kbps * DEFAULT_BURST_RATIO)
    return rate, max(burst_kbits * 1000 // 8, 1)


DEFAULT_PACKET_BURST_SECONDS = 0.1
"""A packet rate rule's burst when it names none, in seconds at its rate."""


def _packet_limit(rule: QosRuleView) -> tuple[int, int]:
    rate = rule.max_kpps * 1000
    burst = rule.max_burst_kpps * 1000 or int(rate * DEFAULT_PACKET_BURST_SECONDS)
    return rate, max(burst, 1)


def port_qos(port: PortView) -> PortQos | None:
    """The QoS of one port's device; None when its policy asks for nothing."""
    limits: dict[str, tuple[int, int]] = {}
    packets: dict[str, tuple[int, int]] = {}
    dscp: int | None = None
    for rule in port.qos:
        if rule.direction not in ("egress", "ingress") and rule.type != "dscp_marking":
            continue
        if rule.type == "bandwidth_limit" and rule.max_kbps > 0:
            limits[rule.direction] = _limit(rule)
        elif rule.type == "packet_rate_limit" and rule.max_kpps > 0:
            packets[rule.direction] = _packet_limit(rule)
        elif rule.type == "dscp_marking":
            dscp = rule.dscp_mark
    if not limits and not packets and dscp is None:
        return None
    return PortQos(
        names.tap_name(port.id),
        limits.get("egress"),
        limits.get("ingress"),
        dscp,
        packets.get("egress"),
        packets.get("ingress"),
    )


def compile_qos(host: str, view: ClusterView, has_device: frozenset[str]) -> QosPlan:
    """The QoS of the local ports whose devices this host makes (``has_device``:
    their ids, the instances' and VMs' ports), patched with the ports that
    changed since the last call (``_HostQos``)."""
    known = _STATES.get(host)
    if known is None:
        if len(_STATES) >= 64:
            _STATES.clear()
        known = _STATES[host] = _HostQos()
    return known.patched(view.ports_on(host), has_device)


def whole_qos(host: str, view: ClusterView, has_device: frozenset[str]) -> QosPlan:
    """``compile_qos`` built whole."""
    out = []
    for port in view.ports_on(host):
        if port.id in has_device and port.qos:
            found = port_qos(port)
            if found is not None:
                out.append(found)
    return QosPlan(tuple(sorted(out)))


@dataclass
class _HostQos:
    """A host's port QoS, sorted, with each port's (and whether it had a
    device): the next call re-sorts only the ports that changed."""

    of_port: dict[str, tuple[PortView, bool, PortQos | None]] = field(default_factory=dict)
    ordered: list[PortQos] = field(default_factory=list)
    made: QosPlan | None = None

    def patched(self, ports: tuple[PortView, ...], has_device: frozenset[str]) -> QosPlan:
        before = self.of_port
        now: dict[str, tuple[PortView, bool, PortQos | None]] = {}
        fresh = not before
        for port in ports:
            device = port.id in has_device
            had = before.get(port.id)
            if had is not None and had[0] is port and had[1] == device:
                now[port.id] = had
                continue
            found = port_qos(port) if device and port.qos else None
            now[port.id] = (port, device, found)
            if fresh:
                continue
            old = had[2] if had is not None else None
            if old == found:
                continue
            if old is not None:
                del self.ordered[bisect_left(self.ordered, old)]
            if found is not None:
                insort(self.ordered, found)
            self.made = None
        if fresh:
            self.ordered = sorted(q for _, _, q in now.values() if q is not None)
            self.made = None
        else:
            for port_id in before.keys() - now.keys():
                old = before[port_id][2]
                if old is not None:
                    del self.ordered[bisect_left(self.ordered, old)]
                    self.made = None
        self.of_port = now
        if self.made is None:
            self.made = QosPlan(tuple(self.ordered))
        return self.made


_STATES: dict[str, _HostQos] = {}
"""Per host."""
