"""Servers: create (validate, quota, schedule, ports), list with Nova's filters, update, delete."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import ipaddress
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.compute import (
    block_devices,
    drivers,
    flavors,
    quotas,
    scheduler,
    server_events,
    server_groups,
    server_networks,
)
from kumo.compute.common import body_member, name_field, non_negative
from kumo.compute.microversion import Version
from kumo.compute.scheduler import hosts as host_states
from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.compute_models import Image, KeyPair, Server, ServerGroup, ServerGroupMember
from kumo.db.uow import UnitOfWork
from kumo.errors import BadRequest, Conflict, Forbidden, NotFound, shown
from kumo.image import access
from kumo.network import events
from kumo.network.qos import minimum
from kumo.policy import allowed

CREATE_KEYS = {
    "name", "imageRef", "flavorRef", "networks", "security_groups", "availability_zone",
    "user_data", "metadata", "key_name", "min_count", "max_count", "description",
    "config_drive", "adminPass", "OS-DCF:diskConfig", "accessIPv4", "accessIPv6",
    "return_reservation_id", "personality", "tags", "trusted_image_certificates",
    "host", "hypervisor_hostname", "hostname", "block_device_mapping_v2",
}  # fmt: skip
MAX_USER_DATA = 65535


def not_found(server_id: str) -> NotFound:
    return NotFound(f"Instance {server_id} could not be found.", kind="InstanceNotFound")


def load(session: Session, ctx: RequestContext, server_id: str, *, lock: bool = False) -> Server:
    q = select(Server).where(Server.id == server_id)
    if lock:
        q = q.with_for_update()
    server = session.scalar(q)
    if server is None or not allowed(
        ctx, "compute:servers:show", {"project_id": server.project_id}
    ):
        raise not_found(server_id)
    return server


@dataclass(frozen=True)
class Created:
    ids: list[str]
    reservation_id: str
    admin_pass: str
    return_reservation_id: bool


def ref(value: Any, field: str) -> str:
    """An id, or the last segment of a URL to it."""
    if not isinstance(value, str) or not value.strip():
        raise BadRequest(f"Invalid input for field/attribute {field}. Value: {value}.")
    return value.rstrip("/").rsplit("/", 1)[-1]


def metadata_field(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"Invalid input for field/attribute metadata. Value: {value}.")
    for k, v in value.items():
        if (
            not isinstance(k, str)
            or not 1 <= len(k) <= 255
            or not isinstance(v, str)
            or len(v) > 255
        ):
            raise BadRequest(f"Invalid input for field/attribute metadata. Value: {value}.")
    return dict(value)


def description_field(desc: Any) -> str | None:
    if desc is not None and (not isinstance(desc, str) or len(desc) > 255):
        raise BadRequest(f"Invalid input for field/attribute description. Value: {desc}.")
    return desc


def access_ip(value: Any, field: str, ip_version: int) -> str:
    """An ``accessIPv4``/``accessIPv6`` value: an address of that version, or
    blank (null or "") to clear it."""
    if value is None or value == "":
        return ""
    try:
        addr = ipaddress.ip_address(value) if isinstance(value, str) else None
    except ValueError:
        addr = None
    if addr is None or addr.version != ip_version:
        raise BadRequest(f"Invalid input for field/attribute {field}. Value: {value}.")
    return str(addr)


def _tags(value: Any, version: Version) -> list[str]:
    """Tags given at boot (2.52+)."""
    if value is None:
        return []
    if not version.at_least("2.52"):
        raise BadRequest(
            "Invalid input for field/attribute server. Additional properties are not allowed "
            "('tags' was unexpected)"
        )
    from kumo.compute.server_tags import tags_field

    return tags_field(value)


def user_data(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_USER_DATA:
        raise BadRequest("Invalid input for field/attribute user_data.")
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("User data needs to be valid base 64.") from None
    return value


def _zone(ctx: RequestContext, value: Any) -> tuple[str | None, str | None]:
    """``zone``, ``zone:host`` or ``:host`` (host forcing is admin only)."""
    if value is None or value == "":
        return None, None
    if not isinstance(value, str):
        raise BadRequest(f"Invalid input for field/attribute availability_zone. Value: {value}.")
    zone, _, host = value.partition(":")
    host = host.split(":", 1)[0]
    if host and not allowed(ctx, "compute:servers:create:forced_host"):
        raise Forbidden(
            "Policy doesn't allow os_compute_api:servers:create:forced_host to be performed."
        )
    return zone or None, host or None


def _group(session: Session, ctx: RequestContext, body: dict[str, Any]) -> ServerGroup | None:
    hints = body.get("os:scheduler_hints") or body.get("OS-SCH-HNT:scheduler_hints") or {}
    if not isinstance(hints, dict):
        raise BadRequest("Invalid input for field/attribute os:scheduler_hints.")
    group_id = hints.get("group")
    if group_id is None:
        return None
    group = session.get(ServerGroup, group_id) if isinstance(group_id, str) else None
    if group is None or not allowed(
        ctx, "compute:server_groups:show", {"project_id": group.project_id}
    ):
        raise BadRequest(f"Invalid input for field/attribute group. Value: {group_id}.")
    return group


def create(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, body: Any, version: Version
) -> Created:
    data = body_member(body, "server")
    unknown = sorted(set(data) - CREATE_KEYS)
    if unknown:
        raise BadRequest(
            "Invalid input for field/attribute server. Additional properties are not allowed "
            f"('{unknown[0]}' was unexpected)"
        )
    mappings = block_devices.parse(data.get("block_device_mapping_v2"))
    s = uow.session
    name = name_field(data.get("name"))
    max_wanted = data.get("max_count", data.get("min_count", 1))
    max_wanted = max_wanted if isinstance(max_wanted, int) else 1
    given = None
    if mappings.root is not None:
        if data.get("imageRef"):
            raise BadRequest("Give imageRef or a boot volume in block_device_mapping_v2, "
                             "not both.")  # fmt: skip
    else:
        image_id = ref(data.get("imageRef"), "imageRef")
        given = s.get(Image, image_id)
        if given is None or not access.visible(s, ctx, given):
            raise BadRequest(f"Image {image_id} could not be found.")
        if given.status != "active":
            raise BadRequest(f"Image {image_id} is not active.")
        carried = block_devices.from_image(given)
        if carried.root is not None:  # an image of a volume-backed server
            mappings = block_devices.Mappings(carried.root, carried.data + mappings.data)
    checked = block_devices.check(s, ctx, mappings, max_wanted, given)
    image = checked.image
    boot = mappings.root
    drivers.check_bootable(settings, image)
    flavor_id = ref(data.get("flavorRef"), "flavorRef")
    try:
        flavor = flavors.load(s, ctx, flavor_id)
    except NotFound:
        raise BadRequest(f"Flavor {flavor_id} could not be found.") from None
    if flavor.ram < image.min_ram or (
        boot is None and flavor.disk and flavor.disk < image.min_disk
    ):
        raise BadRequest("Flavor's memory or disk is too small for requested image.")
    wanted = server_networks.parse(data.get("networks"), required=version.at_least("2.37"))
    try:
        requested = server_networks.resolve(uow, settings, ctx, wanted)
    except NotFound as exc:
        raise BadRequest(exc.message) from None
    min_count = non_negative(data.get("min_count", 1), "min_count", minimum=1)
    max_count = non_negative(data.get("max_count", min_count), "max_count", minimum=1)
    if min_count > max_count:
        raise BadRequest("min_count must be <= max_count")
    if max_count > 1 and any(r.port_id for r in requested):
        raise BadRequest(
            "Unable to launch multiple instances with a single configured port ID. "
            "Please launch your instance one by one with different ports."
        )
    groups = data.get("security_groups") or [{"name": "default"}]
    if not isinstance(groups, list) or not all(
        isinstance(g, dict) and isinstance(g.get("name"), str) for g in groups
    ):
        raise BadRequest(f"Invalid input for field/attribute security_groups. Value: {groups}.")
    group_names = list(dict.fromkeys(g["name"] for g in groups))
    metadata = metadata_field(data.get("metadata"))
    tags = _tags(data.get("tags"), version)
    quotas.check(
        s,
        settings,
        ctx.project_id or "",
        "metadata_items",
        0,
        len(metadata),
        "Quota exceeded for metadata_items: Requested "
        f"{len(metadata)}, but already used 0 of "
        f"{quotas.limits(s, settings, ctx.project_id or '')['metadata_items']} metadata_items",
    )
    key_name = data.get("key_name")
    key_data = None
    if key_name is not None and not isinstance(key_name, str):
        raise BadRequest(f"Invalid input for field/attribute key_name. Value: {shown(key_name)}.")
    if key_name is not None:
        kp = s.scalar(
            select(KeyPair).where(KeyPair.user_id == ctx.user_id, KeyPair.name == key_name)
        )
        if kp is None:
            raise BadRequest("Invalid key_name provided.")
        key_data = kp.public_key
    zone, force_host = _zone(ctx, data.get("availability_zone"))
    if zone is not None and zone not in _zones(s, settings):
        raise BadRequest("The requested availability zone is not available")
    description = data.get("description") if version.at_least("2.19") else None
    if description is not None and (not isinstance(description, str) or len(description) > 255):
        raise BadRequest(f"Invalid input for field/attribute description. Value: {description}.")
    group = _group(s, ctx, body)
    config_drive = data.get("config_drive")
    given_user_data = user_data(data.get("user_data"))
    project = ctx.project_id or ""
    count = quotas.check_instances(s, settings, project, max_count, flavor.vcpus, flavor.ram)
    if count < min_count:
        quotas.check_instances(s, settings, project, min_count, flavor.vcpus, flavor.ram)
    if group is not None:
        members = len(server_groups.members(s, group.id))
        quotas.check(
            s,
            settings,
            project,
            "server_group_members",
            members,
            count,
            "Quota exceeded, too many servers in group",
        )
    reservation = "r-" + secrets.token_hex(4)
    ids = []
    for index in range(count):
        server = Server(
            name=f"{name}-{index + 1}" if count > 1 else name,
            description=description,
            project_id=project,
            user_id=ctx.user_id,
            reservation_id=reservation,
            launch_index=index,
            flavor_id=flavor.id,
            flavor=flavors.snapshot(flavor),
            vcpus=flavor.vcpus,
            memory_mb=flavor.ram,
            image_id=image.id if boot is None else "",
            key_name=key_name,
            key_data=key_data,
            user_data=given_user_data,
            meta=metadata,
            tags=tags,
            access_ipv4=access_ip(data.get("accessIPv4"), "accessIPv4", 4),
            access_ipv6=access_ip(data.get("accessIPv6"), "accessIPv6", 6),
            security_groups=group_names,
            requested_zone=zone,
            availability_zone=zone or settings.default_availability_zone,
            config_drive="True" if config_drive in (True, "True", "true") else "",
            driver=drivers.for_image(image),
        )
        s.add(server)
        s.flush()
        _place(uow, settings, ctx, server, zone, force_host, group, requested, group_names)
        if mappings and server.host:
            block_devices.attach(uow, settings, ctx, server, mappings)
        server_events.emit(uow, server)
        ids.append(server.id)
    return Created(
        ids=ids,
        reservation_id=reservation,
        admin_pass=data.get("adminPass") or secrets.token_urlsafe(9),
        return_reservation_id=bool(data.get("return_reservation_id")),
    )


def _zones(session: Session, settings: Settings) -> set[str]:
    return {h.zone for h in host_states.load(session, settings)} | {
        settings.default_availability_zone
    }


def _place(
    uow: UnitOfWork,
    settings: Settings,
    ctx: RequestContext,
    server: Server,
    zone: str | None,
    force_host: str | None,
    group: ServerGroup | None,
    requested: list[server_networks.Requested],
    group_names: list[str],
) -> None:
    """Schedule ``server`` and claim its resources in this transaction, then make its ports."""
    s = uow.session
    states = host_states.load(s, settings, lock=True)
    asking = _asking_ports(s, requested)
    spec = scheduler.RequestSpec(
        vcpus=server.vcpus,
        memory_mb=server.memory_mb,
        zone=zone,
        force_host=force_host,
        group_policy=group.policy if group else None,
        group_max_per_host=int((group.rules or {}).get("max_server_per_host", 1)) if group else 1,
        group_hosts=server_groups.member_hosts(s, group.id) if group else (),
        driver=server.driver,
        bandwidth=minimum.total(minimum.asks(s, asking).values()),
        packet_rate=_packet_rate_asked(s, asking),
    )
    if spec.bandwidth:
        host_states.add_bandwidth_used(s, states)
    if spec.packet_rate:
        host_states.add_packet_rate_used(s, states)
    if group is not None:
        s.add(ServerGroupMember(server_id=server.id, group_id=group.id))
    chosen = scheduler.select(states, spec, settings)
    if chosen is None:
        server.vm_state = "error"
        server.power_state = 0
        server.fault = {
            "code": 500,
            "created": utcnow().strftime("%Y-%m-%dT%H:%M:%SZ"),
            "message": scheduler.NO_VALID_HOST,
            "details": "",
        }
        s.flush()
        return
    server.host = chosen.host
    server.availability_zone = chosen.zone
    s.flush()
    for req in requested:
        server_networks.attach(uow, settings, ctx, server, req, group_names)


def _asking_ports(
    session: Session, requested: list[server_networks.Requested]
) -> list[tuple[str, str, str | None]]:
    """The server's ports as the QoS minimums read them: (id, network, own
    policy) of the given ports, (a made-up id, network, None) of those to be
    made (their network's policy)."""
    from kumo.db.network_models import Port

    items: list[tuple[str, str, str | None]] = []
    for n, req in enumerate(requested):
        if req.port_id:
            row = session.get(Port, req.port_id)
            if row is not None:
                items.append((row.id, row.network_id, row.qos_policy_id))
        elif req.network_id:
            items.append((f"new-{n}", req.network_id, None))
    return items


def _packet_rate_asked(
    session: Session, items: list[tuple[str, str, str | None]]
) -> dict[str, int]:
    """What the server's ports ask of a host's packet rate, per direction."""
    out: dict[str, int] = {}
    for found in minimum.packet_rate_asks(session, items).values():
        minimum.add_rates(out, found)
    return out


def listing(session: Session, ctx: RequestContext, params: dict[str, str]) -> list[Server]:
    q = select(Server)
    all_tenants = "all_tenants" in params and params["all_tenants"].lower() not in (
        "0",
        "false",
        "f",
        "off",
        "no",
    )
    everyone = allowed(ctx, "compute:servers:list:all_tenants")
    if all_tenants and not everyone:
        raise Forbidden(
            "Policy doesn't allow os_compute_api:servers:detail:get_all_tenants to be performed."
        )
    project = params.get("project_id") or params.get("tenant_id")
    if everyone and all_tenants:
        if project:
            q = q.where(Server.project_id == project)
    else:  # as in Nova, a project filter without all_tenants is ignored
        q = q.where(Server.project_id == ctx.project_id)
    if everyone and "host" in params:
        q = q.where(Server.host == params["host"])
    if "image" in params:
        q = q.where(Server.image_id == params["image"].rstrip("/").rsplit("/", 1)[-1])
    if "flavor" in params:
        q = q.where(Server.flavor_id == params["flavor"].rstrip("/").rsplit("/", 1)[-1])
    if "reservation_id" in params:
        q = q.where(Server.reservation_id == params["reservation_id"])
    if "key_name" in params:
        q = q.where(Server.key_name == params["key_name"])
    if "availability_zone" in params:
        q = q.where(Server.availability_zone == params["availability_zone"])
    for key in ("changes-since", "changes-before"):
        if key in params:
            when = _timestamp(params[key], key)
            q = q.where(
                Server.updated_at >= when if key == "changes-since" else Server.updated_at <= when
            )
    rows = list(session.scalars(q.order_by(Server.created_at.desc(), Server.id.desc())))
    if "name" in params:
        try:
            pattern = re.compile(params["name"])
        except re.error:
            raise BadRequest(f"Invalid name filter: {params['name']}") from None
        rows = [r for r in rows if pattern.search(r.name)]
    return rows


def _timestamp(value: str, field: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00").replace(" ", "+"))
    except ValueError:
        raise BadRequest(f"Invalid input for field/attribute {field}. Value: {value}.") from None
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    return when


def update(
    uow: UnitOfWork, ctx: RequestContext, server_id: str, body: Any, version: Version
) -> Server:
    data = body_member(body, "server")
    allowed = {"name", "accessIPv4", "accessIPv6", "OS-DCF:diskConfig"}
    if version.at_least("2.19"):
        allowed.add("description")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise BadRequest(
            "Invalid input for field/attribute server. Additional properties are not allowed "
            f"('{unknown[0]}' was unexpected)"
        )
    server = load(uow.session, ctx, server_id, lock=True)
    if "name" in data:
        name = name_field(data["name"])
        if name != server.name:
            server.name = name
            # the hostname its instances carry on the watch feed follows the name
            for port in server_networks.server_ports(uow.session, server.id):
                events.port(uow, port)
            server_events.emit(uow, server)
    for key, version_ in (("accessIPv4", 4), ("accessIPv6", 6)):
        if key in data:
            setattr(server, "access_ipv4" if version_ == 4 else "access_ipv6",
                    access_ip(data[key], key, version_))  # fmt: skip
    if "description" in data:
        server.description = description_field(data["description"])
    server.updated_at = utcnow()
    return server


def remove(uow: UnitOfWork, ctx: RequestContext, server_id: str) -> None:
    s = uow.session
    server = load(s, ctx, server_id, lock=True)
    if server.locked and not allowed(ctx, "compute:servers:locked_override"):
        raise Conflict(f"Instance {server_id} is locked", kind="InstanceIsLocked")
    for port in server_networks.server_ports(s, server.id):
        server_networks.detach(uow, ctx, server.id, port.id)
    from kumo.compute import volume_attachments

    volume_attachments.release(uow, server.id)
    server_events.emit(uow, server, "delete")
    s.delete(server)
