"""OS::Neutron::* resources, made through ``NetworkService`` with the creator's context."""

from __future__ import annotations

from functools import partial
from typing import Any

from kumo.errors import NotFound
from kumo.network.l3 import floatingip_service as fips
from kumo.network.l3 import router_service as routers
from kumo.network.secgroups import service as sgs
from kumo.orchestration.errors import ResourceFailure
from kumo.orchestration.resources import lookup
from kumo.orchestration.resources.base import Env, Plugin, Prop, gone_ok


def _common(p: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: p[k] for k in keys if k in p}


class _Shown(Plugin):
    """Attributes are fields of the object as the API shows it."""

    def show(self, env: Env) -> dict[str, Any]:
        raise NotImplementedError

    def attribute(self, env: Env, props: dict[str, Any], name: str) -> Any:
        if not env.physical_id:
            return None
        try:
            view = self.show(env)
        except NotFound:
            return None
        return view if name == "show" else view.get(name)

    def check(self, env: Env) -> None:
        try:
            self.show(env)
        except NotFound as e:
            raise ResourceFailure(e.message) from None


class Net(_Shown):
    type_name = "OS::Neutron::Net"
    description = "A network."
    props = {
        "name": Prop("string", update=True),
        "admin_state_up": Prop("boolean", default=True, update=True),
        "shared": Prop("boolean", update=True),
        "port_security_enabled": Prop("boolean", update=True),
        "dns_domain": Prop("string", update=True),
        "value_specs": Prop("map", default={}),
        "tags": Prop("list", items="string", update=True),
    }
    attrs = {"name": "Network name", "status": "Network status", "subnets": "Subnet ids",
             "admin_state_up": "Administrative state", "mtu": "MTU", "tenant_id": "Project",
             "port_security_enabled": "Port security"}  # fmt: skip

    def create(self, env: Env, props: dict[str, Any]) -> None:
        body = {"name": props.get("name") or env.physical_name(), **props.get("value_specs", {})}
        body.update(
            _common(props, ("admin_state_up", "shared", "port_security_enabled", "dns_domain"))
        )
        made = env.rt.network.create_networks(env.ctx, [body])[0]
        env.physical_id = made["id"]

    def update(self, env: Env, old: dict[str, Any], new: dict[str, Any]) -> None:
        body = _common(
            new, ("name", "admin_state_up", "shared", "port_security_enabled", "dns_domain")
        )
        env.rt.network.update_network(env.ctx, str(env.physical_id), body)

    def delete(self, env: Env) -> None:
        if env.physical_id:
            gone_ok(lambda: env.rt.network.delete_network(env.ctx, str(env.physical_id)))

    def show(self, env: Env) -> dict[str, Any]:
        return env.rt.network.show_network(env.ctx, str(env.physical_id))


class Subnet(_Shown):
    type_name = "OS::Neutron::Subnet"
    description = "A subnet of a network."
    pool = {"start": Prop("string", required=True), "end": Prop("string", required=True)}
    route = {"destination": Prop("string", required=True),
             "nexthop": Prop("string", required=True)}  # fmt: skip
    props = {
        "network": Prop("string", required=True),
        "cidr": Prop("string"),
        "ip_version": Prop("integer", default=4, allowed=(4, 6)),
        "name": Prop("string", update=True),
        "enable_dhcp": Prop("boolean", default=True, update=True),
        "gateway_ip": Prop("string", update=True),
        "allocation_pools": Prop("list", schema=pool, update=True),
        "dns_nameservers": Prop("list", items="string", update=True),
        "host_routes": Prop("list", schema=route, update=True),
        "value_specs": Prop("map", default={}),
    }
    attrs = {k: k for k in ("name", "network_id", "tenant_id", "allocation_pools", "gateway_ip",
                            "host_routes", "ip_version", "cidr", "dns_nameservers",
                            "enable_dhcp")}  # fmt: skip
    MUTABLE = ("name", "enable_dhcp", "gateway_ip", "allocation_pools", "dns_nameservers",
               "host_routes")  # fmt: skip

    def create(self, env: Env, props: dict[str, Any]) -> None:
        body = {
            "network_id": lookup.network(env.rt, env.ctx, props["network"]),
            "ip_version": props["ip_version"],
            "name": props.get("name") or env.physical_name(),
            **props.get("value_specs", {}),
        }
        body.update(_common(props, ("cidr", *self.MUTABLE[1:])))
        made = env.rt.network.create_subnets(env.ctx, [body])[0]
        env.physical_id = made["id"]

    def update(self, env: Env, old: dict[str, Any], new: dict[str, Any]) -> None:
        body = {k: new.get(k) for k in self.MUTABLE if old.get(k) != new.get(k)}
        env.rt.network.update_subnet(env.ctx, str(env.physical_id), body)

    def delete(self, env: Env) -> None:
        if env.physical_id:
            gone_ok(lambda: env.rt.network.delete_subnet(env.ctx, str(env.physical_id)))

    def show(self, env: Env) -> dict[str, Any]:
        return env.rt.network.show_subnet(env.ctx, str(env.physical_id))


class Port(_Shown):
    type_name = "OS::Neutron::Port"
    description = "A port on a network."
    fixed_ip = {"subnet": Prop("string"), "ip_address": Prop("string")}
    pair = {"ip_address": Prop("string", required=True), "mac_address": Prop("string")}
    props = {
        "network": Prop("string", required=True),
        "name": Prop("string", update=True),
        "fixed_ips": Prop("list", schema=fixed_ip, update=True),
        "security_groups": Prop("list", items="string", update=True),
        "mac_address": Prop("string"),
        "admin_state_up": Prop("boolean", default=True, update=True),
        "port_security_enabled": Prop("boolean", update=True),
        "allowed_address_pairs": Prop("list", schema=pair, update=True),
        "device_id": Prop("string", update=True),
        "device_owner": Prop("string", update=True),
        "dns_name": Prop("string", update=True),
        "value_specs": Prop("map", default={}),
    }
    attrs = {k: k for k in ("fixed_ips", "mac_address", "network_id", "name", "status",
                            "security_groups", "device_id", "device_owner", "admin_state_up",
                            "allowed_address_pairs", "tenant_id", "dns_assignment")}  # fmt: skip

    def _body(self, env: Env, props: dict[str, Any]) -> dict[str, Any]:
        body = _common(props, ("name", "admin_state_up", "port_security_enabled",
                               "allowed_address_pairs", "device_id", "device_owner",
                               "dns_name"))  # fmt: skip
        if "fixed_ips" in props:
            ips = []
            for f in props["fixed_ips"]:
                item = {}
                if "subnet" in f:
                    item["subnet_id"] = lookup.subnet(env.rt, env.ctx, f["subnet"])
                if "ip_address" in f:
                    item["ip_address"] = f["ip_address"]
                ips.append(item)
            body["fixed_ips"] = ips
        if "security_groups" in props:
            body["security_groups"] = [
                lookup.security_group(env.rt, env.ctx, g) for g in props["security_groups"]
            ]
        return body

    def create(self, env: Env, props: dict[str, Any]) -> None:
        body = {
            "network_id": lookup.network(env.rt, env.ctx, props["network"]),
            "name": env.physical_name(),
            **props.get("value_specs", {}),
            **self._body(env, props),
        }
        if "mac_address" in props:
            body["mac_address"] = props["mac_address"]
        env.physical_id = env.rt.network.create_ports(env.ctx, [body])[0]["id"]

    def update(self, env: Env, old: dict[str, Any], new: dict[str, Any]) -> None:
        body = self._body(env, new)
        changed = {k: v for k, v in body.items() if old.get(k) != new.get(k) or k == "fixed_ips"}
        env.rt.network.update_port(env.ctx, str(env.physical_id), changed)

    def delete(self, env: Env) -> None:
        if env.physical_id:
            gone_ok(lambda: env.rt.network.delete_port(env.ctx, str(env.physical_id)))

    def show(self, env: Env) -> dict[str, Any]:
        return env.rt.network.show_port(env.ctx, str(env.physical_id))


class Router(_Shown):
    type_name = "OS::Neutron::Router"
    description = "A router."
    gateway = {"network": Prop("string", required=True), "enable_snat": Prop("boolean")}
    props = {
        "name": Prop("string", update=True),
        "admin_state_up": Prop("boolean", default=True, update=True),
        "external_gateway_info": Prop("map", schema=gateway, update=True),
        "value_specs": Prop("map", default={}),
    }
    attrs = {k: k for k in ("name", "status", "external_gateway_info", "admin_state_up",
                            "tenant_id")}  # fmt: skip

    def _body(self, env: Env, props: dict[str, Any]) -> dict[str, Any]:
        body = _common(props, ("name", "admin_state_up"))
        gw = props.get("external_gateway_info")
        if gw is not None:
            info = {"network_id": lookup.network(env.rt, env.ctx, gw["network"])}
            if "enable_snat" in gw:
                info["enable_snat"] = gw["enable_snat"]
            body["external_gateway_info"] = info
        return body

    def create(self, env: Env, props: dict[str, Any]) -> None:
        body = {"name": env.physical_name(), **props.get("value_specs", {}),
                **self._body(env, props)}  # fmt: skip
        env.physical_id = routers.create_routers(env.rt.network, env.ctx, [body])[0]["id"]

    def update(self, env: Env, old: dict[str, Any], new: dict[str, Any]) -> None:
        body = self._body(env, new)
        if "external_gateway_info" not in new and old.get("external_gateway_info"):
            body["external_gateway_info"] = {}
        routers.update_router(env.rt.network, env.ctx, str(env.physical_id), body)

    def delete(self, env: Env) -> None:
        if env.physical_id:
            rid = str(env.physical_id)
            gone_ok(lambda: routers.delete_router(env.rt.network, env.ctx, rid))

    def show(self, env: Env) -> dict[str, Any]:
        return routers.show_router(env.rt.network, env.ctx, str(env.physical_id))


class RouterInterface(Plugin):
    type_name = "OS::Neutron::RouterInterface"
    description = "A subnet or port attached to a router."
    props = {"router": Prop("string", required=True), "subnet": Prop("string"),
             "port": Prop("string")}  # fmt: skip

    def create(self, env: Env, props: dict[str, Any]) -> None:
        if ("subnet" in props) == ("port" in props):
            raise ResourceFailure("Exactly one of subnet and port is required")
        rid = lookup.router(env.rt, env.ctx, props["router"])
        if "subnet" in props:
            key, value = "subnet_id", lookup.subnet(env.rt, env.ctx, props["subnet"])
        else:
            key, value = "port_id", lookup.port(env.rt, env.ctx, props["port"])
        routers.add_interface(env.rt.network, env.ctx, rid, {key: value})
        env.physical_id = f"{rid}:{key.split('_')[0]}={value}"

    def _parts(self, env: Env) -> tuple[str, dict[str, str]]:
        rid, _, rest = str(env.physical_id).partition(":")
        key, _, value = rest.partition("=")
        return rid, {f"{key}_id": value}

    def delete(self, env: Env) -> None:
        if env.physical_id:
            rid, body = self._parts(env)
            gone_ok(lambda: routers.remove_interface(env.rt.network, env.ctx, rid, body))

    def check(self, env: Env) -> None:
        rid, _ = self._parts(env)
        try:
            routers.show_router(env.rt.network, env.ctx, rid)
        except NotFound as e:
            raise ResourceFailure(e.message) from None


class FloatingIP(_Shown):
    type_name = "OS::Neutron::FloatingIP"
    description = "A floating IP on an external network."
    props = {
        "floating_network": Prop("string", required=True),
        "port_id": Prop("string", update=True),
        "fixed_ip_address": Prop("string", update=True),
        "floating_ip_address": Prop("string"),
        "dns_name": Prop("string"),
        "dns_domain": Prop("string"),
        "value_specs": Prop("map", default={}),
    }
    attrs = {k: k for k in ("floating_ip_address", "floating_network_id", "port_id",
                            "fixed_ip_address", "router_id", "tenant_id")}  # fmt: skip

    def create(self, env: Env, props: dict[str, Any]) -> None:
        body = {
            "floating_network_id": lookup.network(env.rt, env.ctx, props["floating_network"]),
            **props.get("value_specs", {}),
            **_common(
                props,
                ("port_id", "fixed_ip_address", "floating_ip_address", "dns_name", "dns_domain"),
            ),  # fmt: skip
        }
        env.physical_id = fips.create_floatingips(env.rt.network, env.ctx, [body])[0]["id"]

    def update(self, env: Env, old: dict[str, Any], new: dict[str, Any]) -> None:
        body = {"port_id": new.get("port_id")}
        if new.get("fixed_ip_address"):
            body["fixed_ip_address"] = new["fixed_ip_address"]
        fips.update_floatingip(env.rt.network, env.ctx, str(env.physical_id), body)

    def delete(self, env: Env) -> None:
        if env.physical_id:
            fid = str(env.physical_id)
            gone_ok(lambda: fips.delete_floatingip(env.rt.network, env.ctx, fid))

    def show(self, env: Env) -> dict[str, Any]:
        return fips.show_floatingip(env.rt.network, env.ctx, str(env.physical_id))


class FloatingIPAssociation(Plugin):
    type_name = "OS::Neutron::FloatingIPAssociation"
    description = "Associates a floating IP with a port."
    props = {
        "floatingip_id": Prop("string", required=True, update=True),
        "port_id": Prop("string", required=True, update=True),
        "fixed_ip_address": Prop("string", update=True),
    }

    def _associate(self, env: Env, props: dict[str, Any]) -> None:
        body = {"port_id": lookup.port(env.rt, env.ctx, props["port_id"])}
        if "fixed_ip_address" in props:
            body["fixed_ip_address"] = props["fixed_ip_address"]
        fips.update_floatingip(env.rt.network, env.ctx, props["floatingip_id"], body)

    def create(self, env: Env, props: dict[str, Any]) -> None:
        self._associate(env, props)
        env.physical_id = f"{props['floatingip_id']}:{props['port_id']}"
        env.data["floatingip_id"] = props["floatingip_id"]

    def update(self, env: Env, old: dict[str, Any], new: dict[str, Any]) -> None:
        if old["floatingip_id"] != new["floatingip_id"]:
            self.delete(env)
        self._associate(env, new)
        env.physical_id = f"{new['floatingip_id']}:{new['port_id']}"
        env.data["floatingip_id"] = new["floatingip_id"]

    def delete(self, env: Env) -> None:
        fid = env.data.get("floatingip_id")
        if fid:
            gone_ok(lambda: fips.update_floatingip(env.rt.network, env.ctx, fid, {"port_id": None}))


RULE_FIELDS = ("direction", "ethertype", "protocol", "port_range_min", "port_range_max",
               "remote_ip_prefix", "remote_group_id")  # fmt: skip


def _rule_key(rule: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two rules of a group the same rule."""
    d = {"direction": "ingress", "ethertype": "IPv4", **{k: v for k, v in rule.items()
                                                         if v is not None}}  # fmt: skip
    proto = d.get("protocol")
    d["protocol"] = str(proto).lower() if proto not in (None, "", "any") else None
    return tuple(d.get(k) for k in RULE_FIELDS)


class SecurityGroup(_Shown):
    type_name = "OS::Neutron::SecurityGroup"
    description = "A security group and its rules."
    rule = {
        "direction": Prop("string", default="ingress", allowed=("ingress", "egress")),
        "ethertype": Prop("string", default="IPv4", allowed=("IPv4", "IPv6")),
        "port_range_min": Prop("integer"),
        "port_range_max": Prop("integer"),
        "protocol": Prop("string"),
        "remote_mode": Prop(
            "string", default="remote_ip_prefix", allowed=("remote_ip_prefix", "remote_group_id")
        ),
        "remote_ip_prefix": Prop("string"),
        "remote_group_id": Prop("string"),
    }
    props = {
        "name": Prop("string", update=True),
        "description": Prop("string", update=True),
        "rules": Prop("list", schema=rule, update=True),
    }
    attrs = {"name": "name", "description": "description", "security_group_rules": "rules"}

    def _wanted(self, sid: str, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
        bodies = []
        for r in rules:
            body = {k: v for k, v in r.items() if k != "remote_mode"}
            body["security_group_id"] = sid
            if r.get("remote_mode") == "remote_group_id":
                body.pop("remote_ip_prefix", None)
                body["remote_group_id"] = r.get("remote_group_id") or sid
            else:
                body.pop("remote_group_id", None)
            bodies.append(body)
        if not rules:  # as Heat: no rules given keeps the default egress rules
            for eth in ("IPv4", "IPv6"):
                bodies.append({"security_group_id": sid, "direction": "egress", "ethertype": eth})
        return bodies

    def _rules(self, env: Env, rules: list[dict[str, Any]], *, save: bool = False) -> None:
        """Make the group's rules ``rules``: delete the rules not wanted, create those
        missing (a rule that is already there stays, as the default egress rules do
        when no rules are given)."""
        sid = str(env.physical_id)
        current = sgs.list_rules(env.rt.network, env.ctx, {"security_group_id": [sid]})
        have = {_rule_key(r): str(r["id"]) for r in current}
        wanted = self._wanted(sid, rules)
        missing = [b for b in wanted if _rule_key(b) not in have]
        keep = {_rule_key(b) for b in wanted}
        doomed = [rid for key, rid in have.items() if key not in keep]
        if (missing or doomed) and save:
            env.save()  # the group exists: record it before the next calls
        for rule_id in doomed:
            gone_ok(partial(sgs.delete_rule, env.rt.network, env.ctx, rule_id))
        if missing:
            sgs.create_rules(env.rt.network, env.ctx, missing)

    def create(self, env: Env, props: dict[str, Any]) -> None:
        body = {"name": props.get("name") or env.physical_name(),
                "description": props.get("description", "")}  # fmt: skip
        env.physical_id = sgs.create_groups(env.rt.network, env.ctx, [body])[0]["id"]
        if "rules" in props:
            self._rules(env, props["rules"], save=True)

    def update(self, env: Env, old: dict[str, Any], new: dict[str, Any]) -> None:
        body = _common(new, ("name", "description"))
        if body:
            sgs.update_group(env.rt.network, env.ctx, str(env.physical_id), body)
        if old.get("rules") != new.get("rules"):
            self._rules(env, new.get("rules") or [])

    def delete(self, env: Env) -> None:
        if env.physical_id:
            gid = str(env.physical_id)
            gone_ok(lambda: sgs.delete_group(env.rt.network, env.ctx, gid))

    def show(self, env: Env) -> dict[str, Any]:
        return sgs.show_group(env.rt.network, env.ctx, str(env.physical_id))


class SecurityGroupRule(_Shown):
    type_name = "OS::Neutron::SecurityGroupRule"
    description = "One rule of a security group."
    props = {
        "security_group": Prop("string", required=True),
        "direction": Prop("string", default="ingress", allowed=("ingress", "egress")),
        "ethertype": Prop("string", default="IPv4", allowed=("IPv4", "IPv6")),
        "port_range_min": Prop("integer"),
        "port_range_max": Prop("integer"),
        "protocol": Prop("string"),
        "remote_ip_prefix": Prop("string"),
        "remote_group": Prop("string"),
        "description": Prop("string"),
    }
    attrs = {k: k for k in ("direction", "ethertype", "protocol", "port_range_min",
                            "port_range_max", "remote_ip_prefix", "remote_group_id",
                            "security_group_id")}  # fmt: skip

    def create(self, env: Env, props: dict[str, Any]) -> None:
        body = _common(props, ("direction", "ethertype", "port_range_min", "port_range_max",
                               "protocol", "remote_ip_prefix", "description"))  # fmt: skip
        body["security_group_id"] = lookup.security_group(env.rt, env.ctx, props["security_group"])
        if "remote_group" in props:
            body["remote_group_id"] = lookup.security_group(env.rt, env.ctx, props["remote_group"])
        env.physical_id = sgs.create_rules(env.rt.network, env.ctx, [body])[0]["id"]

    def delete(self, env: Env) -> None:
        if env.physical_id:
            rid = str(env.physical_id)
            gone_ok(lambda: sgs.delete_rule(env.rt.network, env.ctx, rid))

    def show(self, env: Env) -> dict[str, Any]:
        return sgs.show_rule(env.rt.network, env.ctx, str(env.physical_id))


PLUGINS: list[type[Plugin]] = [Net, Subnet, Port, Router, RouterInterface, FloatingIP,
                               FloatingIPAssociation, SecurityGroup, SecurityGroupRule]  # fmt: skip
