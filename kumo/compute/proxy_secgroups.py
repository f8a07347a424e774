"""``os-security-groups`` and ``os-security-group-rules``: Nova's proxy to the
Networking API's security groups (served up to microversion 2.35).

Every call goes through kumo/network with the caller's own context, so
policy, quotas and events are the Networking API's; this module only turns
Nova's shapes into Neutron's and back. A group shows its ingress rules, as
Nova shows them; a rule without a remote group gets ``0.0.0.0/0``.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.context import RequestContext
from kumo.db.secgroup_models import SecurityGroup
from kumo.errors import BadRequest, Conflict, NotFound
from kumo.network import validate
from kumo.network.secgroups import service as secgroup_service
from kumo.network.service import NetworkService
from kumo.policy import unrestricted

PROTOCOLS = ("tcp", "udp", "icmp")


def not_found(group_id: str) -> NotFound:
    return NotFound(f"Security group {group_id} not found.", kind="SecurityGroupNotFound")


def _rule_view(rule: dict[str, Any], names: dict[str, tuple[str, str]]) -> dict[str, Any]:
    protocol = rule.get("protocol")
    low, high = rule.get("port_range_min"), rule.get("port_range_max")
    if protocol and low is None and high is None:
        low, high = (1, 65535) if protocol.lower() in ("tcp", "udp") else (-1, -1)
    remote = rule.get("remote_group_id")
    out: dict[str, Any] = {
        "id": rule["id"],
        "parent_group_id": rule["security_group_id"],
        "ip_protocol": protocol,
        "from_port": low,
        "to_port": high,
        "group": {},
        "ip_range": {},
    }
    if remote:
        name, tenant = names.get(remote, ("", ""))
        out["group"] = {"name": name, "tenant_id": tenant}
    else:
        out["ip_range"] = {"cidr": rule.get("remote_ip_prefix") or "0.0.0.0/0"}
    return out


def _names(session: Session, groups: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    remote = {
        r["remote_group_id"]
        for g in groups
        for r in g.get("security_group_rules", [])
        if r.get("remote_group_id")
    }
    if not remote:
        return {}
    rows = session.execute(
        select(SecurityGroup.id, SecurityGroup.name, SecurityGroup.project_id).where(
            SecurityGroup.id.in_(remote)
        )
    )
    return {i: (n, p) for i, n, p in rows}


def views(session: Session, groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = _names(session, groups)
    return [
        {
            "id": g["id"],
            "name": g["name"],
            "description": g.get("description") or "",
            "tenant_id": g["project_id"],
            "rules": [
                _rule_view(r, names)
                for r in g.get("security_group_rules", [])
                if r.get("direction") == "ingress"
            ],
        }
        for g in groups
    ]


def _text(value: Any, field: str, *, blank: bool) -> str:
    if not isinstance(value, str) or len(value) > 255 or (not blank and not value.strip()):
        raise BadRequest(f"Invalid input for field/attribute {field}. Value: {value}.")
    return value


def _group_body(body: Any) -> dict[str, str]:
    data = body.get("security_group") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        raise BadRequest("Invalid input for field/attribute security_group.")
    return {
        "name": _text(data.get("name"), "name", blank=False),
        "description": _text(data.get("description", ""), "description", blank=True),
    }


def _uuid(value: Any) -> str:
    if not isinstance(value, str) or not validate.UUID_RE.match(value):
        raise BadRequest(f"Invalid input for field/attribute id. Value: {value}.")
    return value


def _port(value: Any, field: str) -> int:
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"Invalid input for field/attribute {field}. Value: {value}.") from None
    if not -1 <= port <= 65535:
        raise BadRequest(f"Invalid port range {value}. Valid TCP ports should be between 1-65535")
    return port


def rule_body(data: Any) -> dict[str, Any]:
    """Nova's rule (parent_group_id, ip_protocol, from_port, to_port, cidr,
    group_id) as a Neutron ingress rule."""
    if not isinstance(data, dict):
        raise BadRequest("Invalid input for field/attribute security_group_rule.")
    parent = _uuid(data.get("parent_group_id"))
    protocol = data.get("ip_protocol")
    if protocol is not None and (
        not isinstance(protocol, str) or protocol.lower() not in PROTOCOLS
    ):
        raise BadRequest(f"Invalid IP protocol {protocol}.")
    low = _port(data["from_port"], "from_port") if data.get("from_port") is not None else None
    high = _port(data["to_port"], "to_port") if data.get("to_port") is not None else None
    body: dict[str, Any] = {"security_group_id": parent, "direction": "ingress"}
    ethertype = "IPv4"
    if protocol is not None:
        body["protocol"] = protocol.lower()
        if protocol.lower() == "icmp":
            if low is not None and low != -1:
                body["port_range_min"] = low
            if high is not None and high != -1:
                body["port_range_max"] = high
        else:
            if low is None or high is None or not 1 <= low <= high <= 65535:
                raise BadRequest(
                    f"Invalid port range {low}:{high}. Valid TCP ports should be between 1-65535"
                )
            body["port_range_min"], body["port_range_max"] = low, high
    group_id = data.get("group_id")
    cidr = data.get("cidr")
    if group_id:
        body["remote_group_id"] = _uuid(group_id)
    else:
        try:
            net = ipaddress.ip_network(cidr or "0.0.0.0/0", strict=False)
        except (TypeError, ValueError):
            raise BadRequest(f"Invalid cidr {cidr}.") from None
        body["remote_ip_prefix"] = cidr or str(net)  # as given, as Nova passes it on
        ethertype = "IPv6" if net.version == 6 else "IPv4"
    body["ethertype"] = ethertype
    return body


class SecurityGroupProxy:
    def __init__(self, network: NetworkService) -> None:
        self.net = network

    def _views(self, groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
        with self.net.db.read_session() as s:
            return views(s, groups)

    def _show(self, ctx: RequestContext, group_id: str) -> dict[str, Any]:
        try:
            return secgroup_service.show_group(self.net, ctx, group_id)
        except NotFound:
            raise not_found(group_id) from None

    def list_groups(self, ctx: RequestContext, all_tenants: bool) -> list[dict[str, Any]]:
        prefilters = (
            {}
            if all_tenants and unrestricted(ctx, "network:get_security_group")
            else {"project_id": [ctx.project_id or ""]}
        )
        return self._views(secgroup_service.list_groups(self.net, ctx, prefilters))

    def show(self, ctx: RequestContext, group_id: str) -> dict[str, Any]:
        return self._views([self._show(ctx, group_id)])[0]

    def create(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        made = secgroup_service.create_groups(self.net, ctx, [_group_body(body)])
        return self._views(made)[0]

    def update(self, ctx: RequestContext, group_id: str, body: Any) -> dict[str, Any]:
        wanted = _group_body(body)
        self._show(ctx, group_id)
        return self._views([secgroup_service.update_group(self.net, ctx, group_id, wanted)])[0]

    def delete(self, ctx: RequestContext, group_id: str) -> None:
        group = self._show(ctx, group_id)
        if group["name"] == "default":
            raise BadRequest("Removing default security group not allowed.")
        try:
            secgroup_service.delete_group(self.net, ctx, group_id)
        except Conflict as exc:
            raise BadRequest(exc.message) from None

    def create_rule(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        data = body.get("security_group_rule") if isinstance(body, dict) else None
        wanted = rule_body(data)
        parent = self._show(ctx, wanted["security_group_id"])
        if wanted.get("remote_group_id"):
            self._show(ctx, wanted["remote_group_id"])
        try:
            (made,) = secgroup_service.create_rules(self.net, ctx, [wanted])
        except Conflict:
            raise BadRequest(f"This rule already exists in group {parent['id']}") from None
        with self.net.db.read_session() as s:
            names = _names(s, [{"security_group_rules": [made]}])
        return _rule_view(made, names)

    def delete_rule(self, ctx: RequestContext, rule_id: str) -> None:
        try:
            secgroup_service.delete_rule(self.net, ctx, rule_id)
        except NotFound:
            raise NotFound(
                f"Security group rule {rule_id} could not be found.",
                kind="SecurityGroupRuleNotFound",
            ) from None

    def change_server_groups(
        self, ctx: RequestContext, project_id: str, port_ids: list[str], name: Any, *, add: bool
    ) -> str:
        """``addSecurityGroup``/``removeSecurityGroup``: the group (by name or
        id, in the server's project) added to or taken off every port of the
        server that has port security, through the Networking API; its name."""
        if not isinstance(name, str) or not name.strip():
            raise BadRequest("Security group name cannot be empty")
        groups = secgroup_service.list_groups(self.net, ctx, {"project_id": [project_id]})
        group = next((g for g in groups if name in (g["name"], g["id"])), None)
        if group is None:
            raise NotFound(
                f"Security group {name} not found for project {project_id}.",
                kind="SecurityGroupNotFoundForProject",
            )
        for port_id in port_ids:
            port = self.net.show_port(ctx, port_id)
            if not port.get("port_security_enabled", True):
                continue
            current = list(port.get("security_groups") or [])
            if add and group["id"] not in current:
                current.append(group["id"])
            elif not add and group["id"] in current:
                current.remove(group["id"])
            else:
                continue
            self.net.update_port(ctx, port_id, {"security_groups": current})
        return str(group["name"])

    def of_server(
        self, ctx: RequestContext, project_id: str, names: list[str]
    ) -> list[dict[str, Any]]:
        """The groups a server was booted with (by name or id, in its project)."""
        groups = secgroup_service.list_groups(self.net, ctx, {"project_id": [project_id]})
        wanted = set(names)
        return self._views([g for g in groups if g["name"] in wanted or g["id"] in wanted])
