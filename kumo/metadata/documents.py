"""What an instance reads from 169.254.169.254. Pure.

Input: the server as the compute API shows it to an admin (a microversion
with ``OS-EXT-SRV-ATTR:user_data``), its key pair's public key, and the
agent's view of its ports, subnets and floating IPs. Output: an
``Instance`` and, for a request path, a ``Reply``.

Two trees, both versioned by date; every dated version serves what
``latest`` serves:

- OpenStack: ``/openstack`` (versions), ``/openstack/<v>`` (documents),
  ``meta_data.json``, ``network_data.json``, ``vendor_data.json``,
  ``vendor_data2.json`` (empty objects) and ``user_data`` (404 without);
- EC2, as cloud-init reads it: ``/`` (versions), ``/<v>``, ``/<v>/user-data``
  and ``/<v>/meta-data/...`` (a directory answers with its entries, one a
  line, subdirectories with a trailing ``/``).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kumo.compiler.model import ClusterView, PortView, SubnetView
from kumo.compute import hostnames

OPENSTACK_VERSIONS = (
    "2012-08-10",
    "2013-04-04",
    "2013-10-17",
    "2015-10-15",
    "2016-06-30",
    "2016-10-06",
    "2017-02-22",
    "2018-08-27",
    "latest",
)
EC2_VERSIONS = (
    "1.0",
    "2007-01-19",
    "2007-03-01",
    "2007-08-29",
    "2007-10-10",
    "2007-12-15",
    "2008-02-01",
    "2008-09-01",
    "2009-04-04",
    "latest",
)
HOSTNAME_SUFFIX = ".novalocal"

JSON = "application/json"
TEXT = "text/plain; charset=utf-8"
OCTETS = "application/octet-stream"


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str = TEXT

    @classmethod
    def text(cls, text: str, status: int = 200) -> Reply:
        return cls(status, text.encode())

    @classmethod
    def json(cls, document: Mapping[str, Any]) -> Reply:
        return cls(200, json.dumps(document, indent=2, sort_keys=True).encode(), JSON)

    @classmethod
    def not_found(cls, why: str = "Not Found") -> Reply:
        return cls(404, (why.rstrip("\n") + "\n").encode())


@dataclass(frozen=True)
class Key:
    name: str
    data: str
    type: str = "ssh"


@dataclass(frozen=True)
class Instance:
    uuid: str
    name: str
    hostname: str
    availability_zone: str
    project_id: str
    launch_index: int
    reservation_id: str
    instance_type: str
    meta: Mapping[str, str]
    user_data: bytes | None
    keys: tuple[Key, ...]
    local_ipv4: str
    public_ipv4: str
    security_groups: tuple[str, ...]
    network_data: Mapping[str, Any] = field(default_factory=dict)


def _user_data(encoded: object) -> bytes | None:
    if not encoded:
        return None
    text = str(encoded)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return text.encode()


def _hostname(server: Mapping[str, Any]) -> str:
    name = str(server.get("OS-EXT-SRV-ATTR:hostname") or "")
    if not name:
        name = hostnames.server_hostname(str(server["id"]), str(server.get("name") or ""))
    return name + HOSTNAME_SUFFIX


def instance_from(
    server: Mapping[str, Any],
    view: ClusterView,
    local_ipv4: str,
    keys: tuple[Key, ...] = (),
) -> Instance:
    """The instance a server body describes; ``local_ipv4`` is the address it asked from."""
    ports = sorted(
        (p for p in view.ports.values() if p.device_id == server["id"]), key=lambda p: p.id
    )
    port_ids = {p.id for p in ports}
    public = sorted(
        f.floating_ip_address for f in view.floatingips.values() if f.port_id in port_ids
    )
    flavor = server.get("flavor") or {}
    return Instance(
        uuid=str(server["id"]),
        name=str(server.get("name") or ""),
        hostname=_hostname(server),
        availability_zone=str(server.get("OS-EXT-AZ:availability_zone") or ""),
        project_id=str(server.get("tenant_id") or ""),
        launch_index=int(server.get("OS-EXT-SRV-ATTR:launch_index") or 0),
        reservation_id=str(server.get("OS-EXT-SRV-ATTR:reservation_id") or ""),
        instance_type=str(flavor.get("original_name") or flavor.get("id") or ""),
        meta={str(k): str(v) for k, v in (server.get("metadata") or {}).items()},
        user_data=_user_data(server.get("OS-EXT-SRV-ATTR:user_data")),
        keys=keys,
        local_ipv4=local_ipv4,
        public_ipv4=public[0] if public else "",
        security_groups=tuple(
            sorted({str(g.get("name")) for g in server.get("security_groups") or ()})
        ),
        network_data=network_data(ports, view),
    )


# -- documents ---------------------------------------------------------------------------


def meta_data(inst: Instance) -> dict[str, Any]:
    return {
        "uuid": inst.uuid,
        "name": inst.name,
        "hostname": inst.hostname,
        "launch_index": inst.launch_index,
        "availability_zone": inst.availability_zone,
        "project_id": inst.project_id,
        "meta": dict(inst.meta),
        "public_keys": {k.name: k.data for k in inst.keys},
        "keys": [{"name": k.name, "type": k.type, "data": k.data} for k in inst.keys],
        "devices": [],
    }


def _network_type(subnet: SubnetView) -> str:
    if subnet.ip_version == 4:
        return "ipv4_dhcp" if subnet.enable_dhcp else "ipv4"
    mode = subnet.ipv6_mode
    if mode == "slaac":
        return "ipv6_slaac"
    if mode in ("dhcpv6-stateful", "dhcpv6-stateless"):
        return f"ipv6_{mode}"
    return "ipv6"


def _routes(subnet: SubnetView) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    if subnet.gateway_ip:
        default = ipaddress.ip_network("0.0.0.0/0" if subnet.ip_version == 4 else "::/0")
        out.append(
            {
                "network": str(default.network_address),
                "netmask": str(default.netmask),
                "gateway": subnet.gateway_ip,
            }
        )
    for route in subnet.host_routes:
        try:
            dst = ipaddress.ip_network(route.destination, strict=False)
        except ValueError:
            continue
        out.append(
            {
                "network": str(dst.network_address),
                "netmask": str(dst.netmask),
                "gateway": route.nexthop,
            }
        )
    return out


def network_data(ports: list[PortView], view: ClusterView) -> dict[str, Any]:
    """``network_data.json``: a link per port, a network per fixed IP, DNS servers."""
    links: list[dict[str, Any]] = []
    networks: list[dict[str, Any]] = []
    dns: list[str] = []
    for port in ports:
        link_id = "tap" + port.id[:11]
        network = view.networks.get(port.network_id)
        links.append(
            {
                "id": link_id,
                "vif_id": port.id,
                "type": "bridge",
                "mtu": port.mtu or (network.mtu if network else None),
                "ethernet_mac_address": port.mac,
            }
        )
        for fixed in port.fixed_ips:
            subnet = view.subnets.get(fixed.subnet_id)
            if subnet is None:
                continue
            cidr = ipaddress.ip_network(subnet.cidr, strict=False)
            networks.append(
                {
                    "id": f"network{len(networks)}",
                    "type": _network_type(subnet),
                    "link": link_id,
                    "network_id": port.network_id,
                    "ip_address": fixed.ip_address,
                    "netmask": str(cidr.netmask),
                    "routes": _routes(subnet),
                    "services": [{"type": "dns", "address": d} for d in subnet.dns_nameservers],
                }
            )
            dns += [d for d in subnet.dns_nameservers if d not in dns]
    return {
        "links": links,
        "networks": networks,
        "services": [{"type": "dns", "address": d} for d in dns],
    }


def ec2_id(uuid: str) -> str:
    """An EC2-style instance id (``i-`` and 8 hex digits) for a server uuid."""
    return "i-" + uuid.replace("-", "")[:8]


def ec2_meta_data(inst: Instance) -> dict[str, Any]:
    """The ``meta-data/`` tree: strings are files, dicts directories."""
    tree: dict[str, Any] = {
        "ami-launch-index": str(inst.launch_index),
        "hostname": inst.hostname,
        "instance-id": ec2_id(inst.uuid),
        "instance-type": inst.instance_type,
        "local-hostname": inst.hostname,
        "local-ipv4": inst.local_ipv4,
        "placement": {"availability-zone": inst.availability_zone},
        "public-hostname": inst.hostname,
        "public-ipv4": inst.public_ipv4,
        "reservation-id": inst.reservation_id,
        "security-groups": "\n".join(inst.security_groups),
    }
    if inst.keys:
        tree["public-keys"] = {
            str(i): {"openssh-key": k.data} for i, k in enumerate(inst.keys) if k.type == "ssh"
        }
    return tree


# -- paths -------------------------------------------------------------------------------


def _listing(entries: list[str]) -> Reply:
    return Reply.text("\n".join(entries))


def answer(path: str, inst: Instance) -> Reply:
    """The reply to a GET of ``path`` (query string already removed)."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        return _listing(list(EC2_VERSIONS))
    if parts[0] == "openstack":
        return _openstack(parts[1:], inst)
    if parts[0] not in EC2_VERSIONS:
        return Reply.not_found()
    return _ec2(parts[1:], inst)


def _openstack(parts: list[str], inst: Instance) -> Reply:
    if not parts:
        return _listing(list(OPENSTACK_VERSIONS))
    if parts[0] not in OPENSTACK_VERSIONS or len(parts) > 2:
        return Reply.not_found()
    if len(parts) == 1:
        names = ["meta_data.json", "network_data.json", "vendor_data.json", "vendor_data2.json"]
        return _listing(names + (["user_data"] if inst.user_data is not None else []))
    document = parts[1]
    if document == "meta_data.json":
        return Reply.json(meta_data(inst))
    if document == "network_data.json":
        return Reply.json(inst.network_data)
    if document in ("vendor_data.json", "vendor_data2.json"):
        return Reply.json({})
    if document == "user_data" and inst.user_data is not None:
        return Reply(200, inst.user_data, OCTETS)
    return Reply.not_found()


def _ec2(parts: list[str], inst: Instance) -> Reply:
    if not parts:
        return _listing(["meta-data/"] + (["user-data"] if inst.user_data is not None else []))
    if parts[0] == "user-data" and len(parts) == 1:
        if inst.user_data is None:
            return Reply.not_found()
        return Reply(200, inst.user_data, OCTETS)
    if parts[0] != "meta-data":
        return Reply.not_found()
    node: Any = ec2_meta_data(inst)
    walked: list[str] = []
    for part in parts[1:]:
        if not isinstance(node, dict):
            return Reply.not_found()
        if walked == ["public-keys"]:
            part = part.split("=", 1)[0]  # "0=name" is also accepted, as listed
        if part not in node:
            return Reply.not_found()
        node = node[part]
        walked.append(part)
    if isinstance(node, str):
        return Reply.text(node)
    if walked == ["public-keys"]:
        return _listing([f"{i}={k.name}" for i, k in enumerate(inst.keys) if k.type == "ssh"])
    return _listing(sorted(k + "/" if isinstance(v, dict) else k for k, v in node.items()))
