"""Neutron JSON shapes of security groups and their rules.

``render_groups`` and ``render_rules`` read what the views need in bulk
(rules, default markers, tags: one query each), for the API, the outbox
and watch snapshots alike.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.db.secgroup_models import DefaultSecurityGroup, SecurityGroup, SecurityGroupRule
from kumo.network import tags as taglib
from kumo.network.views import ts


def normalized_cidr(prefix: str | None) -> str | None:
    """The network of a rule's ``remote_ip_prefix``: ``10.0.0.34/24`` -> ``10.0.0.0/24``."""
    return str(ipaddress.ip_network(prefix, strict=False)) if prefix else None


def rule_view(rule: SecurityGroupRule, in_default_group: bool) -> dict[str, Any]:
    return {
        "id": rule.id,
        "tenant_id": rule.project_id,
        "project_id": rule.project_id,
        "security_group_id": rule.security_group_id,
        "direction": rule.direction,
        "ethertype": rule.ethertype,
        "protocol": rule.protocol,
        "port_range_min": rule.port_range_min,
        "port_range_max": rule.port_range_max,
        "remote_ip_prefix": rule.remote_ip_prefix,
        "remote_group_id": rule.remote_group_id,
        "remote_address_group_id": rule.remote_address_group_id,
        "normalized_cidr": normalized_cidr(rule.remote_ip_prefix),
        "belongs_to_default_sg": in_default_group,
        "description": rule.description,
        "created_at": ts(rule.created_at),
        "updated_at": ts(rule.updated_at),
        "revision_number": rule.revision_number,
    }


def group_view(
    group: SecurityGroup, rules: list[dict[str, Any]], tags: list[str]
) -> dict[str, Any]:
    return {
        "id": group.id,
        "name": group.name,
        "tenant_id": group.project_id,
        "project_id": group.project_id,
        "stateful": group.stateful,
        "shared": False,
        "security_group_rules": rules,
        "description": group.description,
        "tags": tags,
        "created_at": ts(group.created_at),
        "updated_at": ts(group.updated_at),
        "revision_number": group.revision_number,
    }


def default_group_ids(session: Session, group_ids: list[str]) -> set[str]:
    if not group_ids:
        return set()
    d = DefaultSecurityGroup
    return set(
        session.scalars(select(d.security_group_id).where(d.security_group_id.in_(group_ids)))
    )


def render_rules(session: Session, rules: list[SecurityGroupRule]) -> list[dict[str, Any]]:
    defaults = default_group_ids(session, list({r.security_group_id for r in rules}))
    return [rule_view(r, r.security_group_id in defaults) for r in rules]


def render_groups(
    session: Session, groups: list[SecurityGroup], *, for_agents: bool = False
) -> list[dict[str, Any]]:
    """Groups with their rules; ``for_agents``: rules naming an address
    group also carry its addresses (``kumo_remote_addresses``)."""
    ids = [g.id for g in groups]
    rules: dict[str, list[dict[str, Any]]] = {}
    if ids:
        r = SecurityGroupRule
        q = select(r).where(r.security_group_id.in_(ids)).order_by(r.created_at, r.id)
        defaults = default_group_ids(session, ids)
        for rule in session.scalars(q):
            view = rule_view(rule, rule.security_group_id in defaults)
            rules.setdefault(rule.security_group_id, []).append(view)
        if for_agents:
            _with_addresses(session, [v for vs in rules.values() for v in vs])
    tags = taglib.tags_for(session, ids)
    return [group_view(g, rules.get(g.id, []), tags.get(g.id, [])) for g in groups]


def _with_addresses(session: Session, views: list[dict[str, Any]]) -> None:
    from kumo.network.address_groups.groups import addresses_of

    wanted = {v["remote_address_group_id"] for v in views if v["remote_address_group_id"]}
    found = addresses_of(session, wanted)
    for v in views:
        if v["remote_address_group_id"]:
            v["kumo_remote_addresses"] = found.get(v["remote_address_group_id"], [])


def _keys() -> dict[str, frozenset[str]]:
    """Attribute names of both collections, for filter and sort validation."""
    group = SecurityGroup(id="", project_id="", name="", stateful=True, revision_number=0)
    rule = SecurityGroupRule(id="", project_id="", security_group_id="", revision_number=0)
    return {
        "security_groups": frozenset(group_view(group, [], [])),
        "security_group_rules": frozenset(rule_view(rule, False)),
    }


ATTRIBUTES = _keys()
