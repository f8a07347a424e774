"""The OpenAPI description the fuzzer reads: the app's own, made specific.

kumo serves no OpenAPI document, and the one FastAPI derives from the routes
says little: most handlers take ``body: Any`` and read their query strings
themselves. ``describe`` starts from ``app.openapi()`` and adds, for the
main Neutron, Nova, Keystone and Glance calls, a small JSON Schema of the
request body (references and addresses from fixed lists, so that valid
bodies are likely; negative generation supplies the rest), the list queries the handlers read, the compute microversion
header, and for path parameters the ids of objects that exist (besides any
string), so that most generated requests reach the service layer instead of
stopping at "not found" or "missing body".
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from typing import Any

Schema = dict[str, Any]

STR: Schema = {"type": "string", "maxLength": 64}
TEXT: Schema = {"type": "string", "maxLength": 300}
BOOL: Schema = {"type": "boolean"}
INT: Schema = {"type": "integer"}
NAME: Schema = {"type": "string", "pattern": "^[a-z][a-z0-9-]{0,15}$"}
CIDRS = ["10.0.0.0/24", "10.1.0.0/16", "192.0.2.0/28", "fd00::/64", "2001:db8::/64", "0.0.0.0/0"]
PORT: Schema = {"type": "integer", "minimum": 0, "maximum": 65535}
COUNT: Schema = {"type": "integer", "minimum": 1, "maximum": 3}
QUOTA: Schema = {"type": "integer", "minimum": -1, "maximum": 1000}
ADDRESSES = ["10.0.0.5", "10.0.0.1", "192.0.2.3", "fd00::5", "203.0.113.9", "0.0.0.0"]


def one_of_or_any(values: Sequence[Any], other: Schema = STR) -> Schema:
    """Either one of ``values`` (so requests hit real things) or anything ``other`` allows."""
    if not values:
        return other
    return {"anyOf": [{"enum": list(values)}, other]}


def obj(props: Mapping[str, Schema], required: Sequence[str] = ()) -> Schema:
    out: Schema = {"type": "object", "properties": dict(props), "additionalProperties": False}
    if required:
        out["required"] = list(required)
    return out


def wrapped(key: str, props: Mapping[str, Schema], required: Sequence[str] = ()) -> Schema:
    """``{key: {...}}``, the envelope every OpenStack API puts around one object."""
    return obj({key: obj(props, required)}, [key])


def bodies(ids: Mapping[str, Sequence[str]]) -> dict[tuple[str, str], Schema]:
    """Request body schemas by (method, path), with ``ids[kind]`` offered for references."""

    def ref(kind: str) -> Schema:
        known = ids.get(kind, [])
        return {"enum": list(known)} if known else {"type": "string", "format": "uuid"}

    cidr = {"enum": CIDRS}
    address = {"enum": ADDRESSES}
    fixed_ips = {
        "type": "array",
        "maxItems": 3,
        "items": obj({"subnet_id": ref("subnet"), "ip_address": address}),
    }
    routes = {
        "type": "array",
        "maxItems": 3,
        "items": obj({"destination": cidr, "nexthop": address}),
    }
    network = {
        "name": STR,
        "description": TEXT,
        "admin_state_up": BOOL,
        "shared": BOOL,
        "router:external": BOOL,
        "mtu": {"type": "integer", "minimum": 68, "maximum": 9000},
        "port_security_enabled": BOOL,
        "provider:network_type": {"enum": ["vxlan", "flat", "vlan", "local", "geneve"]},
        "provider:physical_network": {"enum": ["physnet1"]},
        "provider:segmentation_id": {"type": "integer", "minimum": 1, "maximum": 4094},
        "project_id": ref("project"),
    }
    subnet = {
        "name": STR,
        "description": TEXT,
        "network_id": ref("network"),
        "ip_version": {"enum": [4, 6]},
        "cidr": cidr,
        "prefixlen": {"type": "integer", "minimum": 8, "maximum": 64},
        "gateway_ip": {"anyOf": [address, {"type": "null"}]},
        "enable_dhcp": BOOL,
        "allocation_pools": {
            "type": "array",
            "maxItems": 2,
            "items": obj({"start": address, "end": address}, ["start", "end"]),
        },
        "dns_nameservers": {"type": "array", "maxItems": 3, "items": address},
        "host_routes": routes,
        "ipv6_ra_mode": {"enum": ["slaac", "dhcpv6-stateful", "dhcpv6-stateless"]},
        "ipv6_address_mode": {"enum": ["slaac", "dhcpv6-stateful", "dhcpv6-stateless"]},
        "segment_id": ref("segment"),
        "service_types": {"type": "array", "maxItems": 2, "items": STR},
    }
    port = {
        "name": STR,
        "description": TEXT,
        "network_id": ref("network"),
        "admin_state_up": BOOL,
        "mac_address": {"enum": ["fa:16:3e:00:00:01", "00:00:00:00:00:00"]},
        "fixed_ips": fixed_ips,
        "device_id": ref("server"),
        "device_owner": {"enum": ["compute:nova", "network:router_interface", ""]},
        "security_groups": {"type": "array", "maxItems": 3, "items": ref("security_group")},
        "allowed_address_pairs": {
            "type": "array",
            "maxItems": 2,
            "items": obj({"ip_address": {"enum": ADDRESSES + CIDRS}, "mac_address": STR}),
        },
        "port_security_enabled": BOOL,
        "binding:host_id": {"enum": ["host1"]},
        "binding:vnic_type": {"enum": ["normal", "direct"]},
        "binding:profile": {"type": "object"},
    }
    gateway = obj(
        {
            "network_id": ref("network"),
            "enable_snat": BOOL,
            "external_fixed_ips": fixed_ips,
        }
    )
    router = {
        "name": STR,
        "description": TEXT,
        "admin_state_up": BOOL,
        "external_gateway_info": {"anyOf": [gateway, {"type": "null"}]},
        "distributed": BOOL,
        "ha": BOOL,
    }
    floatingip = {
        "floating_network_id": ref("network"),
        "floating_ip_address": address,
        "subnet_id": ref("subnet"),
        "port_id": {"anyOf": [ref("port"), {"type": "null"}]},
        "fixed_ip_address": address,
        "description": TEXT,
    }
    group = {"name": STR, "description": TEXT, "stateful": BOOL}
    rule = {
        "security_group_id": ref("security_group"),
        "direction": {"enum": ["ingress", "egress"]},
        "ethertype": {"enum": ["IPv4", "IPv6"]},
        "protocol": {
            "anyOf": [
                {"enum": ["tcp", "udp", "icmp", "ipv6-icmp", "any"]},
                {"type": "integer", "minimum": 0, "maximum": 255},
                {"type": "null"},
            ]
        },
        "port_range_min": {"anyOf": [PORT, {"type": "null"}]},
        "port_range_max": {"anyOf": [PORT, {"type": "null"}]},
        "remote_ip_prefix": {"anyOf": [cidr, {"type": "null"}]},
        "remote_group_id": {"anyOf": [ref("security_group"), {"type": "null"}]},
        "description": TEXT,
    }
    quota = {
        k: QUOTA
        for k in (
            "network",
            "subnet",
            "port",
            "router",
            "floatingip",
            "security_group",
            "security_group_rule",
        )
    }
    server = {
        "name": NAME,
        "imageRef": ref("image"),
        "flavorRef": ref("flavor"),
        "networks": {
            "anyOf": [
                {"enum": ["auto", "none"]},
                {
                    "type": "array",
                    "maxItems": 2,
                    "items": obj(
                        {"uuid": ref("network"), "port": ref("port"), "fixed_ip": address}
                    ),
                },
            ]
        },
        "min_count": COUNT,
        "max_count": COUNT,
        "security_groups": {"type": "array", "maxItems": 2, "items": obj({"name": STR})},
        "metadata": {"type": "object", "additionalProperties": STR},
        "key_name": ref("keypair"),
        "availability_zone": {"enum": ["nova", "nova:host1"]},
        "user_data": STR,
        "description": {"anyOf": [TEXT, {"type": "null"}]},
        "adminPass": STR,
        "block_device_mapping_v2": {"type": "array", "maxItems": 2, "items": {"type": "object"}},
    }
    server_create = obj(
        {
            "server": obj(server, ["name", "imageRef", "flavorRef"]),
            "os:scheduler_hints": obj({"group": ref("server_group")}),
        },
        ["server"],
    )
    action = {
        "anyOf": [
            obj({"reboot": obj({"type": {"enum": ["SOFT", "HARD"]}})}, ["reboot"]),
            obj({"os-start": {"type": "null"}}, ["os-start"]),
            obj({"os-stop": {"type": "null"}}, ["os-stop"]),
            obj({"lock": {"type": "null"}}, ["lock"]),
            obj({"unlock": {"type": "null"}}, ["unlock"]),
        ]
    }
    flavor = {
        "name": NAME,
        "ram": {"type": "integer", "minimum": 1, "maximum": 1 << 20},
        "vcpus": COUNT,
        "disk": {"type": "integer", "minimum": 0, "maximum": 1 << 12},
        "id": {"anyOf": [STR, {"type": "null"}]},
        "swap": {"anyOf": [{"type": "integer", "minimum": 0, "maximum": 1024}, {"const": ""}]},
        "OS-FLV-EXT-DATA:ephemeral": {"type": "integer", "minimum": 0, "maximum": 1024},
        "os-flavor-access:is_public": BOOL,
        "description": {"anyOf": [TEXT, {"type": "null"}]},
    }
    nova_quota = {k: QUOTA for k in ("instances", "cores", "ram", "key_pairs", "server_groups")}
    project = {
        "name": STR,
        "description": TEXT,
        "domain_id": ref("domain"),
        "enabled": BOOL,
        "tags": {"type": "array", "maxItems": 3, "items": STR},
    }
    user = {
        "name": STR,
        "password": STR,
        "enabled": BOOL,
        "domain_id": ref("domain"),
        "default_project_id": ref("project"),
        "description": TEXT,
    }
    N = "/networking/v2.0"
    C = "/compute/v2.1"
    ID = "/identity/v3"
    out: dict[tuple[str, str], Schema] = {}
    for path, key, create, required in (
        ("networks", "network", network, ()),
        ("subnets", "subnet", subnet, ("network_id", "ip_version")),
        ("ports", "port", port, ("network_id",)),
        ("routers", "router", router, ()),
        ("floatingips", "floatingip", floatingip, ("floating_network_id",)),
        ("security-groups", "security_group", group, ()),
        ("security-group-rules", "security_group_rule", rule, ("security_group_id", "direction")),
    ):
        out[("post", f"{N}/{path}")] = wrapped(key, create, required)
        update = {k: v for k, v in create.items() if not k.endswith("network_id")}
        out[("put", f"{N}/{path}/{{ident}}")] = wrapped(key, update)
    out[("put", f"{N}/routers/{{ident}}")] = wrapped("router", {**router, "routes": routes})
    interface = obj({"subnet_id": ref("subnet"), "port_id": ref("port")})
    out[("put", f"{N}/routers/{{router_id}}/add_router_interface")] = interface
    out[("put", f"{N}/routers/{{router_id}}/remove_router_interface")] = interface
    out[("put", f"{N}/routers/{{router_id}}/add_extraroutes")] = wrapped(
        "router", {"routes": routes}
    )
    out[("put", f"{N}/routers/{{router_id}}/remove_extraroutes")] = wrapped(
        "router", {"routes": routes}
    )
    out[("put", f"{N}/quotas/{{project_id}}")] = wrapped("quota", quota)
    out[("put", f"{N}/{{collection}}/{{ident}}/tags")] = obj(
        {"tags": {"type": "array", "maxItems": 3, "items": STR}}, ["tags"]
    )
    out[("put", f"{N}/agents/{{agent_id}}")] = wrapped(
        "agent", {"admin_state_up": BOOL, "description": TEXT}
    )
    out[("post", f"{N}/agents/{{agent_id}}/l3-routers")] = obj({"router_id": ref("router")})
    out[("post", f"{C}/servers")] = server_create
    out[("put", f"{C}/servers/{{server_id}}")] = wrapped(
        "server", {"name": STR, "description": {"anyOf": [TEXT, {"type": "null"}]}}
    )
    out[("post", f"{C}/servers/{{server_id}}/action")] = action
    out[("post", f"{C}/servers/{{server_id}}/os-interface")] = wrapped(
        "interfaceAttachment",
        {"port_id": ref("port"), "net_id": ref("network"), "fixed_ips": fixed_ips},
    )
    out[("post", f"{C}/servers/{{server_id}}/remote-consoles")] = wrapped(
        "remote_console",
        {"protocol": {"enum": ["serial"]}, "type": {"enum": ["serial"]}},
        ["protocol", "type"],
    )
    out[("post", f"{C}/os-keypairs")] = wrapped(
        "keypair",
        {"name": NAME, "public_key": STR, "type": {"enum": ["ssh", "x509"]}, "user_id": STR},
        ["name"],
    )
    out[("post", f"{C}/os-server-groups")] = wrapped(
        "server_group",
        {
            "name": NAME,
            "policy": {"enum": ["affinity", "anti-affinity", "soft-anti-affinity"]},
            "policies": {
                "type": "array",
                "maxItems": 1,
                "items": {"enum": ["affinity", "anti-affinity"]},
            },
            "rules": {"type": "object", "additionalProperties": INT},
        },
        ["name"],
    )
    out[("post", f"{C}/flavors")] = wrapped("flavor", flavor, ["name", "ram", "vcpus", "disk"])
    out[("post", f"{C}/flavors/{{flavor_id}}/os-extra_specs")] = obj(
        {"extra_specs": {"type": "object", "additionalProperties": STR}}, ["extra_specs"]
    )
    out[("post", f"{C}/flavors/{{flavor_id}}/action")] = {
        "anyOf": [
            wrapped(verb, {"tenant": ref("project")}, ["tenant"])
            for verb in ("addTenantAccess", "removeTenantAccess")
        ]
    }
    out[("put", f"{C}/os-quota-sets/{{project_id}}")] = wrapped("quota_set", nova_quota)
    out[("post", f"{ID}/projects")] = wrapped("project", project, ["name"])
    out[("patch", f"{ID}/projects/{{ident}}")] = wrapped("project", project)
    out[("post", f"{ID}/users")] = wrapped("user", user, ["name"])
    out[("patch", f"{ID}/users/{{ident}}")] = wrapped("user", user)
    out[("post", f"{ID}/domains")] = wrapped(
        "domain", {"name": STR, "description": TEXT, "enabled": BOOL}, ["name"]
    )
    out[("post", f"{ID}/roles")] = wrapped("role", {"name": STR, "domain_id": ref("domain")})
    out[("post", "/image/v2/images")] = obj(
        {
            "name": STR,
            "id": {"type": "string", "format": "uuid"},
            "disk_format": {"enum": ["raw", "qcow2", "iso"]},
            "container_format": {"enum": ["bare", "ovf"]},
            "visibility": {"enum": ["public", "private", "shared", "community"]},
            "min_disk": INT,
            "min_ram": INT,
            "tags": {"type": "array", "maxItems": 3, "items": STR},
        }
    )
    image_attr = {
        "enum": [
            "name",
            "visibility",
            "tags",
            "min_ram",
            "min_disk",
            "protected",
            "container_format",
            "disk_format",
            "os_hidden",
            "hw_cpu",
            "id",
        ]
    }
    out[("patch", "/image/v2/images/{image_id}")] = {
        "type": "array",
        "maxItems": 3,
        "items": obj(
            {
                "op": {"enum": ["add", "replace", "remove"]},
                "path": {"anyOf": [image_attr, {"type": "string", "pattern": "^/[a-z_]{1,12}$"}]},
                "value": {},
            },
            ["op", "path"],
        ),
    }
    return out


LIST_QUERY = {
    "networking": {
        "fields": one_of_or_any(["id", "name", "id,name", "status"]),
        "limit": INT,
        "marker": STR,
        "page_reverse": BOOL,
        "sort_key": one_of_or_any(["id", "name", "created_at"]),
        "sort_dir": one_of_or_any(["asc", "desc"]),
        "name": STR,
        "id": STR,
        "project_id": STR,
        "network_id": STR,
        "shared": STR,
        "admin_state_up": STR,
        "tags": STR,
        "tags-any": STR,
    },
    "compute": {
        "limit": INT,
        "marker": STR,
        "name": STR,
        "status": STR,
        "changes-since": one_of_or_any(["2020-01-01T00:00:00Z"]),
        "all_tenants": one_of_or_any(["1", "true"]),
        "project_id": STR,
        "sort_key": one_of_or_any(["created_at", "display_name"]),
        "sort_dir": one_of_or_any(["asc", "desc"]),
        "minRam": STR,
        "minDisk": STR,
        "is_public": STR,
        "user_id": STR,
        "hypervisor_hostname_pattern": STR,
        "tenant_id": STR,
    },
    "identity": {
        "name": STR,
        "domain_id": STR,
        "enabled": STR,
        "user.id": STR,
        "scope.project.id": STR,
    },
    "image": {"limit": INT, "marker": STR, "name": STR, "visibility": STR, "status": STR},
}
MICROVERSION = one_of_or_any(
    [
        "compute 2.1",
        "compute 2.19",
        "compute 2.37",
        "compute 2.79",
        "compute latest",
        "compute 2.999",
    ]
)
_PARAM = re.compile(r"{([^}]+)}")


def _area(path: str) -> str:
    for prefix, area in (
        ("/networking", "networking"),
        ("/compute", "compute"),
        ("/identity", "identity"),
        ("/image", "image"),
    ):
        if path.startswith(prefix):
            return area
    return ""


def _is_list(path: str) -> bool:
    """A collection read (no trailing path parameter): where the list queries apply."""
    return not path.endswith("}") and path.count("/") >= 3


def describe(base: Schema, ids: Mapping[str, Sequence[str]], path_ids: Sequence[str]) -> Schema:
    """``base`` (an ``app.openapi()`` document) with bodies, queries, headers and known ids."""
    doc = copy.deepcopy(base)
    doc.setdefault("openapi", "3.1.0")
    by_route = bodies(ids)
    known = one_of_or_any(path_ids)
    for path, ops in doc["paths"].items():
        area = _area(path)
        for method, op in ops.items():
            params: list[Schema] = op.setdefault("parameters", [])
            for p in params:
                if p.get("in") != "path":
                    continue
                if p["name"] == "collection":
                    p["schema"] = one_of_or_any(
                        [
                            "networks",
                            "subnets",
                            "ports",
                            "routers",
                            "floatingips",
                            "security-groups",
                        ]
                    )
                elif area in ("networking", "compute", "image"):
                    p["schema"] = known
            if method == "get" and _is_list(path) and area:
                params += [
                    {"name": k, "in": "query", "required": False, "schema": v}
                    for k, v in LIST_QUERY[area].items()
                ]
            if area == "compute":
                params.append(
                    {
                        "name": "OpenStack-API-Version",
                        "in": "header",
                        "required": False,
                        "schema": MICROVERSION,
                    }
                )
            body = by_route.get((method, path))
            if body is not None:
                op["requestBody"] = {
                    "required": True,
                    "content": {"application/json": {"schema": body}},
                }
    return doc
