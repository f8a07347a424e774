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

from collections.abc import Iterable

from kumo.compiler.memo import LastAnswer
from kumo.compiler.model import ClusterView, NetworkView, PortView
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
    host: str, view: ClusterView, endpoints: Iterable[MetadataEndpoint]
) -> frozenset[DnsZone]:
    out = set()
    for endpoint in endpoints:
        network = view.networks.get(endpoint.network_id)
        if network is None:
            continue
        zone = _ZONES.get(
            (host, endpoint.network_id),
            _zone,
            endpoint,
            network,
            view.ports_of(endpoint.network_id),
        )
        out.add(zone)
    return frozenset(out)


_ZONES: LastAnswer[DnsZone] = LastAnswer()
"""Per (host, network): a change on one network leaves the others' zones be."""


def _zone(endpoint: MetadataEndpoint, network: NetworkView, ports: tuple[PortView, ...]) -> DnsZone:
    by_id = {p.id: p for p in ports}
    askers = {
        (c.ip, by_id[c.port_id].project_id)
        for c in endpoint.clients
        if c.port_id in by_id and by_id[c.port_id].project_id
    }
    records = [r for p in ports for r in records_of(p, network)]
    return DnsZone(endpoint.netns, network.id, tuple(sorted(askers)), tuple(sorted(records)))
