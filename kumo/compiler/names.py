"""Names of every kernel object kumo creates: the one place that derives them.

Scheme (every link name is 13 characters, within IFNAMSIZ's 15):

=========================  ==========================================  =============
object                     name                                        example
=========================  ==========================================  =============
network bridge             ``kb`` + 11 hex chars of the network id     kb1f0e2d3c4b5
network VXLAN device       ``kx`` + 11 hex chars of the network id     kx1f0e2d3c4b5
network VLAN subinterface  ``kv`` + 11 hex chars of the network id     kv1f0e2d3c4b5
  or veth end in the bridge  (kernels without 802.1Q devices)
VLAN veth, outer end       ``kq`` + 11 hex chars of the network id     kq1f0e2d3c4b5
trunk subport veth, outer  ``kn`` + 11 hex chars of the subport id     kn9a8b7c6d5e4
  end (the end in the bridge is the subport's ``kt`` name)
instance veth, host end    ``kt`` + 11 hex chars of the port id        kt9a8b7c6d5e4
instance namespace         ``ki-`` + host tag + ``-`` + full port id   ki-3c1a9e0b-<uuid>
metadata leg, host end     ``km`` + 11 hex chars of the network id     km1f0e2d3c4b5
metadata namespace         ``km-`` + host tag + ``-`` + network id     km-3c1a9e0b-<uuid>
=========================  ==========================================  =============

The 11 characters are the id's first hex digits with dashes removed (ids
that are not hex, as some tests use, are hashed first). The host tag is
the first 8 hex digits of SHA-256 of the host name: several lab hosts share
one ``/run/netns`` directory, and an agent must only ever remove the
instance namespaces of its own host. Inside an instance namespace the port's
interface is always ``eth0``.

``is_kumo_name`` recognises exactly the link names produced here, so a
reconciler can find kumo's leftovers and never touch anything else (the
lab's own interfaces, the underlay, a physical NIC).
"""

from __future__ import annotations

import functools
import hashlib
import re

BRIDGE_PREFIX = "kb"
VXLAN_PREFIX = "kx"
VLAN_PREFIX = "kv"
VLAN_WIRE_PREFIX = "kq"
TAP_PREFIX = "kt"
TRUNK_WIRE_PREFIX = "kn"
ROUTER_PORT_PREFIX = "kr"
GATEWAY_PORT_PREFIX = "kg"
METADATA_PORT_PREFIX = "km"
METADATA_NETNS_PREFIX = "km-"
INSTANCE_NETNS_PREFIX = "ki-"
ROUTER_NETNS_PREFIX = "kr-"
SNAT_NETNS_PREFIX = "ks-"
ROUTER_IF_PREFIX = "ri"
"""Inside a router namespace: the leg on a router subnet (+ 11 hex of its port)."""
ROUTER_GW_PREFIX = "rg"
"""Inside a router namespace: the leg on the external network."""
GUEST_IFNAME = "eth0"
"""Name of the port's interface inside an instance namespace."""

IFNAMSIZ = 15
_ID_CHARS = IFNAMSIZ - 4  # two-letter prefix, and two spare characters

_LINK_PREFIXES = (
    BRIDGE_PREFIX,
    VXLAN_PREFIX,
    VLAN_PREFIX,
    VLAN_WIRE_PREFIX,
    TAP_PREFIX,
    TRUNK_WIRE_PREFIX,
    ROUTER_PORT_PREFIX,
    GATEWAY_PORT_PREFIX,
    METADATA_PORT_PREFIX,
)
_LINK_LETTERS = "".join(p[1] for p in _LINK_PREFIXES)
_KUMO_LINK = re.compile(rf"^k[{_LINK_LETTERS}][0-9a-f]{{{_ID_CHARS}}}$")
_HEX = re.compile(r"^[0-9a-f]+$")
_INSTANCE_NETNS = re.compile(r"^ki-([0-9a-f]{8})-(.+)$")
_ROUTER_NETNS = re.compile(r"^k[rs]-([0-9a-f]{8})-(.+)$")
_METADATA_NETNS = re.compile(r"^km-([0-9a-f]{8})-(.+)$")


@functools.lru_cache(maxsize=1 << 15)
def short_id(object_id: str) -> str:
    """The 11 hex characters that stand for an object id in link names
    (remembered: a compile names the devices of the ports that changed)."""
    compact = object_id.replace("-", "").lower()
    if len(compact) < _ID_CHARS or not _HEX.match(compact):
        compact = hashlib.sha256(object_id.encode()).hexdigest()
    return compact[:_ID_CHARS]


def bridge_name(network_id: str) -> str:
    return BRIDGE_PREFIX + short_id(network_id)


def vxlan_name(network_id: str) -> str:
    return VXLAN_PREFIX + short_id(network_id)


def vlan_name(network_id: str) -> str:
    return VLAN_PREFIX + short_id(network_id)


def vlan_wire_name(network_id: str) -> str:
    """Outer end of a VLAN network's veth pair (kernels without 802.1Q
    devices): it carries the network's frames to and from the wire."""
    return VLAN_WIRE_PREFIX + short_id(network_id)


def tap_name(port_id: str) -> str:
    return TAP_PREFIX + short_id(port_id)


def trunk_wire_name(port_id: str) -> str:
    """Outer end of a trunk subport's veth pair: it tags what leaves the
    subport's bridge and hands it to the parent's device."""
    return TRUNK_WIRE_PREFIX + short_id(port_id)


def host_tag(host: str) -> str:
    return hashlib.sha256(host.encode()).hexdigest()[:8]


def instance_netns_prefix(host: str) -> str:
    """Every instance namespace of ``host`` starts with this."""
    return f"{INSTANCE_NETNS_PREFIX}{host_tag(host)}-"


def instance_netns(host: str, port_id: str) -> str:
    return instance_netns_prefix(host) + port_id


_HOSTNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def instance_hostname(hostname: str, netns: str) -> str:
    """The hostname of the instance in ``netns``: ``hostname`` (the API's,
    see ``PortView.hostname``) when it is a valid host name label (RFC 1123:
    letters, digits and inner ``-``, at most 63 characters), else the
    namespace's own name (a valid label too)."""
    return hostname if _HOSTNAME.fullmatch(hostname) else netns


def router_port_name(port_id: str) -> str:
    """Host end (in the network's bridge) of a router's leg for ``port_id``."""
    return ROUTER_PORT_PREFIX + short_id(port_id)


def gateway_port_name(object_id: str) -> str:
    """Host end (in the external network's bridge) of a router's external leg."""
    return GATEWAY_PORT_PREFIX + short_id(object_id)


def router_if_name(port_id: str) -> str:
    return ROUTER_IF_PREFIX + short_id(port_id)


def router_gw_name(object_id: str) -> str:
    return ROUTER_GW_PREFIX + short_id(object_id)


def router_netns(host: str, router_id: str) -> str:
    """The namespace where ``host`` runs its part of a router."""
    return f"{ROUTER_NETNS_PREFIX}{host_tag(host)}-{router_id}"


def snat_netns(host: str, router_id: str) -> str:
    """The namespace of a distributed router's SNAT on its gateway host."""
    return f"{SNAT_NETNS_PREFIX}{host_tag(host)}-{router_id}"


def router_of_netns(name: str) -> str | None:
    """The router id of a router or SNAT namespace's name, or None."""
    match = _ROUTER_NETNS.match(name)
    return match.group(2) if match else None


def is_router_netns(name: str, host: str | None = None) -> bool:
    match = _ROUTER_NETNS.match(name)
    return bool(match) and (host is None or match.group(1) == host_tag(host))  # type: ignore[union-attr]


def metadata_port_name(network_id: str) -> str:
    """Host end (in the network's bridge) of the metadata namespace's leg."""
    return METADATA_PORT_PREFIX + short_id(network_id)


def metadata_netns(host: str, network_id: str) -> str:
    """The namespace where ``host`` answers 169.254.169.254 on a network."""
    return f"{METADATA_NETNS_PREFIX}{host_tag(host)}-{network_id}"


def is_metadata_netns(name: str, host: str | None = None) -> bool:
    match = _METADATA_NETNS.match(name)
    return bool(match) and (host is None or match.group(1) == host_tag(host))  # type: ignore[union-attr]


def metadata_network_id(netns_name: str) -> str | None:
    """The network id a metadata namespace was named from, or None."""
    match = _METADATA_NETNS.match(netns_name)
    return match.group(2) if match else None


def is_kumo_name(name: str) -> bool:
    """True for link names kumo derives (and so may remove when not desired)."""
    return bool(_KUMO_LINK.match(name))


def is_instance_netns(name: str, host: str | None = None) -> bool:
    """True for instance namespaces (of ``host`` when it is given)."""
    if host is not None:
        return name.startswith(instance_netns_prefix(host)) and len(name) > len(
            instance_netns_prefix(host)
        )
    return bool(_INSTANCE_NETNS.match(name))


def instance_port_id(netns_name: str) -> str | None:
    """The port id an instance namespace was named from, or None."""
    match = _INSTANCE_NETNS.match(netns_name)
    return match.group(2) if match else None
