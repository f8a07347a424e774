"""Server bodies for a microversion, rendered in bulk (one query per table)."""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.compute import hostnames, server_networks
from kumo.compute.common import links, ts
from kumo.compute.microversion import Version
from kumo.compute.server_status import Effective, derive
from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.compute_models import Server, ServerGroupMember
from kumo.db.l3_models import FloatingIP
from kumo.db.network_models import IPAllocation, Network, Port
from kumo.db.secgroup_models import PortSecurityGroup, SecurityGroup
from kumo.db.volume_models import VolumeAttachment
from kumo.errors import BadRequest
from kumo.policy import allowed


@dataclass
class Attachments:
    """What the views need of the servers' ports, loaded once for a page."""

    ports: dict[str, list[Port]] = field(default_factory=dict)
    ips: dict[str, list[str]] = field(default_factory=dict)
    network_names: dict[str, str] = field(default_factory=dict)
    floating: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    """port id -> [(fixed ip, floating ip)]"""
    groups: dict[str, list[str]] = field(default_factory=dict)
    """port id -> group names"""
    server_groups: dict[str, list[str]] = field(default_factory=dict)
    volumes: dict[str, list[tuple[str, bool]]] = field(default_factory=dict)
    """server id -> [(volume id, delete_on_termination)], the root disk first"""


def load_attachments(session: Session, server_ids: list[str]) -> Attachments:
    out = Attachments()
    if not server_ids:
        return out
    for start in range(0, len(server_ids), 500):
        chunk = server_ids[start : start + 500]
        for port in session.scalars(
            server_networks.in_server_order(select(Port).where(Port.device_id.in_(chunk)))
        ):
            out.ports.setdefault(port.device_id, []).append(port)
        m = ServerGroupMember
        for sid, gid in session.execute(
            select(m.server_id, m.group_id).where(m.server_id.in_(chunk))
        ):
            out.server_groups.setdefault(sid, []).append(gid)
        va = VolumeAttachment
        for owner, vid, dot in session.execute(
            select(va.instance_uuid, va.volume_id, va.delete_on_termination)
            .where(va.instance_uuid.in_(chunk))
            .order_by(va.boot_index.is_(None), va.created_at)
        ):
            out.volumes.setdefault(owner or "", []).append((vid, bool(dot)))
    port_ids = [p.id for ps in out.ports.values() for p in ps]
    net_ids = {p.network_id for ps in out.ports.values() for p in ps}
    if net_ids:
        out.network_names = dict(
            session.execute(select(Network.id, Network.name).where(Network.id.in_(net_ids))).all()
        )
    ips: dict[str, list[str]] = defaultdict(list)
    groups: dict[str, list[str]] = defaultdict(list)
    floating: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for start in range(0, len(port_ids), 500):
        chunk = port_ids[start : start + 500]
        a = IPAllocation
        for pid, addr in session.execute(
            select(a.port_id, a.ip_address).where(a.port_id.in_(chunk)).order_by(a.id)
        ):
            ips[pid].append(addr)
        b = PortSecurityGroup
        for pid, name in session.execute(
            select(b.port_id, SecurityGroup.name)
            .join(SecurityGroup, SecurityGroup.id == b.security_group_id)
            .where(b.port_id.in_(chunk))
            .order_by(SecurityGroup.name)
        ):
            groups[pid].append(name)
        f = FloatingIP
        for fpid, fixed, fip in session.execute(
            select(f.fixed_port_id, f.fixed_ip_address, f.floating_ip_address).where(
                f.fixed_port_id.in_(chunk)
            )
        ):
            if fpid:
                floating[fpid].append((fixed or "", fip))
    out.ips, out.groups, out.floating = dict(ips), dict(groups), dict(floating)
    return out


def effective(server: Server, att: Attachments, settings: Settings) -> Effective:
    statuses = [p.status for p in att.ports.get(server.id, [])]
    return derive(server, statuses, utcnow(), settings.vif_plugged_timeout)


def addresses(server: Server, att: Attachments) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for port in att.ports.get(server.id, []):
        name = att.network_names.get(port.network_id, port.network_id)
        entries = out.setdefault(name, [])
        for addr in att.ips.get(port.id, []):
            entries.append(_address(addr, "fixed", port.mac_address))
        for _fixed, fip in att.floating.get(port.id, []):
            entries.append(_address(fip, "floating", port.mac_address))
    return out


def _address(addr: str, kind: str, mac: str) -> dict[str, Any]:
    return {
        "version": 6 if ":" in addr else 4,
        "addr": addr,
        "OS-EXT-IPS:type": kind,
        "OS-EXT-IPS-MAC:mac_addr": mac,
    }


def host_id(server: Server) -> str:
    if not server.host:
        return ""
    return hashlib.sha224((server.project_id + server.host).encode()).hexdigest()


def instance_name(server: Server) -> str:
    return "instance-" + server.id.replace("-", "")[:8]


def brief(server: Server, base: str) -> dict[str, Any]:
    return {"id": server.id, "name": server.name, "links": links(base, "servers", server.id)}


def _flavor(server: Server, base: str, version: Version) -> dict[str, Any]:
    snap = dict(server.flavor or {})
    if not version.at_least("2.47"):
        return {
            "id": server.flavor_id,
            "links": [{"rel": "bookmark", "href": f"{base}/flavors/{server.flavor_id}"}],
        }
    return {
        "vcpus": snap.get("vcpus", server.vcpus),
        "ram": snap.get("ram", server.memory_mb),
        "disk": snap.get("disk", 0),
        "ephemeral": snap.get("ephemeral", 0),
        "swap": snap.get("swap", 0),
        "original_name": snap.get("name", server.flavor_id),
        "extra_specs": dict(snap.get("extra_specs") or {}),
    }


def detail(
    server: Server,
    att: Attachments,
    ctx: RequestContext,
    base: str,
    version: Version,
    settings: Settings,
    *,
    show: bool = False,
) -> dict[str, Any]:
    eff = effective(server, att, settings)
    group_names = sorted(
        {g for p in att.ports.get(server.id, []) for g in att.groups.get(p.id, [])}
    )
    out: dict[str, Any] = {
        "id": server.id,
        "name": server.name,
        "status": eff.status,
        "tenant_id": server.project_id,
        "user_id": server.user_id,
        "metadata": dict(server.meta or {}),
        "hostId": host_id(server),
        "image": {
            "id": server.image_id,
            "links": [{"rel": "bookmark", "href": f"{base}/images/{server.image_id}"}],
        }
        if server.image_id
        else "",
        "flavor": _flavor(server, base, version),
        "created": ts(server.created_at),
        "updated": ts(server.updated_at),
        "addresses": addresses(server, att),
        "accessIPv4": server.access_ipv4 or "",
        "accessIPv6": server.access_ipv6 or "",
        "links": links(base, "servers", server.id),
        "OS-DCF:diskConfig": "MANUAL",
        "OS-EXT-AZ:availability_zone": server.availability_zone or "",
        "config_drive": server.config_drive,
        "key_name": server.key_name,
        "OS-SRV-USG:launched_at": ts(server.launched_at or server.created_at)
        if eff.status != "BUILD" and server.host
        else None,
        "OS-SRV-USG:terminated_at": None,
        "OS-EXT-STS:task_state": eff.task_state,
        "OS-EXT-STS:vm_state": eff.vm_state,
        "OS-EXT-STS:power_state": eff.power_state,
        "os-extended-volumes:volumes_attached": [
            {"id": vid, **({"delete_on_termination": dot} if version.at_least("2.3") else {})}
            for vid, dot in att.volumes.get(server.id, [])
        ],
    }
    if group_names:
        out["security_groups"] = [{"name": n} for n in group_names]
    if eff.status in ("ACTIVE", "BUILD"):
        out["progress"] = 100 if eff.status == "ACTIVE" else 0
    if eff.fault is not None:
        fault = dict(eff.fault)
        if not allowed(ctx, "compute:servers:show:fault_details"):
            fault.pop("details", None)
        out["fault"] = fault
    if allowed(ctx, "compute:servers:show:host"):
        out["OS-EXT-SRV-ATTR:host"] = server.host
        out["OS-EXT-SRV-ATTR:hypervisor_hostname"] = server.host
        out["OS-EXT-SRV-ATTR:instance_name"] = instance_name(server)
        if version.at_least("2.3"):
            out.update(
                {
                    "OS-EXT-SRV-ATTR:reservation_id": server.reservation_id,
                    "OS-EXT-SRV-ATTR:launch_index": server.launch_index,
                    "OS-EXT-SRV-ATTR:hostname": hostnames.server_hostname(server.id, server.name),
                    "OS-EXT-SRV-ATTR:kernel_id": "",
                    "OS-EXT-SRV-ATTR:ramdisk_id": "",
                    "OS-EXT-SRV-ATTR:root_device_name": None,
                    "OS-EXT-SRV-ATTR:user_data": server.user_data,
                }
            )
        if version.at_least("2.16"):
            out["host_status"] = "UP" if server.host else ""
    if version.at_least("2.9"):
        out["locked"] = server.locked
    if version.at_least("2.19"):
        out["description"] = server.description
    if version.at_least("2.26"):
        out["tags"] = list(server.tags or [])
    if version.at_least("2.63"):
        out["trusted_image_certificates"] = None
    if version.at_least("2.71") and show:
        out["server_groups"] = att.server_groups.get(server.id, [])
    if version.at_least("2.73"):
        out["locked_reason"] = None
    return out


_CHANGED_KEYS = (
    "id", "name", "status", "image", "flavor", "fault", "user_id", "tenant_id", "created",
    "updated", "progress", "metadata", "links", "addresses", "hostId", "OS-DCF:diskConfig",
    "accessIPv4", "accessIPv6",
)  # fmt: skip
_CHANGED_FROM = (
    ("locked", "2.9"), ("description", "2.19"), ("tags", "2.26"),
    ("trusted_image_certificates", "2.63"), ("server_groups", "2.71"), ("locked_reason", "2.73"),
)  # fmt: skip


def after_change(
    full: dict[str, Any], server: Server, version: Version, *, rebuild: bool
) -> dict[str, Any]:
    """The server in the answer to an update (PUT) or a rebuild: before 2.75
    Nova's shorter view (no extended attributes, addresses without type and
    MAC; a rebuild adds ``key_name`` from 2.54 and ``user_data`` from 2.57),
    from 2.75 the view a GET shows (a rebuild's ``user_data`` under that name).
    ``full`` is the GET view (``detail(..., show=True)``)."""
    if version.at_least("2.75"):
        out = dict(full)
        if rebuild:
            out.pop("OS-EXT-SRV-ATTR:user_data", None)
            out["user_data"] = server.user_data
        return out
    out = {k: full[k] for k in _CHANGED_KEYS if k in full}
    out["addresses"] = {
        net: [{"version": a["version"], "addr": a["addr"]} for a in items]
        for net, items in full["addresses"].items()
    }
    for key, since in _CHANGED_FROM:
        if key in full and version.at_least(since):
            out[key] = full[key]
    if rebuild and version.at_least("2.54"):
        out["key_name"] = server.key_name
    if rebuild and version.at_least("2.57"):
        out["user_data"] = server.user_data
    return out


def filtered(views: list[dict[str, Any]], params: dict[str, str]) -> list[dict[str, Any]]:
    """The list filters on what the views show: ``ip``/``ip6`` (a regular
    expression searched in the fixed addresses of that version, as Nova
    does) and the tag filters (``tags``, ``tags-any``, ``not-tags``,
    ``not-tags-any``: comma-separated)."""
    for key, ip_version in (("ip", 4), ("ip6", 6)):
        if key in params:
            try:
                pattern = re.compile(params[key])
            except re.error:
                raise BadRequest(f"Invalid {key} filter: {params[key]}") from None
            views = [
                v for v in views
                if any(
                    a["version"] == ip_version and a.get("OS-EXT-IPS:type", "fixed") == "fixed"
                    and pattern.search(a["addr"])
                    for items in v["addresses"].values() for a in items
                )
            ]  # fmt: skip
    for key in ("tags", "tags-any", "not-tags", "not-tags-any"):
        if key not in params:
            continue
        wanted = {t for t in params[key].split(",") if t}
        views = [v for v in views if _tags_match(key, wanted, set(v.get("tags", [])))]
    return views


def _tags_match(key: str, wanted: set[str], have: set[str]) -> bool:
    if key == "tags":
        return wanted <= have
    if key == "tags-any":
        return bool(wanted & have)
    if key == "not-tags":
        return not wanted <= have
    return not wanted & have
