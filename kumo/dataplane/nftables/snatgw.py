"""SnatGateway → an nftables script for the host namespace. Pure.

One table ``netdev kumo_snatgw`` with, per uplink device, a chain on its
ingress hook (before the bridge, before any connection tracking) and maps
from (external IP, port) to the owning host's external leg MAC:

- ``ports_<n>`` / ``local_<n>``: TCP and UDP destination ports and ICMP
  echo identifiers of leased blocks owned by another host / by this one;
- an ICMP error (destination unreachable, time exceeded, parameter
  problem) quoting a TCP or UDP packet is looked up by the quoted source
  port, one quoting an echo request by its identifier (a quoted header
  without IP options: 20 bytes, as translated packets leave the hosts);
- ``gwmac``: external IP → the router's gateway MAC, the source of
  forwarded frames (the fabric learns the gateway carrying them);
- ``gateways``: those MACs; a frame from one was forwarded already and is
  only handed to a local leg, never sent on again.

A matching frame for another host leaves by the device it came in
(``fwd``); one for this host goes on into the bridge with the leg's MAC.
An empty ``fp_<digest>`` set records what was written. The script
replaces the table in one transaction (this nft version cannot change a
netdev chain's device in place).
"""

from __future__ import annotations

from kumo.compiler.plan import SnatGateway, UplinkForward
from kumo.dataplane.nftables.render import FINGERPRINT_PREFIX

TABLE = "kumo_snatgw"
_T = f"netdev {TABLE}"
ERRORS = "{ destination-unreachable, time-exceeded, parameter-problem }"
QUOTED_V4 = "@th,64,8 0x45"
"""The quoted packet is IPv4 without options (version 4, 5 words)."""
QUOTED_PORT = "@th,224,16"
"""The quoted TCP/UDP source port: 8 (ICMP) + 20 (IP) bytes in."""
QUOTED_ECHO_ID = "@th,256,16"
"""The quoted echo request's identifier: 8 + 20 + 4 bytes in."""
QUOTED_PROTOCOL = "@th,136,8"


def fingerprint(gateway: SnatGateway) -> str:
    return FINGERPRINT_PREFIX + gateway.fingerprint()


def remove_script() -> str:
    return f"add table {_T}\ndelete table {_T}\n"


def _elements(entries: list[UplinkForward]) -> str:
    return ", ".join(f"{x.external_ip} . {x.port_min}-{x.port_max} : {x.mac}" for x in entries)


def _map(name: str, key: str, entries: list[UplinkForward]) -> list[str]:
    spec = f"{{ typeof ip daddr . {key} : ether daddr; flags interval; }}"
    lines = [f"add map {_T} {name} {spec}"]
    if entries:
        lines.append(f"add element {_T} {name} {{ {_elements(entries)} }}")
    return lines


def _rules(chain: str, maps: str, then: str) -> list[str]:
    """Rules of one device's chain for the maps named ``maps`` (ports,
    echo and quoted-port variants share the leased ranges)."""
    rewrite = "ether saddr set ip daddr map @gwmac " if then else ""
    lookups = (
        ("ip protocol { tcp, udp }", "th dport"),
        ("ip protocol icmp icmp type echo-reply", "icmp id"),
        (f"ip protocol icmp icmp type {ERRORS} {QUOTED_V4} {QUOTED_PROTOCOL} {{ 6, 17 }}",
         QUOTED_PORT),
        (f"ip protocol icmp icmp type {ERRORS} {QUOTED_V4} {QUOTED_PROTOCOL} 1", QUOTED_ECHO_ID),
    )  # fmt: skip
    guard = "ether saddr != @gateways " if then else ""
    out = []
    for match, key in lookups:
        name = f"{maps}_{'p' if key in ('th dport', QUOTED_PORT) else 'e'}"
        if key in (QUOTED_PORT, QUOTED_ECHO_ID):
            name += "q"
        out.append(
            f"add rule {_T} {chain} {match} {guard}ip daddr . {key} @{name} {rewrite}"
            f"ether daddr set ip daddr . {key} map @{name} {then}".rstrip()
        )
    return out


def gateway_script(gateway: SnatGateway) -> str:
    """The script that makes the table what ``gateway`` says."""
    lines = [f"add table {_T}", f"delete table {_T}", f"add table {_T}"]
    lines.append(f"add set {_T} {fingerprint(gateway)} {{ type ipv4_addr; }}")
    macs = sorted({(x.external_ip, x.gateway_mac) for x in gateway.forward})
    lines.append(f"add map {_T} gwmac {{ typeof ip daddr : ether saddr; }}")
    lines.append(f"add set {_T} gateways {{ typeof ether saddr; }}")
    if macs:
        lines.append(f"add element {_T} gwmac {{ {', '.join(f'{ip} : {m}' for ip, m in macs)} }}")
        lines.append(f"add element {_T} gateways {{ {', '.join(sorted({m for _, m in macs}))} }}")
    devices = sorted({x.device for x in gateway.forward})
    for n, device in enumerate(devices):
        chain = f"in{n}"
        spec = f'{{ type filter hook ingress device "{device}" priority -300; policy accept; }}'
        lines.append(f"add chain {_T} {chain} {spec}")
        for kind, local in (("fwd", False), ("local", True)):
            entries = [x for x in gateway.forward if x.device == device and x.local == local]
            if not entries:
                continue
            maps = f"{kind}{n}"
            for suffix, key in (("p", "th dport"), ("e", "icmp id"), ("pq", QUOTED_PORT),
                                ("eq", QUOTED_ECHO_ID)):  # fmt: skip
                lines += _map(f"{maps}_{suffix}", key, entries)
            then = "" if local else f'fwd to "{device}"'
            lines += _rules(chain, maps, then)
    return "\n".join(lines) + "\n"
