"""Reading rtnetlink state fast: requests and dumps on a plain socket, decoded
with ``struct``, keeping only the attributes the dataplane reads.

pyroute2 decodes every attribute of every message into Python objects
(~0.4 ms per link message here), which made reading a host with 1,000 ports
cost seconds. This module asks the same questions on a raw ``NETLINK_ROUTE``
socket and decodes only what ``kernel.KernelAdapter`` needs: links (name,
kind, MTU, MAC, flags, master, VXLAN and VLAN identity, bridge-port
learning), addresses, routes (kumo's protocol only: others are skipped from
their header), neighbour and FDB entries. Writes stay with pyroute2.

Errors surface as ``OSError`` with the kernel's errno.
"""

from __future__ import annotations

import itertools
import os
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass

NLMSG_ERROR = 2
NLMSG_DONE = 3
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLM_F_DUMP = 0x300

RTM_NEWLINK = 16
RTM_GETLINK = 18
RTM_GETADDR = 22
RTM_GETROUTE = 26
RTM_GETNEIGH = 30

AF_BRIDGE = 7

IFLA_ADDRESS = 1
IFLA_IFNAME = 3
IFLA_MTU = 4
IFLA_LINK = 5
IFLA_MASTER = 10
IFLA_LINKINFO = 18
IFLA_EXT_MASK = 29
IFLA_INFO_KIND = 1
IFLA_INFO_DATA = 2
IFLA_INFO_SLAVE_KIND = 4
IFLA_INFO_SLAVE_DATA = 5
IFLA_VXLAN_ID = 1
IFLA_VXLAN_LINK = 3
IFLA_VXLAN_LOCAL = 4
IFLA_VXLAN_LEARNING = 7
IFLA_VXLAN_PROXY = 11
IFLA_VXLAN_PORT = 15
IFLA_VXLAN_LOCAL6 = 17
IFLA_VLAN_ID = 1
IFLA_BR_NF_CALL_IPTABLES = 36
IFLA_BR_NF_CALL_IP6TABLES = 37
IFLA_BRPORT_LEARNING = 8
IFLA_BRPORT_ISOLATED = 33
RTEXT_FILTER_SKIP_STATS = 1 << 3

IFA_ADDRESS = 1
IFA_LOCAL = 2

RTA_DST = 1
RTA_OIF = 4
RTA_GATEWAY = 5
RTA_TABLE = 15

NUD_NOARP = 0x40
NUD_PERMANENT = 0x80

NDA_DST = 1
NDA_LLADDR = 2
NDA_VLAN = 5
NDA_MASTER = 9
NDA_IFINDEX = 8

_HEADER = struct.Struct("=IHHII")
_IFINFO = struct.Struct("=BxHiII")
_IFADDR = struct.Struct("=BBBBI")
_RTMSG = struct.Struct("=BBBBBBBBI")
_NDMSG = struct.Struct("=BxxxiHBB")
_ATTR = struct.Struct("=HH")
_U32 = struct.Struct("=I")
_U16 = struct.Struct("=H")
_BE16 = struct.Struct("!H")

_seq = itertools.count(1)


def _attr(kind: int, value: bytes) -> bytes:
    length = 4 + len(value)
    return _ATTR.pack(length, kind) + value + b"\0" * (-length % 4)


def _attrs(
    buf: bytes, offset: int, end: int, wanted: frozenset[int] | None = None
) -> dict[int, bytes]:
    """Attribute type → value, for the ``wanted`` types only (None: all)."""
    out: dict[int, bytes] = {}
    unpack = _ATTR.unpack_from
    while offset + 4 <= end:
        length, kind = unpack(buf, offset)
        if length < 4:
            break
        kind &= 0x3FFF
        if wanted is None or kind in wanted:
            out[kind] = buf[offset + 4 : offset + length]
        offset += (length + 3) & ~3
    return out


_LINK_ATTRS = frozenset({1, 3, 4, 5, 10, 18})
"""IFLA_ADDRESS, IFNAME, MTU, LINK, MASTER, LINKINFO."""


def _u32(value: bytes | None) -> int:
    return _U32.unpack(value[:4])[0] if value else 0


def _u8(value: bytes | None) -> int:
    return value[0] if value else 0


def _text(value: bytes | None) -> str:
    return value.split(b"\0", 1)[0].decode() if value else ""


def _mac(value: bytes | None) -> str:
    return ":".join(f"{b:02x}" for b in value) if value else ""


def _ip(value: bytes | None) -> str | None:
    if not value:
        return None
    if len(value) == 4:
        return socket.inet_ntop(socket.AF_INET, value)
    if len(value) == 16:
        return socket.inet_ntop(socket.AF_INET6, value)
    return None


def open_socket(sock: socket.socket) -> socket.socket:
    """Make a fresh NETLINK_ROUTE socket ready for requests."""
    sock.bind((0, 0))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    return sock


def request(
    sock: socket.socket, msg_type: int, body: bytes, *, dump: bool = True
) -> Iterator[tuple[int, bytes, int]]:
    """Send one request; yield (type, buffer, offset of the payload) of each
    answer. Raises OSError with the kernel's errno."""
    seq = next(_seq)
    flags = NLM_F_REQUEST | (NLM_F_DUMP if dump else 0)
    sock.send(_HEADER.pack(_HEADER.size + len(body), msg_type, flags, seq, 0) + body)
    while True:
        data = sock.recv(1 << 18)
        offset = 0
        while offset + _HEADER.size <= len(data):
            length, kind, _, msg_seq, _ = _HEADER.unpack_from(data, offset)
            if length < _HEADER.size:
                return
            if msg_seq == seq:
                if kind in (NLMSG_ERROR, NLMSG_DONE):
                    code = struct.unpack_from("=i", data, offset + _HEADER.size)[0]
                    if code < 0:
                        raise OSError(-code, os.strerror(-code))
                    return
                yield kind, data[offset : offset + length], _HEADER.size
                if not dump:
                    return
            offset += (length + 3) & ~3


def command(sock: socket.socket, msg_type: int, flags: int, body: bytes) -> None:
    """Send one change request and wait for the kernel's acknowledgement.
    Raises OSError with the kernel's errno."""
    seq = next(_seq)
    flags |= NLM_F_REQUEST | NLM_F_ACK
    sock.send(_HEADER.pack(_HEADER.size + len(body), msg_type, flags, seq, 0) + body)
    while True:
        data = sock.recv(1 << 16)
        offset = 0
        while offset + _HEADER.size <= len(data):
            length, kind, _, msg_seq, _ = _HEADER.unpack_from(data, offset)
            if length < _HEADER.size:
                return
            if msg_seq == seq and kind == NLMSG_ERROR:
                code = struct.unpack_from("=i", data, offset + _HEADER.size)[0]
                if code < 0:
                    raise OSError(-code, os.strerror(-code))
                return
            offset += (length + 3) & ~3


# -- links ------------------------------------------------------------------------


@dataclass(frozen=True)
class LinkMsg:
    index: int
    name: str
    kind: str
    mtu: int
    mac: str
    up: bool
    master: int
    link: int
    vxlan_id: int | None = None
    vxlan_link: int = 0
    vxlan_local: str | None = None
    vxlan_port: int = 0
    vxlan_learning: bool = False
    vxlan_proxy: bool = False
    vlan_id: int | None = None
    learning: bool | None = None
    isolated: bool | None = None
    bridge_netfilter: bool | None = None
    """On a bridge: its bridge-netfilter switches for IPv4 and IPv6 both on."""


def _link(buf: bytes, offset: int) -> LinkMsg:
    _, _, index, flags, _ = _IFINFO.unpack_from(buf, offset)
    a = _attrs(buf, offset + _IFINFO.size, len(buf), _LINK_ATTRS)
    kind = ""
    vxlan: dict[int, bytes] = {}
    vlan: dict[int, bytes] = {}
    learning = isolated = bridge_netfilter = None
    info = a.get(IFLA_LINKINFO)
    if info:
        i = _attrs(info, 0, len(info))
        kind = _text(i.get(IFLA_INFO_KIND))
        data = i.get(IFLA_INFO_DATA)
        if data and kind == "vxlan":
            vxlan = _attrs(data, 0, len(data))
        elif data and kind == "vlan":
            vlan = _attrs(data, 0, len(data))
        elif data and kind == "bridge":
            br = _attrs(data, 0, len(data))
            bridge_netfilter = bool(_u8(br.get(IFLA_BR_NF_CALL_IPTABLES))) and bool(
                _u8(br.get(IFLA_BR_NF_CALL_IP6TABLES))
            )
        port = i.get(IFLA_INFO_SLAVE_DATA)
        if port and _text(i.get(IFLA_INFO_SLAVE_KIND)) == "bridge":
            brport = _attrs(port, 0, len(port))
            value = brport.get(IFLA_BRPORT_LEARNING)
            learning = bool(value[0]) if value else None
            value = brport.get(IFLA_BRPORT_ISOLATED)
            isolated = bool(value[0]) if value else None
    port_raw = vxlan.get(IFLA_VXLAN_PORT)
    return LinkMsg(
        index=index,
        name=_text(a.get(IFLA_IFNAME)),
        kind=kind,
        mtu=_u32(a.get(IFLA_MTU)),
        mac=_mac(a.get(IFLA_ADDRESS)),
        up=bool(flags & 1),
        master=_u32(a.get(IFLA_MASTER)),
        link=_u32(a.get(IFLA_LINK)),
        vxlan_id=_u32(vxlan.get(IFLA_VXLAN_ID)) if kind == "vxlan" and vxlan else None,
        vxlan_link=_u32(vxlan.get(IFLA_VXLAN_LINK)),
        vxlan_local=_ip(vxlan.get(IFLA_VXLAN_LOCAL)) or _ip(vxlan.get(IFLA_VXLAN_LOCAL6)),
        vxlan_port=_BE16.unpack(port_raw[:2])[0] if port_raw else 0,
        vxlan_learning=bool(_u8(vxlan.get(IFLA_VXLAN_LEARNING))),
        vxlan_proxy=bool(_u8(vxlan.get(IFLA_VXLAN_PROXY))),
        vlan_id=_U16.unpack(vlan[IFLA_VLAN_ID][:2])[0] if IFLA_VLAN_ID in vlan else None,
        learning=learning,
        isolated=isolated,
        bridge_netfilter=bridge_netfilter,
    )


_NO_STATS = _attr(IFLA_EXT_MASK, _U32.pack(RTEXT_FILTER_SKIP_STATS))


def links(sock: socket.socket) -> list[LinkMsg]:
    body = _IFINFO.pack(0, 0, 0, 0, 0) + _NO_STATS
    return [_link(buf, off) for kind, buf, off in request(sock, RTM_GETLINK, body) if kind == 16]


def link(sock: socket.socket, *, name: str | None = None, index: int = 0) -> LinkMsg:
    """One link by name or index; OSError(ENODEV) when there is none."""
    body = _IFINFO.pack(0, 0, index, 0, 0) + _NO_STATS
    if name is not None:
        body += _attr(IFLA_IFNAME, name.encode() + b"\0")
    for kind, buf, off in request(sock, RTM_GETLINK, body, dump=False):
        if kind == RTM_NEWLINK:
            return _link(buf, off)
    raise OSError(19, f"no device {name or index}")


# -- addresses, routes ---------------------------------------------------------------


def addresses(sock: socket.socket) -> list[tuple[int, str, int]]:
    """(ifindex, address, prefix length) of every address."""
    out = []
    body = _IFADDR.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    for _, buf, off in request(sock, RTM_GETADDR, body):
        _, prefixlen, _, _, index = _IFADDR.unpack_from(buf, off)
        a = _attrs(buf, off + _IFADDR.size, len(buf))
        ip = _ip(a.get(IFA_LOCAL)) or _ip(a.get(IFA_ADDRESS))
        if ip:
            out.append((index, ip, prefixlen))
    return out


@dataclass(frozen=True)
class RouteMsg:
    family: int
    dst: str | None
    dst_len: int
    gateway: str | None
    oif: int
    table: int


def routes(sock: socket.socket, protocol: int) -> list[RouteMsg]:
    """Routes of every table with routing protocol ``protocol`` (the others
    are skipped from their header, without decoding)."""
    out = []
    body = _RTMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0, 0, 0, 0, 0)
    for _, buf, off in request(sock, RTM_GETROUTE, body):
        family, dst_len, _, _, table, proto, _, _, _ = _RTMSG.unpack_from(buf, off)
        if proto != protocol:
            continue
        a = _attrs(buf, off + _RTMSG.size, len(buf))
        out.append(
            RouteMsg(
                family,
                _ip(a.get(RTA_DST)),
                dst_len,
                _ip(a.get(RTA_GATEWAY)),
                _u32(a.get(RTA_OIF)),
                _u32(a.get(RTA_TABLE)) or table,
            )
        )
    return out


# -- neighbours and FDB ------------------------------------------------------------------


@dataclass(frozen=True)
class NeighMsg:
    family: int
    ifindex: int
    state: int
    flags: int
    dst: str | None
    lladdr: str
    master: bool
    vlan: bool


def _neigh(buf: bytes, off: int) -> NeighMsg:
    family, ifindex, state, flags, _ = _NDMSG.unpack_from(buf, off)
    a = _attrs(buf, off + _NDMSG.size, len(buf))
    return NeighMsg(
        family,
        ifindex,
        state,
        flags,
        _ip(a.get(NDA_DST)),
        _mac(a.get(NDA_LLADDR)),
        NDA_MASTER in a,
        NDA_VLAN in a,
    )


def neighbours(sock: socket.socket, ifindex: int = 0, *, permanent: int = 0x80) -> list[NeighMsg]:
    """IPv4/IPv6 neighbour entries in state ``permanent`` (of one device
    when ``ifindex``: the kernel filters on NDA_IFINDEX)."""
    body = _NDMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    if ifindex:
        body += _attr(NDA_IFINDEX, _U32.pack(ifindex))
    out = []
    for _, buf, off in request(sock, RTM_GETNEIGH, body):
        family, _, state, _, _ = _NDMSG.unpack_from(buf, off)
        if family in (socket.AF_INET, socket.AF_INET6) and state & permanent:
            out.append(_neigh(buf, off))
    return out


def fdb(sock: socket.socket, ifindex: int = 0) -> list[NeighMsg]:
    """Static bridge and VXLAN forwarding entries (of one port when ``ifindex``).
    Without strict checking the kernel reads the request as an ``ifinfomsg``
    whose index names the port (iproute2's legacy layout); a plain ``ndmsg``
    asks for everything."""
    if ifindex:
        body = _IFINFO.pack(AF_BRIDGE, 0, ifindex, 0, 0)
    else:
        body = _NDMSG.pack(AF_BRIDGE, 0, 0, 0, 0)
    out = []
    for _, buf, off in request(sock, RTM_GETNEIGH, body):
        _, index, state, _, _ = _NDMSG.unpack_from(buf, off)
        # Only static entries can be kumo's: learned ones are skipped unread.
        if state & (NUD_NOARP | NUD_PERMANENT) and (not ifindex or index == ifindex):
            out.append(_neigh(buf, off))
    return out
