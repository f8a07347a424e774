"""The internal resolver's zones on one host. Pure.

Where the host serves metadata on a network (a namespace with
169.254.169.254, see ``metadata.py``), it also answers DNS there: the
DHCP lease names 169.254.169.254 as the DNS server when the subnet has
no ``dns_nameservers``. A zone holds, for every port of the network with
an address, the names of its ``dns_assignment`` (the FQDN under the
cloud's domain, the host name under the network's ``dns_domain``, and the
bare host name) and the project that owns it; and the addresses of this
host's instance ports there (the metadata endpoint's clients) with their
project. The resolver answers an asker with its own project's records
only, and nothing else (``kumo.dns``).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from kumo.compiler.metadata import client_addresses
from kumo.compiler.model import ClusterView, NetworkView, PortView, SubnetView
from kumo.compiler.plan import DnsRecord, DnsZone, MetadataEndpoint


def _absolute(name: str) -> str:
    name = name.lower()
    return name if name.endswith(".") else name + "."


def records_of(port: PortView, network: NetworkView) -> list[DnsRecord]:
    """The port's addresses and their names (none for a port without a project:
    a router's or a floating IP's own port)."""
    if not port.project_id:
        return []
    out = []
    for entry in port.dns:
        names = {_absolute(entry.fqdn), _absolute(entry.hostname)}
        if network.dns_domain:
            names.add(_absolute(f"{entry.hostname}.{network.dns_domain}"))
        out.append(
            DnsRecord(
                port.project_id, entry.ip_address, _absolute(entry.fqdn), tuple(sorted(names))
            )
        )
    return out


def compile_dns(
    host: str,
    view: ClusterView,
    endpoints: Iterable[MetadataEndpoint],
    is_instance: Callable[[PortView], bool] | None = None,
) -> frozenset[DnsZone]:
    """The zones of the networks with a metadata endpoint. With
    ``is_instance`` (what ``compile_metadata`` took for an instance port),
    each zone is patched with the ports that changed since the last call
    (``_ZoneState``); without it, built whole (``zone``)."""
    out = set()
    for endpoint in endpoints:
        network = view.networks.get(endpoint.network_id)
        if network is None:
            continue
        ports = view.ports_of(endpoint.network_id)
        if is_instance is None:
            out.add(zone(endpoint, network, ports))
            continue
        key = (host, endpoint.network_id)
        subnets = view.subnets_of(endpoint.network_id)
        known = _ZONE_STATES.get(key)
        if known is None or not known.fits(endpoint.netns, network, subnets, is_instance):
            if len(_ZONE_STATES) >= 1 << 12:
                _ZONE_STATES.clear()
            known = _ZONE_STATES[key] = _ZoneState(
                host, endpoint.netns, network, subnets, is_instance
            )
        out.add(known.patched(ports))
    return frozenset(out)


def zone(endpoint: MetadataEndpoint, network: NetworkView, ports: tuple[PortView, ...]) -> DnsZone:
    """A network's zone built whole: its askers from the endpoint's clients,
    the records of every port."""
    by_id = {p.id: p for p in ports}
    askers = {
        (c.ip, by_id[c.port_id].project_id)
        for c in endpoint.clients
        if c.port_id in by_id and by_id[c.port_id].project_id
    }
    records = [r for p in ports for r in records_of(p, network)]
    return DnsZone(endpoint.netns, network.id, tuple(sorted(askers)), tuple(sorted(records)))


def _record_order(record: DnsRecord) -> tuple[str, str, str, tuple[str, ...]]:
    """The dataclass's own order (its fields in turn), as a sort key."""
    return (record.project_id, record.ip, record.fqdn, record.names)


@dataclass
class _ZoneState:
    """One network's zone on one host, kept sorted with each port's part
    (its records, and the (address, project) it asks from where it is one
    of this host's instance ports: the endpoint's clients, see
    ``metadata._clients``): the next pass re-sorts only the ports that
    changed. Equal to ``zone`` of the same inputs, by construction and in
    ``tests/agent/test_incremental_replay.py``."""

    host: str
    netns: str
    network: NetworkView
    subnets: tuple[SubnetView, ...]
    is_instance: Callable[[PortView], bool]
    of_port: dict[str, tuple[PortView, list[DnsRecord], list[tuple[str, str]]]] = field(
        default_factory=dict
    )
    records: list[DnsRecord] = field(default_factory=list)
    """Sorted; a record twice if two ports give it."""
    askers: dict[tuple[str, str], int] = field(default_factory=dict)
    """Each asker, with how many of the ports give it."""
    asker_order: list[tuple[str, str]] = field(default_factory=list)
    made: DnsZone | None = None
    ports: tuple[PortView, ...] | None = None
    """The ports of the last call: the same tuple (a patched view hands on
    the unchanged networks' own) gives the same zone without a walk."""

    def __post_init__(self) -> None:
        self._subnet_ids = frozenset(s.id for s in self.subnets)

    def fits(
        self,
        netns: str,
        network: NetworkView,
        subnets: tuple[SubnetView, ...],
        is_instance: Callable[[PortView], bool],
    ) -> bool:
        return (self.netns, self.network, self.subnets) == (
            netns,
            network,
            subnets,
        ) and self.is_instance is is_instance

    def _part(self, port: PortView) -> tuple[list[DnsRecord], list[tuple[str, str]]]:
        records = records_of(port, self.network)
        askers: list[tuple[str, str]] = []
        if port.project_id and port.host == self.host and port.mac and self.is_instance(port):
            ids = self._subnet_ids
            askers = sorted({(c.ip, port.project_id) for c in client_addresses(port, ids)})
        return records, askers

    def patched(self, ports: tuple[PortView, ...]) -> DnsZone:
        if ports is self.ports and self.made is not None:
            return self.made
        before = self.of_port
        now: dict[str, tuple[PortView, list[DnsRecord], list[tuple[str, str]]]] = {}
        fresh = not before
        for port in ports:
            had = before.get(port.id)
            if had is not None and had[0] is port:
                now[port.id] = had
                continue
            records, askers = self._part(port)
            now[port.id] = (port, records, askers)
            if fresh:
                continue  # sorted all at once below
            if had is not None:
                self._remove(had[1], had[2])
            self._add(records, askers)
        if fresh:
            parts = now.values()
            self.records = sorted((r for _, rs, _ in parts for r in rs), key=_record_order)
            for _, _, askers in parts:
                for asker in askers:
                    self.askers[asker] = self.askers.get(asker, 0) + 1
            self.asker_order = sorted(self.askers)
            self.made = None
        else:
            for port_id in before.keys() - now.keys():
                self._remove(before[port_id][1], before[port_id][2])
        self.of_port = now
        self.ports = ports
        if self.made is None:
            self.made = DnsZone(
                self.netns, self.network.id, tuple(self.asker_order), tuple(self.records)
            )
        return self.made

    def _add(self, records: list[DnsRecord], askers: list[tuple[str, str]]) -> None:
        for record in records:
            insort(self.records, record, key=_record_order)
        for asker in askers:
            count = self.askers.get(asker, 0)
            self.askers[asker] = count + 1
            if not count:
                insort(self.asker_order, asker)
        if records or askers:
            self.made = None

    def _remove(self, records: list[DnsRecord], askers: list[tuple[str, str]]) -> None:
        for record in records:
            del self.records[bisect_left(self.records, _record_order(record), key=_record_order)]
        for asker in askers:
            count = self.askers[asker] - 1
            if count:
                self.askers[asker] = count
            else:
                del self.askers[asker]
                del self.asker_order[bisect_left(self.asker_order, asker)]
        if records or askers:
            self.made = None


_ZONE_STATES: dict[tuple[str, str], _ZoneState] = {}
"""Per (host, network)."""
