"""Security group rules: validation and normalisation, create, delete.

A rule's protocol is stored normalised (a lower-case name or a decimal
string, NULL for any); its remote_ip_prefix as given, with a prefix length
(``10.0.0.34`` becomes ``10.0.0.34/32``, ``10.0.0.34/24`` stays: its
network, ``10.0.0.0/24``, is the view's ``normalized_cidr``, which the
data plane uses). Comparing rules for duplicates compares stored values,
with the equivalences Neutron applies: a protocol name equals its number,
and 0.0.0.0/0, ::/0 and no prefix all mean any address.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.secgroup_models import DefaultSecurityGroupRule, SecurityGroup, SecurityGroupRule
from kumo.db.uow import UnitOfWork
from kumo.errors import BadRequest, Conflict, InvalidInput, NotFound
from kumo.network import policy, validate
from kumo.network.address_groups import groups as address_groups
from kumo.network.quotas import check_quota
from kumo.network.secgroups import groups
from kumo.policy import allowed

CREATE = {
    "security_group_id", "direction", "ethertype", "protocol", "port_range_min",
    "port_range_max", "remote_ip_prefix", "remote_group_id", "remote_address_group_id",
    "description", "project_id", "tenant_id",
}  # fmt: skip
PROTOCOLS = {
    "ah": 51, "dccp": 33, "egp": 8, "esp": 50, "gre": 47, "icmp": 1, "igmp": 2, "ipip": 4,
    "ipv6-encap": 41, "ipv6-frag": 44, "ipv6-icmp": 58, "icmpv6": 58, "ipv6-nonxt": 59,
    "ipv6-opts": 60, "ipv6-route": 43, "ospf": 89, "pgm": 113, "rsvp": 46, "sctp": 132,
    "tcp": 6, "udp": 17, "udplite": 136, "vrrp": 112,
}  # fmt: skip
PORT_PROTOCOLS = frozenset({6, 17, 33, 132, 136})  # tcp, udp, dccp, sctp, udplite
ICMP_PROTOCOLS = frozenset({1, 58})
IPV6_ONLY_PROTOCOLS = frozenset({41, 43, 44, 58, 59, 60})
ANY_PREFIXES = frozenset({"0.0.0.0/0", "::/0"})


@dataclass(frozen=True)
class RuleSpec:
    """A validated, normalised rule, before it is checked against the database."""

    direction: str
    ethertype: str
    protocol: str | None
    port_range_min: int | None
    port_range_max: int | None
    remote_ip_prefix: str | None
    remote_group_id: str | None
    remote_address_group_id: str | None = None


def protocol_number(protocol: str | None) -> int | None:
    if protocol is None:
        return None
    return PROTOCOLS[protocol] if protocol in PROTOCOLS else int(protocol)


def _protocol(value: Any, ethertype: str) -> str | None:
    if value is None or (isinstance(value, str) and value.lower() in ("any", "")):
        return None
    supported = ", ".join(sorted(PROTOCOLS))
    invalid = InvalidInput(
        f"Security group rule protocol {value} not supported. Only protocol values "
        f"[None, {supported}] and integer representations [0 to 255] are supported.",
        kind="SecurityGroupRuleInvalidProtocol",
    )
    if isinstance(value, bool):
        raise invalid
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        number = int(value)
        if not 0 <= number <= 255:
            raise invalid
        if ethertype == "IPv6" and number == 1:
            number = 58  # IPv6 ICMP by its legacy number, as Neutron rewrites it
        return str(number)
    if not isinstance(value, str) or value.lower() not in PROTOCOLS:
        raise invalid
    name = value.lower()
    if ethertype == "IPv6" and name in ("icmp", "icmpv6"):
        name = "ipv6-icmp"
    return name


def _port(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidInput(f"Invalid value for port {value}", kind="SecurityGroupInvalidPortValue")
    try:
        port = int(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"Invalid value for port {value}", kind="SecurityGroupInvalidPortValue"
        ) from exc
    if not 0 <= port <= 65535:
        raise InvalidInput(f"Invalid value for port {value}", kind="SecurityGroupInvalidPortValue")
    return port


def _check_ports(protocol: str | None, low: int | None, high: int | None) -> None:
    if low is None and high is None:
        return
    if protocol is None:
        raise InvalidInput(
            "Must also specify protocol if port range is given.",
            kind="SecurityGroupProtocolRequiredWithPorts",
        )
    number = protocol_number(protocol)
    if number in PORT_PROTOCOLS:
        if low == 0 or high == 0:
            raise InvalidInput("Invalid value for port 0", kind="SecurityGroupInvalidPortValue")
        if low is None or high is None or low > high:
            raise InvalidInput(
                "For TCP/UDP protocols, port_range_min must be <= port_range_max",
                kind="SecurityGroupInvalidPortRange",
            )
    elif number in ICMP_PROTOCOLS:
        for key, field, value in (
            ("port_range_min", "type", low),
            ("port_range_max", "code", high),
        ):
            if value is not None and not 0 <= value <= 255:
                raise InvalidInput(
                    f"Invalid value for ICMP {field} ({key}) {value}. It must be 0 to 255.",
                    kind="SecurityGroupInvalidIcmpValue",
                )
        if low is None:
            raise InvalidInput(
                f"ICMP code (port-range-max) {high} is provided but ICMP type "
                "(port-range-min) is missing.",
                kind="SecurityGroupMissingIcmpType",
            )
    else:
        raise InvalidInput(
            f"Invalid protocol {protocol} for port range, only supported for "
            "TCP, UDP, UDPLITE, SCTP and DCCP protocols.",
            kind="SecurityGroupInvalidProtocolForPort",
        )


def _prefix(value: Any, ethertype: str) -> str | None:
    """The prefix as given, with its length (Neutron keeps the host's bits)."""
    if value is None or value == "":
        return None
    try:
        given = ipaddress.ip_interface(value) if isinstance(value, str) else None
    except ValueError:
        given = None
    if given is None:
        raise InvalidInput(f"Invalid CIDR {value} given as IP prefix.", kind="InvalidCIDR")
    if ethertype != f"IPv{given.version}":
        raise InvalidInput(
            f"Conflicting value ethertype {ethertype} for CIDR {value}",
            kind="SecurityGroupRuleParameterConflict",
        )
    return str(given)


def parse(body: dict[str, Any]) -> RuleSpec:
    """Validate a rule body the way Neutron does, in Neutron's order."""
    validate.known(body, CREATE)
    for key in ("security_group_id", "direction"):
        if body.get(key) is None:
            raise BadRequest(f"Failed to parse request. Required attribute '{key}' not specified")
    if body["direction"] not in ("ingress", "egress"):
        raise InvalidInput(f"'{body['direction']}' is not in ['ingress', 'egress']")
    raw_type = body.get("ethertype") or "IPv4"
    ethertype = next(
        (
            e
            for e in ("IPv4", "IPv6")
            if isinstance(raw_type, str) and raw_type.lower() == e.lower()
        ),
        None,
    )
    if ethertype is None:
        raise InvalidInput(
            f"Security group rule for ethertype '{raw_type}' not supported. "
            "Allowed values are ['IPv4', 'IPv6'].",
            kind="SecurityGroupRuleInvalidEtherType",
        )
    protocol = _protocol(body.get("protocol"), ethertype)
    low, high = _port(body, "port_range_min"), _port(body, "port_range_max")
    _check_ports(protocol, low, high)
    prefix = _prefix(body.get("remote_ip_prefix"), ethertype)
    if ethertype == "IPv4" and protocol_number(protocol) in IPV6_ONLY_PROTOCOLS:
        raise InvalidInput(
            f"Invalid ethertype {ethertype} for protocol {protocol}.",
            kind="SecurityGroupEthertypeConflictWithProtocol",
        )
    remote_group = body.get("remote_group_id")
    if prefix is not None and remote_group is not None:
        raise InvalidInput(
            "Only remote_ip_prefix or remote_group_id may be provided.",
            kind="SecurityGroupRemoteGroupAndRemoteIpPrefix",
        )
    address_group = body.get("remote_address_group_id")
    if address_group is not None and (prefix is not None or remote_group is not None):
        raise InvalidInput(
            "Only remote_ip_prefix or remote_group_id or remote_address_group_id may be provided.",
            kind="SecurityGroupMultipleRemoteFields",
        )
    if address_group is not None and not isinstance(address_group, str):
        raise InvalidInput("Invalid input for remote_address_group_id.", kind="HTTPBadRequest")
    validate.uuid(body["security_group_id"], "security_group_id")
    if remote_group is not None and not isinstance(remote_group, str):
        raise InvalidInput("Invalid input for remote_group_id.", kind="HTTPBadRequest")
    # Any other string is looked up: a group that does not exist (whatever
    # its id looks like) is SecurityGroupNotFound, 404, as in Neutron.
    return RuleSpec(
        body["direction"], ethertype, protocol, low, high, prefix, remote_group, address_group
    )


def key(rule: RuleSpec | SecurityGroupRule | DefaultSecurityGroupRule) -> tuple[object, ...]:
    """What makes two rules of one group the same rule."""
    prefix = rule.remote_ip_prefix
    return (
        rule.direction,
        rule.ethertype,
        protocol_number(rule.protocol),
        rule.port_range_min,
        rule.port_range_max,
        None if prefix in ANY_PREFIXES else prefix,
        rule.remote_group_id,
        rule.remote_address_group_id,
    )


def create_many(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, bodies: list[dict[str, Any]]
) -> list[SecurityGroupRule]:
    """Create rules, all in one group (as Neutron's bulk create requires)."""
    specs = [parse(b) for b in bodies]
    group_ids = {b["security_group_id"] for b in bodies}
    if len(group_ids) > 1:
        raise InvalidInput(
            "Only allowed to update rules for one security profile at a time",
            kind="SecurityGroupNotSingleGroupRules",
        )
    s = uow.session
    if ctx.project_id:
        groups.ensure_default(uow, ctx.project_id)
    group = groups.load_owned(s, ctx, group_ids.pop(), "create_security_group_rule", lock=True)
    owners = {_owner(ctx, b, group) for b in bodies}
    for spec in specs:
        if spec.remote_group_id is not None and spec.remote_group_id != group.id:
            groups.load(s, ctx, spec.remote_group_id)
        if spec.remote_address_group_id is not None:
            address_groups.load(s, ctx, spec.remote_address_group_id)
    existing = {
        key(r): r.id
        for r in s.scalars(
            select(SecurityGroupRule).where(SecurityGroupRule.security_group_id == group.id)
        )
    }
    seen: set[tuple[object, ...]] = set()
    for spec in specs:
        k = key(spec)
        if k in seen:
            raise Conflict(
                "Duplicate Security Group Rule in POST.", kind="DuplicateSecurityGroupRuleInPost"
            )
        seen.add(k)
        if k in existing:
            raise Conflict(
                f"Security group rule already exists. Rule id is {existing[k]}.",
                kind="SecurityGroupRuleExists",
            )
    for owner in owners:
        adding = sum(1 for b in bodies if _owner(ctx, b, group) == owner)
        check_quota(s, settings, owner, "security_group_rule", adding)
    rules = [
        SecurityGroupRule(
            project_id=_owner(ctx, b, group),
            security_group_id=group.id,
            direction=spec.direction,
            ethertype=spec.ethertype,
            protocol=spec.protocol,
            port_range_min=spec.port_range_min,
            port_range_max=spec.port_range_max,
            remote_ip_prefix=spec.remote_ip_prefix,
            remote_group_id=spec.remote_group_id,
            remote_address_group_id=spec.remote_address_group_id,
            description=validate.string(b, "description") if "description" in b else "",
        )
        for b, spec in zip(bodies, specs, strict=True)
    ]
    s.add_all(rules)
    groups.changed(uow, group)
    return rules


def _owner(ctx: RequestContext, body: dict[str, Any], group: SecurityGroup) -> str:
    """The rule's project: as asked (admins may name any), else its group's."""
    if body.get("project_id") is None and body.get("tenant_id") is None:
        return group.project_id
    return policy.owner_for_create(ctx, body)


def load_visible(s: Session, ctx: RequestContext, rule_id: str) -> SecurityGroupRule:
    rule = s.get(SecurityGroupRule, rule_id)
    if rule is not None and not allowed(
        ctx, "network:get_security_group_rule", {"project_id": rule.project_id}
    ):
        owner = s.scalar(
            select(SecurityGroup.project_id).where(SecurityGroup.id == rule.security_group_id)
        )
        if owner != ctx.project_id:
            rule = None
    if rule is None:
        raise NotFound(
            f"Security group rule {rule_id} does not exist", kind="SecurityGroupRuleNotFound"
        )
    return rule


def remove(uow: UnitOfWork, ctx: RequestContext, rule_id: str) -> None:
    """Delete a rule under its group's row lock, so its group's new revision
    and event are in commit order; a rule deleted meanwhile is not found."""
    s = uow.session
    group_id = load_visible(s, ctx, rule_id).security_group_id
    group = s.scalar(select(SecurityGroup).where(SecurityGroup.id == group_id).with_for_update())
    result = s.execute(delete(SecurityGroupRule).where(SecurityGroupRule.id == rule_id))
    if group is None or not getattr(result, "rowcount", 0):
        raise NotFound(
            f"Security group rule {rule_id} does not exist", kind="SecurityGroupRuleNotFound"
        )
    groups.changed(uow, group)
