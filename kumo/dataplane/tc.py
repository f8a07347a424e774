"""tc over rtnetlink: clsact qdiscs and kumo's cls_bpf filters on ingress hooks.

Just enough of tc for ``vlan_programs``: add a ``clsact`` qdisc to a
device, replace kumo's filter on its ingress hook (one ``bpf`` filter in
direct-action mode, at priority ``PRIORITY`` with handle 1: replacing it is
one request, atomic for the frames that cross it), delete it, and read back
every kumo filter of a namespace. A filter is kumo's when it sits at
``PRIORITY`` on a clsact ingress hook and its name starts with
``vlan_programs.NAME_PREFIX``; nothing else is read as kumo's or changed.

The clsact qdisc itself is left in place when kumo's filter goes: the
physical interface may carry other people's filters, and kumo's own
interfaces take their qdisc with them when they are removed.

Every function works on a ``NETLINK_ROUTE`` socket of the namespace (see
``rtnl.open_socket``) and raises ``OSError`` with the kernel's errno.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from kumo.dataplane import rtnl

RTM_NEWQDISC = 36
RTM_GETQDISC = 38
RTM_NEWTFILTER = 44
RTM_DELTFILTER = 45
RTM_GETTFILTER = 46
NLM_F_REPLACE = 0x100
NLM_F_EXCL = 0x200
NLM_F_CREATE = 0x400

TCA_KIND = 1
TCA_OPTIONS = 2
TCA_BPF_FD = 6
TCA_BPF_NAME = 7
TCA_BPF_FLAGS = 8
TCA_BPF_FLAG_ACT_DIRECT = 1

TC_H_CLSACT = 0xFFFFFFF1
TC_H_CLSACT_HANDLE = 0xFFFF0000
TC_H_INGRESS_HOOK = 0xFFFFFFF2
"""Parent of filters on a clsact qdisc's ingress hook (``ffff:fff2``)."""
ETH_P_ALL = 0x0003

PRIORITY = 0x4B55
"""Priority of kumo's filter on a hook; one filter there, with handle 1."""
HANDLE = 1

_TCMSG = struct.Struct("=BxxxiIII")


@dataclass(frozen=True)
class Filter:
    ifindex: int
    name: str
    direct_action: bool


def _info() -> int:
    return (PRIORITY << 16) | socket.htons(ETH_P_ALL)


def _str(value: str) -> bytes:
    return value.encode() + b"\0"


def add_clsact(sock: socket.socket, ifindex: int) -> None:
    """Add a clsact qdisc to the device; EEXIST when it has one."""
    body = _TCMSG.pack(socket.AF_UNSPEC, ifindex, TC_H_CLSACT_HANDLE, TC_H_CLSACT, 0)
    body += rtnl._attr(TCA_KIND, _str("clsact"))
    rtnl.command(sock, RTM_NEWQDISC, NLM_F_CREATE | NLM_F_EXCL, body)


def replace_filter(sock: socket.socket, ifindex: int, prog_fd: int, name: str) -> None:
    """Put program ``prog_fd`` on the device's ingress hook as kumo's filter
    (created, or replaced in place)."""
    options = (
        rtnl._attr(TCA_BPF_FD, struct.pack("=I", prog_fd))
        + rtnl._attr(TCA_BPF_NAME, _str(name))
        + rtnl._attr(TCA_BPF_FLAGS, struct.pack("=I", TCA_BPF_FLAG_ACT_DIRECT))
    )
    body = _TCMSG.pack(socket.AF_UNSPEC, ifindex, HANDLE, TC_H_INGRESS_HOOK, _info())
    body += rtnl._attr(TCA_KIND, _str("bpf")) + rtnl._attr(TCA_OPTIONS, options)
    rtnl.command(sock, RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_REPLACE, body)


def delete_filter(sock: socket.socket, ifindex: int) -> None:
    """Remove kumo's filter from the device's ingress hook; ENOENT when
    there is none."""
    body = _TCMSG.pack(socket.AF_UNSPEC, ifindex, 0, TC_H_INGRESS_HOOK, _info())
    body += rtnl._attr(TCA_KIND, _str("bpf"))
    rtnl.command(sock, RTM_DELTFILTER, 0, body)


def clsact_devices(sock: socket.socket) -> list[int]:
    """Indexes of the devices that have a clsact qdisc."""
    body = _TCMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0)
    out = []
    for _, buf, off in rtnl.request(sock, RTM_GETQDISC, body):
        _, ifindex, _, parent, _ = _TCMSG.unpack_from(buf, off)
        attrs = rtnl._attrs(buf, off + _TCMSG.size, len(buf), frozenset({TCA_KIND}))
        if parent == TC_H_CLSACT and rtnl._text(attrs.get(TCA_KIND)) == "clsact":
            out.append(ifindex)
    return out


def ingress_filters(sock: socket.socket, ifindex: int, prefix: str) -> list[Filter]:
    """The filters at ``PRIORITY`` on the device's ingress hook whose name
    starts with ``prefix``."""
    body = _TCMSG.pack(socket.AF_UNSPEC, ifindex, 0, TC_H_INGRESS_HOOK, 0)
    out = []
    for _, buf, off in rtnl.request(sock, RTM_GETTFILTER, body):
        _, _, handle, _, info = _TCMSG.unpack_from(buf, off)
        if info >> 16 != PRIORITY or handle == 0:
            continue
        attrs = rtnl._attrs(buf, off + _TCMSG.size, len(buf), frozenset({TCA_KIND, TCA_OPTIONS}))
        if rtnl._text(attrs.get(TCA_KIND)) != "bpf":
            continue
        raw = attrs.get(TCA_OPTIONS) or b""
        options = rtnl._attrs(raw, 0, len(raw))
        name = rtnl._text(options.get(TCA_BPF_NAME))
        if name.startswith(prefix):
            flags = rtnl._u32(options.get(TCA_BPF_FLAGS))
            out.append(Filter(ifindex, name, bool(flags & TCA_BPF_FLAG_ACT_DIRECT)))
    return out
