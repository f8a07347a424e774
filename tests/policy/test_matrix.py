"""The authorization matrix: every persona against every resource type's actions.

The expected status of each cell comes from the policy table: a caller whose
roles cannot pass the rule at all gets 403 at the door; one whose roles could
but who is not allowed this target gets 404 where the API hides other
projects' things (Neutron, Nova, Glance) and 403 where it does not
(Keystone); an anonymous caller gets 401. The service layer has to agree
with the table for every cell, with real tokens and a real database.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from starlette.testclient import TestClient

from kumo.api import door, policy_gate
from kumo.api.app import create_app
from kumo.config import Settings
from kumo.context import RequestContext
from kumo.policy import RULES
from kumo.runtime import Runtime
from tests.apicloud import ApiCloud

N, C, G, I = "/networking/v2.0", "/compute/v2.1", "/image/v2", "/identity/v3"  # noqa: E741
O = "/orchestration/v1/{a}"  # noqa: E741
STACK_TEMPLATE = {"heat_template_version": "2018-08-31", "resources": {"v": {
    "type": "OS::Heat::Value", "properties": {"value": 1}}}}  # fmt: skip
V = "/volume/v3"
PERSONAS = ("admin", "member", "reader", "other", "anonymous", "agent")


@dataclass
class Persona:
    name: str
    headers: dict[str, str]
    ctx: RequestContext | None


@dataclass
class World:
    cloud: ApiCloud
    personas: dict[str, Persona]
    a: str
    """project A: member ``alice``, reader ``ann``."""
    b: str
    """project B: member ``bob``."""
    ids: dict[str, str] = field(default_factory=dict)

    def req(self, method: str, path: str, headers: dict[str, str], body: Any = None) -> Any:
        return self.cloud.c.request(method, path, headers=headers, json=body)

    def make(self, method: str, path: str, body: Any, key: str) -> str:
        r = self.req(method, path, self.personas["member"].headers, body)
        assert r.status_code in (200, 201), r.text
        ident: str = r.json()[key]["id"]
        return ident


def _user(cloud: ApiCloud, name: str, project_id: str, role: str) -> dict[str, str]:
    ident = cloud.rt.identity
    user = ident.create_user({"name": name, "password": "pw-" + name})
    role_id = next(r.id for r in ident.list_rows("role") if r.name == role)
    ident.grant(user.id, "project", project_id, role_id)
    project = next(p.name for p in ident.list_rows("project") if p.id == project_id)
    return cloud._token(name, "pw-" + name, project)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("matrix")
    runtime = Runtime.open(Settings(state_dir=tmp / "state", database_url=f"sqlite:///{tmp}/k.db"))
    password = runtime.identity.bootstrap()
    assert password
    runtime.compute.bootstrap()
    runtime.image.bootstrap()
    runtime.volume.bootstrap()
    with TestClient(create_app(runtime)) as client:
        cloud = ApiCloud(client, runtime, password)
        alice = cloud.member("alice")
        a = cloud.projects["alice"]
        bob = cloud.member("bob")
        b = cloud.projects["bob"]
        ann = _user(cloud, "ann", a, "reader")
        service = next(p.id for p in runtime.identity.list_rows("project") if p.name == "service")
        agent = _user(cloud, "agent-elsewhere", service, "service")
        headers = {"admin": cloud.admin, "member": alice, "reader": ann, "other": bob,
                   "anonymous": {}, "agent": agent}  # fmt: skip
        personas = {
            name: Persona(
                name, h, runtime.identity.validate_token(h["X-Auth-Token"]) if h else None
            )
            for name, h in headers.items()
        }
        w = World(cloud, personas, a, b)
        ext = w.req(
            "POST",
            f"{N}/networks",
            cloud.admin,
            {"network": {"name": "public", "router:external": True, "is_default": True}},
        ).json()["network"]
        w.req("POST", f"{N}/subnets", cloud.admin, {"subnet": {
            "network_id": ext["id"], "cidr": "203.0.113.0/24", "ip_version": 4}})  # fmt: skip
        w.ids["ext"] = ext["id"]
        w.ids["net"] = w.make("POST", f"{N}/networks", {"network": {"name": "na"}}, "network")
        w.ids["subnet"] = w.make("POST", f"{N}/subnets", {"subnet": {
            "network_id": w.ids["net"], "cidr": "10.0.0.0/24", "ip_version": 4}}, "subnet")  # fmt: skip
        w.ids["port"] = w.make("POST", f"{N}/ports", {"port": {"network_id": w.ids["net"]}}, "port")
        w.ids["rbac"] = w.make("POST", f"{N}/rbac-policies", {"rbac_policy": {
            "object_type": "network", "object_id": w.ids["net"], "action": "access_as_shared",
            "target_tenant": "someone"}}, "rbac_policy")  # fmt: skip
        w.ids["ag"] = w.make("POST", f"{N}/address-groups", {"address_group": {
            "addresses": ["10.8.0.0/24"]}}, "address_group")  # fmt: skip
        w.ids.update(_qos_policy(w))
        w.ids.update(_metering(w))
        w.ids["segment"] = w.req("GET", f"{N}/segments?network_id={w.ids['net']}",
                                 cloud.admin).json()["segments"][0]["id"]  # fmt: skip
        w.ids.update(_forwarded(w))
        w.ids.update(_flavor(w))
        w.ids.update(_trunk(w))
        w.ids["pool"] = w.make("POST", f"{N}/subnetpools", {"subnetpool": {
            "name": "pa", "prefixes": ["10.200.0.0/16"]}}, "subnetpool")  # fmt: skip
        w.ids["scope"] = w.make("POST", f"{N}/address-scopes", {"address_scope": {
            "name": "sa", "ip_version": 4}}, "address_scope")  # fmt: skip
        w.ids["router"] = w.make("POST", f"{N}/routers", {"router": {"name": "ra"}}, "router")
        w.ids["sg"] = w.make("POST", f"{N}/security-groups", {"security_group": {"name": "sa"}},
                             "security_group")  # fmt: skip
        templates = w.req("GET", f"{N}/default-security-group-rules", cloud.admin).json()
        w.ids["dsgr"] = templates["default_security_group_rules"][0]["id"]
        w.ids["rule"] = w.make("POST", f"{N}/security-group-rules", {"security_group_rule": {
            "security_group_id": w.ids["sg"], "direction": "ingress"}}, "security_group_rule")  # fmt: skip
        w.ids["fip"] = w.make("POST", f"{N}/floatingips",
                              {"floatingip": {"floating_network_id": ext["id"]}}, "floatingip")  # fmt: skip
        w.ids["image"] = (
            w.make("POST", f"{G}/images".replace("/image/v2", "/image/v2"), {"name": "ia"}, "image")
            if False
            else _image(w)
        )
        w.ids["server"] = _server(w)
        w.ids["volume"] = _volume(w)
        w.ids["snapshot"] = _snapshot(w, w.ids["volume"])
        w.ids["user"] = personas["member"].ctx.user_id  # type: ignore[union-attr]
        yield w
    runtime.close()


def _port_a(w: World) -> str:
    return w.make("POST", f"{N}/ports", {"port": {"network_id": w.ids["net"]}}, "port")


def _trunk(w: World, *, subport: bool = False) -> dict[str, str]:
    """Project A's trunk on a fresh parent port (with one subport)."""
    sub = _port_a(w) if subport else None
    body: dict[str, Any] = {"port_id": _port_a(w)}
    if sub:
        body["sub_ports"] = [{"port_id": sub, "segmentation_type": "vlan",
                              "segmentation_id": 10}]  # fmt: skip
    ids = {"trunk": w.make("POST", f"{N}/trunks", {"trunk": body}, "trunk")}
    if sub:
        ids["vsub"] = sub
    return ids


def _forwarded(w: World) -> dict[str, str]:
    """Project A's router from the subnet to the external network, a port on
    the subnet and a floating IP forwarding one of its ports."""
    h = w.personas["member"].headers
    router = w.make("POST", f"{N}/routers", {"router": {
        "external_gateway_info": {"network_id": w.ids["ext"]}}}, "router")  # fmt: skip
    r = w.req("PUT", f"{N}/routers/{router}/add_router_interface", h,
              {"subnet_id": w.ids["subnet"]})  # fmt: skip
    assert r.status_code == 200, r.text
    r = w.req("POST", f"{N}/ports", h, {"port": {"network_id": w.ids["net"]}})
    assert r.status_code == 201, r.text
    port = r.json()["port"]
    fip = w.make("POST", f"{N}/floatingips", {"floatingip": {
        "floating_network_id": w.ids["ext"]}}, "floatingip")  # fmt: skip
    ids = {"pfport": port["id"], "pfip": port["fixed_ips"][0]["ip_address"], "pffip": fip}
    ids["pf"] = w.make("POST", f"{N}/floatingips/{fip}/port_forwardings",
                       _forwarding(ids, 1), "port_forwarding")  # fmt: skip
    return ids


def _flavor(w: World, *, bound: bool = False) -> dict[str, str]:
    """A flavor and a service profile (admins make them), bound or not."""

    def make(path: str, body: Any, key: str) -> str:
        r = w.req("POST", f"{N}{path}", w.cloud.admin, body)
        assert r.status_code == 201, r.text
        ident: str = r.json()[key]["id"]
        return ident

    sp = make("/service_profiles", {"service_profile": {"driver": "kumo"}}, "service_profile")
    flavor = make("/flavors", {"flavor": {"service_type": "L3_ROUTER_NAT",
                                          "service_profiles": [sp] if bound else []}}, "flavor")  # fmt: skip
    if bound:
        return {"vflavor": flavor, "vsp": sp}
    return {"flavor": flavor, "sp": sp}


def _forwarding(ids: dict[str, str], number: int | str) -> dict[str, Any]:
    return {"port_forwarding": {
        "protocol": "tcp", "internal_port_id": ids["pfport"], "internal_ip_address": ids["pfip"],
        "internal_port": number, "external_port": number}}  # fmt: skip


def _qos_policy(w: World, *, rules: bool = True) -> dict[str, str]:
    """A QoS policy of project A (admins make them), with one rule of each type."""

    def make(path: str, body: Any, key: str) -> str:
        r = w.req("POST", f"{N}{path}", w.cloud.admin, body)
        assert r.status_code == 201, r.text
        ident: str = r.json()[key]["id"]
        return ident

    policy = make("/qos/policies", {"policy": {"project_id": w.a}}, "policy")
    base = f"/qos/policies/{policy}"
    if not rules:
        return {"victim": policy}
    return {
        "qos": policy,
        "bwrule": make(f"{base}/bandwidth_limit_rules",
                       {"bandwidth_limit_rule": {"max_kbps": 100}}, "bandwidth_limit_rule"),
        "dscprule": make(f"{base}/dscp_marking_rules", {"dscp_marking_rule": {"dscp_mark": 8}},
                         "dscp_marking_rule"),
        "ppsrule": make(f"{base}/packet_rate_limit_rules",
                        {"packet_rate_limit_rule": {"max_kpps": 10}}, "packet_rate_limit_rule"),
        "minrule": make(f"{base}/minimum_bandwidth_rules",
                        {"minimum_bandwidth_rule": {"min_kbps": 10}}, "minimum_bandwidth_rule"),
        "minpps": make(f"{base}/minimum_packet_rate_rules",
                       {"minimum_packet_rate_rule": {"min_kpps": 10}}, "minimum_packet_rate_rule"),
    }  # fmt: skip


def _metering(w: World, *, rule: bool = True) -> dict[str, str]:
    """A metering label of project A (admins make them), with one rule."""
    r = w.req("POST", f"{N}/metering/metering-labels", w.cloud.admin,
              {"metering_label": {"project_id": w.a}})  # fmt: skip
    assert r.status_code == 201, r.text
    label: str = r.json()["metering_label"]["id"]
    if not rule:
        return {"victim": label}
    r = w.req("POST", f"{N}/metering/metering-label-rules", w.cloud.admin,
              {"metering_label_rule": {"metering_label_id": label, "direction": "egress",
                                       "remote_ip_prefix": "10.0.0.0/8"}})  # fmt: skip
    assert r.status_code == 201, r.text
    return {"meter": label, "mrule": r.json()["metering_label_rule"]["id"]}


def _image(w: World) -> str:
    r = w.req("POST", f"{G}/images", w.personas["member"].headers,
              {"name": "ia", "disk_format": "raw", "container_format": "bare"})  # fmt: skip
    assert r.status_code == 201, r.text
    ident: str = r.json()["id"]
    return ident


def _volume(w: World) -> str:
    """A volume of project A (in ``error``: the matrix's cloud has no storage host)."""
    r = w.req("POST", f"{V}/volumes", w.personas["member"].headers, {"volume": {"size": 1}})
    assert r.status_code == 202, r.text
    ident: str = r.json()["volume"]["id"]
    return ident


def _snapshot(w: World, volume_id: str, status: str = "available") -> str:
    """A snapshot of project A's volume, recorded as its storage host would
    have made it (the matrix's cloud has none to make it)."""
    from kumo.db.uow import run_in_transaction
    from kumo.db.volume_models import Snapshot, Volume

    def make(uow: Any) -> str:
        v = uow.session.get(Volume, volume_id)
        snap = Snapshot(project_id=v.project_id, user_id=v.user_id, volume_id=v.id,
                        volume_type_id=v.volume_type_id, size=v.size, status=status,
                        meta={"k": "v"})  # fmt: skip
        uow.session.add(snap)
        uow.session.flush()
        return str(snap.id)

    return run_in_transaction(w.cloud.rt.db, make)


def _available_volume(w: World) -> dict[str, str]:
    """A volume of project A, recorded ``available`` as its storage host would report it."""
    from kumo.db.uow import run_in_transaction
    from kumo.db.volume_models import Volume

    for project in (w.a, w.b):  # the transfer cases make many volumes
        r = w.req("PUT", f"{V}/os-quota-sets/{project}", w.personas["admin"].headers,
                  {"quota_set": {"volumes": -1, "gigabytes": -1}})  # fmt: skip
        assert r.status_code == 200, r.text
    ident = _volume(w)

    def ready(uow: Any) -> None:
        uow.session.get(Volume, ident).status = "available"

    run_in_transaction(w.cloud.rt.db, ready)
    return {"victim": ident}


def _placed_volume(w: World) -> dict[str, str]:
    """An available volume of project A in a storage host's pool (as its agent
    would have reported it): one that can be uploaded into an image."""
    from kumo.db.uow import run_in_transaction
    from kumo.db.volume_models import Volume

    made = _available_volume(w)

    def place(uow: Any) -> None:
        v = uow.session.get(Volume, made["victim"])
        v.storage_host, v.pool = "s1", "p1"

    run_in_transaction(w.cloud.rt.db, place)
    return made


def _transfer(w: World) -> dict[str, str]:
    """A transfer of an available volume of project A, with its key."""
    volume = _available_volume(w)["victim"]
    r = w.req("POST", f"{V}/os-volume-transfer", w.personas["member"].headers,
              {"transfer": {"volume_id": volume}})  # fmt: skip
    assert r.status_code == 202, r.text
    return {"victim": r.json()["transfer"]["id"], "key": r.json()["transfer"]["auth_key"]}


def _fresh_type(w: World) -> dict[str, str]:
    """A volume type the admin made (no volume has it)."""
    body = {"volume_type": {"name": f"vt{next(COUNTER)}"}}
    r = w.req("POST", f"{V}/types", w.personas["admin"].headers, body)
    assert r.status_code == 200, r.text
    return {"victim": r.json()["volume_type"]["id"]}


def _encrypted_type(w: World) -> dict[str, str]:
    made = _fresh_type(w)
    r = w.req("POST", f"{V}/types/{made['victim']}/encryption", w.personas["admin"].headers,
              {"encryption": {"provider": "luks", "cipher": "aes-xts-plain64"}})  # fmt: skip
    assert r.status_code == 200, r.text
    return {**made, "encryption": r.json()["encryption"]["encryption_id"]}


def _group_snapshot(w: World) -> dict[str, str]:
    """A group snapshot of project A, recorded as made (the matrix's cloud has no
    storage host to make its member snapshots)."""
    from sqlalchemy import select

    from kumo.db.uow import run_in_transaction
    from kumo.db.volume_models import GroupSnapshot, GroupType, VolumeGroup, VolumeType

    def make(uow: Any) -> str:
        gt = uow.session.scalars(select(GroupType)).first()
        vt = uow.session.scalar(select(VolumeType.id).where(VolumeType.name == "__DEFAULT__"))
        g = VolumeGroup(project_id=w.a, user_id="u", group_type_id=gt.id, volume_type_ids=[vt])
        uow.session.add(g)
        uow.session.flush()
        gs = GroupSnapshot(project_id=w.a, user_id="u", group_id=g.id, group_type_id=gt.id)
        uow.session.add(gs)
        uow.session.flush()
        return str(gs.id)

    return {"victim": run_in_transaction(w.cloud.rt.db, make)}


def _qos_specs(w: World) -> dict[str, str]:
    """QoS specs the admin made (only admins may)."""
    body = {"qos_specs": {"name": f"qs{next(COUNTER)}", "read_iops_sec": "100"}}
    r = w.req("POST", f"{V}/qos-specs", w.personas["admin"].headers, body)
    assert r.status_code == 200, r.text
    return {"victim": r.json()["qos_specs"]["id"]}


def _active_image(w: World, *, deactivated: bool = False) -> dict[str, str]:
    ident = _image(w)
    h = w.personas["member"].headers
    r = w.cloud.c.put(f"{G}/images/{ident}/file", headers=h, content=b"data")
    assert r.status_code == 204, r.text
    if deactivated:
        r = w.req("POST", f"{G}/images/{ident}/actions/deactivate", h)
        assert r.status_code == 204, r.text
    return {"victim": ident}


def _shared_with_b(w: World) -> dict[str, str]:
    ident = _image(w)
    r = w.req("POST", f"{G}/images/{ident}/members", w.personas["member"].headers,
              {"member": w.b})  # fmt: skip
    assert r.status_code == 200, r.text
    return {"victim": ident}


def _stack(w: World) -> str:
    """A stack of project A, made by its member and complete."""
    import time

    body = {"stack_name": f"st{next(COUNTER)}", "template": STACK_TEMPLATE}
    r = w.req("POST", f"/orchestration/v1/{w.a}/stacks", w.personas["member"].headers, body)
    assert r.status_code == 201, r.text
    ident: str = r.json()["stack"]["id"]
    for _ in range(200):
        shown = w.req("GET", f"/orchestration/v1/{w.a}/stacks/{body['stack_name']}/{ident}",
                      w.personas["member"].headers).json()["stack"]  # fmt: skip
        if not shown["stack_status"].endswith("IN_PROGRESS"):
            break
        time.sleep(0.05)
    return ident


def _named_stack(w: World) -> dict[str, str]:
    ident = _stack(w)
    shown = w.req("GET", f"/orchestration/v1/{w.a}/stacks", w.personas["member"].headers).json()
    name = next(s["stack_name"] for s in shown["stacks"] if s["id"] == ident)
    return {"victim": ident, "victim_name": name}


def _software_config(w: World) -> str:
    return w.make("POST", f"/orchestration/v1/{w.a}/software_configs",
                  {"group": "script", "config": "#!/bin/sh"}, "software_config")  # fmt: skip


def _software_deployment(w: World) -> str:
    body = {"config_id": _software_config(w), "server_id": "s"}
    return w.make("POST", f"/orchestration/v1/{w.a}/software_deployments", body,
                  "software_deployment")  # fmt: skip


def _server(w: World) -> str:
    image = next(i["id"] for i in w.req("GET", f"{G}/images", w.cloud.admin).json()["images"]
                 if i["name"] == "busybox")  # fmt: skip
    r = w.req("POST", f"{C}/servers", w.personas["member"].headers, {"server": {
        "name": "sa", "imageRef": image, "flavorRef": "1", "networks": [{"uuid": w.ids["net"]}]}})  # fmt: skip
    assert r.status_code == 202, r.text
    ident: str = r.json()["server"]["id"]
    return ident


def _topology(w: World) -> dict[str, str]:
    """Make sure project A has its auto-allocated topology."""
    r = w.req("GET", f"{N}/auto-allocated-topology/{w.a}", w.cloud.admin)
    assert r.status_code == 200, r.text
    return {}


@dataclass(frozen=True)
class Case:
    rule: str
    method: str
    path: str
    """With ``{name}`` fields from ``World.ids`` and ``{a}``/``{b}`` for the projects."""
    ok: int
    body: Any = None
    target: Callable[[World, Persona], dict[str, Any]] = lambda w, p: {"project_id": w.a}
    fresh: Callable[[World], dict[str, str]] | None = None
    """Makes the object a destructive case acts on (a new one per persona)."""
    hidden: int | None = None
    """The status for a caller the target check refuses (default: from the rule)."""
    headers: dict[str, str] | None = None
    """Sent besides the persona's token (a microversion, say)."""


def own(w: World, p: Persona) -> dict[str, Any]:
    """A create in the caller's own project."""
    return {"project_id": p.ctx.project_id if p.ctx else None}


def _fresh(method: str, path: str, body: Callable[[World], Any], key: str, name: str):  # type: ignore[no-untyped-def]
    def make(w: World) -> dict[str, str]:
        return {name: w.make(method, path, body(w), key)}

    return make


def _fresh_admin(path: str, body: Callable[[World], Any], key: str, name: str):  # type: ignore[no-untyped-def]
    """Like ``_fresh``, for objects only an admin may make."""

    def make(w: World) -> dict[str, str]:
        r = w.req("POST", path, w.personas["admin"].headers, body(w))
        assert r.status_code == 201, r.text
        return {name: r.json()[key]["id"]}

    return make


def _sg_template(w: World) -> dict[str, Any]:
    port = 3000 + next(COUNTER)
    return {"default_security_group_rule": {"direction": "ingress", "protocol": "tcp",
            "port_range_min": port, "port_range_max": port}}  # fmt: skip


def _onboard_victim(w: World) -> dict[str, str]:
    """A network of project A with a subnet from no pool."""
    net = w.make("POST", f"{N}/networks", {"network": {"name": "ob"}}, "network")
    n = next(COUNTER)
    w.make("POST", f"{N}/subnets", {"subnet": {"network_id": net, "ip_version": 4,
           "cidr": f"172.{16 + n // 250 % 16}.{n % 250}.0/24"}}, "subnet")  # fmt: skip
    return {"victim": net}


CASES = [
    # networks
    Case("network:get_network", "GET", f"{N}/networks/{{net}}", 200),
    Case("network:create_network", "POST", f"{N}/networks", 201, {"network": {"name": "x"}}, own),
    Case("network:update_network", "PUT", f"{N}/networks/{{net}}", 200, {"network": {"name": "y"}}),
    Case("network:delete_network", "DELETE", f"{N}/networks/{{victim}}", 204,
         fresh=_fresh("POST", f"{N}/networks", lambda w: {"network": {}}, "network", "victim")),
    # subnets (the network's owner writes them)
    Case("network:get_subnet", "GET", f"{N}/subnets/{{subnet}}", 200),
    Case("network:create_subnet", "POST", f"{N}/subnets", 201,
         {"subnet": {"network_id": "{net}", "cidr": "172.16.{m}.0/24", "ip_version": 4}},
         lambda w, p: {"project_id": w.a, "network:project_id": w.a}),
    Case("network:update_subnet", "PUT", f"{N}/subnets/{{subnet}}", 200, {"subnet": {"name": "s"}},
         lambda w, p: {"project_id": w.a, "network:project_id": w.a}),
    Case("network:delete_subnet", "DELETE", f"{N}/subnets/{{victim}}", 204,
         target=lambda w, p: {"project_id": w.a, "network:project_id": w.a},
         fresh=_fresh("POST", f"{N}/subnets", lambda w: {"subnet": {
             "network_id": w.ids["net"], "cidr": f"10.{next(COUNTER) % 250}.{next(COUNTER) % 250}.0/24", "ip_version": 4}},
             "subnet", "victim")),
    # ports
    Case("network:get_port", "GET", f"{N}/ports/{{port}}", 200),
    Case("network:create_port", "POST", f"{N}/ports", 201, {"port": {"network_id": "{net}"}},
         lambda w, p: {"project_id": w.a, "network:project_id": w.a}),
    Case("network:update_port", "PUT", f"{N}/ports/{{port}}", 200, {"port": {"name": "p"}}),
    Case("network:delete_port", "DELETE", f"{N}/ports/{{victim}}", 204,
         fresh=_fresh("POST", f"{N}/ports", lambda w: {"port": {"network_id": w.ids["net"]}},
                      "port", "victim")),
    # RBAC policies (the shared object's owner makes them; others cannot see them)
    Case("network:get_rbac_policy", "GET", f"{N}/rbac-policies/{{rbac}}", 200),
    Case("network:create_rbac_policy", "POST", f"{N}/rbac-policies", 201,
         {"rbac_policy": {"object_type": "network", "object_id": "{net}",
                          "action": "access_as_shared", "target_tenant": "p{n}"}}),
    Case("network:update_rbac_policy", "PUT", f"{N}/rbac-policies/{{rbac}}", 200,
         {"rbac_policy": {"target_tenant": "q{n}"}}),
    Case("network:delete_rbac_policy", "DELETE", f"{N}/rbac-policies/{{victim}}", 204,
         fresh=_fresh("POST", f"{N}/rbac-policies", lambda w: {"rbac_policy": {
             "object_type": "network", "object_id": w.ids["net"], "action": "access_as_shared",
             "target_tenant": f"v{next(COUNTER)}"}}, "rbac_policy", "victim")),
    # address groups
    Case("network:get_address_group", "GET", f"{N}/address-groups/{{ag}}", 200),
    Case("network:create_address_group", "POST", f"{N}/address-groups", 201,
         {"address_group": {"name": "g{n}"}}, own),
    Case("network:update_address_group", "PUT", f"{N}/address-groups/{{ag}}", 200,
         {"address_group": {"description": "d{n}"}}),
    Case("network:update_address_group_addresses", "PUT",
         f"{N}/address-groups/{{ag}}/add_addresses", 200,
         {"address_group": {"addresses": ["10.7.{m}.0/24"]}}),
    Case("network:delete_address_group", "DELETE", f"{N}/address-groups/{{victim}}", 204,
         fresh=_fresh("POST", f"{N}/address-groups", lambda w: {"address_group": {}},
                      "address_group", "victim")),
    # floating IP port forwarding (the floating IP's project)
    Case("network:get_floatingip_port_forwarding", "GET",
         f"{N}/floatingips/{{pffip}}/port_forwardings/{{pf}}", 200),
    Case("network:create_floatingip_port_forwarding", "POST",
         f"{N}/floatingips/{{pffip}}/port_forwardings", 201,
         _forwarding({"pfport": "{pfport}", "pfip": "{pfip}"}, "{n}")),
    Case("network:update_floatingip_port_forwarding", "PUT",
         f"{N}/floatingips/{{pffip}}/port_forwardings/{{pf}}", 200,
         {"port_forwarding": {"description": "d{n}"}}),
    Case("network:delete_floatingip_port_forwarding", "DELETE",
         f"{N}/floatingips/{{pffip}}/port_forwardings/{{victim}}", 204,
         fresh=lambda w: {"victim": w.make(
             "POST", f"{N}/floatingips/{w.ids['pffip']}/port_forwardings",
             _forwarding(w.ids, 20000 + next(COUNTER)), "port_forwarding")}),
    # trunks (the trunk's project; its ports must be the caller's to use)
    Case("network:get_trunk", "GET", f"{N}/trunks/{{trunk}}", 200),
    Case("network:get_subports", "GET", f"{N}/trunks/{{trunk}}/get_subports", 200),
    Case("network:create_trunk", "POST", f"{N}/trunks", 201,
         {"trunk": {"port_id": "{victim}"}}, fresh=lambda w: {"victim": _port_a(w)}),
    Case("network:update_trunk", "PUT", f"{N}/trunks/{{trunk}}", 200,
         {"trunk": {"description": "d{n}"}}),
    Case("network:delete_trunk", "DELETE", f"{N}/trunks/{{victim}}", 204,
         fresh=lambda w: {"victim": _trunk(w)["trunk"]}),
    Case("network:add_subports", "PUT", f"{N}/trunks/{{trunk}}/add_subports", 200,
         {"sub_ports": [{"port_id": "{victim}", "segmentation_type": "vlan",
                         "segmentation_id": "{vid}"}]},
         fresh=lambda w: {"victim": _port_a(w), "vid": str(100 + next(COUNTER) % 3000)}),
    Case("network:remove_subports", "PUT", f"{N}/trunks/{{victim}}/remove_subports", 200,
         {"sub_ports": [{"port_id": "{vsub}"}]},
         fresh=lambda w: {"victim": (t := _trunk(w, subport=True))["trunk"],
                          "vsub": t["vsub"]}),
    # segments (admin-only, as in Neutron)
    # flavors (everyone reads) and service profiles (admins only)
    Case("network:get_flavor", "GET", f"{N}/flavors/{{flavor}}", 200, target=lambda w, p: {}),
    Case("network:create_flavor", "POST", f"{N}/flavors", 201,
         {"flavor": {"name": "f{n}", "service_type": "FLAVORS"}}, target=lambda w, p: {}),
    Case("network:update_flavor", "PUT", f"{N}/flavors/{{flavor}}", 200,
         {"flavor": {"name": "f{n}"}}, target=lambda w, p: {}),
    Case("network:delete_flavor", "DELETE", f"{N}/flavors/{{victim}}", 204,
         target=lambda w, p: {}, fresh=lambda w: {"victim": _flavor(w)["flavor"]}),
    Case("network:get_service_profile", "GET", f"{N}/service_profiles/{{sp}}", 200,
         target=lambda w, p: {}),
    Case("network:create_service_profile", "POST", f"{N}/service_profiles", 201,
         {"service_profile": {"metainfo": "m{n}"}}, target=lambda w, p: {}),
    Case("network:update_service_profile", "PUT", f"{N}/service_profiles/{{sp}}", 200,
         {"service_profile": {"description": "d{n}"}}, target=lambda w, p: {}),
    Case("network:delete_service_profile", "DELETE", f"{N}/service_profiles/{{victim}}", 204,
         target=lambda w, p: {}, fresh=lambda w: {"victim": _flavor(w)["sp"]}),
    Case("network:create_flavor_service_profile", "POST",
         f"{N}/flavors/{{flavor}}/service_profiles", 201, {"service_profile": {"id": "{victim}"}},
         target=lambda w, p: {}, fresh=lambda w: {"victim": _flavor(w)["sp"]}),
    Case("network:delete_flavor_service_profile", "DELETE",
         f"{N}/flavors/{{vflavor}}/service_profiles/{{vsp}}", 204, target=lambda w, p: {},
         fresh=lambda w: _flavor(w, bound=True)),
    Case("network:get_segment", "GET", f"{N}/segments/{{segment}}", 200),
    Case("network:create_segment", "POST", f"{N}/segments", 201,
         {"segment": {"network_id": "{net}", "network_type": "vxlan"}}),
    Case("network:update_segment", "PUT", f"{N}/segments/{{segment}}", 200,
         {"segment": {"description": "d{n}"}}),
    Case("network:delete_segment", "DELETE", f"{N}/segments/{{victim}}", 204,
         fresh=_fresh_admin(f"{N}/segments", lambda w: {"segment": {
             "network_id": w.ids["net"], "network_type": "vxlan"}}, "segment", "victim")),
    # metering (admin-only, as in Neutron)
    Case("network:get_metering_label", "GET", f"{N}/metering/metering-labels/{{meter}}", 200),
    Case("network:create_metering_label", "POST", f"{N}/metering/metering-labels", 201,
         {"metering_label": {"name": "m{n}"}}, own),
    Case("network:delete_metering_label", "DELETE", f"{N}/metering/metering-labels/{{victim}}",
         204, fresh=lambda w: _metering(w, rule=False)),
    Case("network:get_metering_label_counts", "GET",
         f"{N}/metering/metering-labels/{{meter}}/counts", 200),
    Case("network:get_metering_label_rule", "GET",
         f"{N}/metering/metering-label-rules/{{mrule}}", 200),
    Case("network:create_metering_label_rule", "POST", f"{N}/metering/metering-label-rules", 201,
         {"metering_label_rule": {"metering_label_id": "{victim}", "direction": "ingress",
                                  "remote_ip_prefix": "10.{m}.0.0/16"}},
         fresh=lambda w: _metering(w, rule=False)),
    Case("network:delete_metering_label_rule", "DELETE",
         f"{N}/metering/metering-label-rules/{{victim}}", 204,
         fresh=lambda w: {"victim": _metering(w)["mrule"]}),
    # QoS (admins write policies and rules; readers of the policy's project read them)
    Case("network:get_qos_policy", "GET", f"{N}/qos/policies/{{qos}}", 200),
    Case("network:create_qos_policy", "POST", f"{N}/qos/policies", 201,
         {"policy": {"name": "q{n}"}}, own),
    Case("network:update_qos_policy", "PUT", f"{N}/qos/policies/{{qos}}", 200,
         {"policy": {"description": "d{n}"}}),
    Case("network:delete_qos_policy", "DELETE", f"{N}/qos/policies/{{victim}}", 204,
         fresh=lambda w: _qos_policy(w, rules=False)),
    Case("network:get_policy_bandwidth_limit_rule", "GET",
         f"{N}/qos/policies/{{qos}}/bandwidth_limit_rules/{{bwrule}}", 200),
    Case("network:create_policy_bandwidth_limit_rule", "POST",
         f"{N}/qos/policies/{{victim}}/bandwidth_limit_rules", 201,
         {"bandwidth_limit_rule": {"max_kbps": 10, "direction": "ingress"}},
         fresh=lambda w: _qos_policy(w, rules=False)),
    Case("network:update_policy_bandwidth_limit_rule", "PUT",
         f"{N}/qos/alias_bandwidth_limit_rules/{{bwrule}}", 200,
         {"bandwidth_limit_rule": {"max_burst_kbps": 1}}),
    Case("network:delete_policy_bandwidth_limit_rule", "DELETE",
         f"{N}/qos/policies/{{qos}}/bandwidth_limit_rules/{{victim}}", 204,
         fresh=lambda w: {"qos": (q := _qos_policy(w))["qos"], "victim": q["bwrule"]}),
    Case("network:get_policy_dscp_marking_rule", "GET",
         f"{N}/qos/alias_dscp_marking_rules/{{dscprule}}", 200),
    Case("network:create_policy_dscp_marking_rule", "POST",
         f"{N}/qos/policies/{{victim}}/dscp_marking_rules", 201,
         {"dscp_marking_rule": {"dscp_mark": 10}},
         fresh=lambda w: _qos_policy(w, rules=False)),
    Case("network:update_policy_dscp_marking_rule", "PUT",
         f"{N}/qos/policies/{{qos}}/dscp_marking_rules/{{dscprule}}", 200,
         {"dscp_marking_rule": {"dscp_mark": 12}}),
    Case("network:delete_policy_dscp_marking_rule", "DELETE",
         f"{N}/qos/alias_dscp_marking_rules/{{victim}}", 204,
         fresh=lambda w: {"victim": _qos_policy(w)["dscprule"]}),
    Case("network:get_policy_packet_rate_limit_rule", "GET",
         f"{N}/qos/policies/{{qos}}/packet_rate_limit_rules/{{ppsrule}}", 200),
    Case("network:create_policy_packet_rate_limit_rule", "POST",
         f"{N}/qos/policies/{{victim}}/packet_rate_limit_rules", 201,
         {"packet_rate_limit_rule": {"max_kpps": 5, "direction": "ingress"}},
         fresh=lambda w: _qos_policy(w, rules=False)),
    Case("network:update_policy_packet_rate_limit_rule", "PUT",
         f"{N}/qos/alias_packet_rate_limit_rules/{{ppsrule}}", 200,
         {"packet_rate_limit_rule": {"max_burst_kpps": 1}}),
    Case("network:delete_policy_packet_rate_limit_rule", "DELETE",
         f"{N}/qos/policies/{{qos}}/packet_rate_limit_rules/{{victim}}", 204,
         fresh=lambda w: {"qos": (q := _qos_policy(w))["qos"], "victim": q["ppsrule"]}),
    Case("network:get_policy_minimum_bandwidth_rule", "GET",
         f"{N}/qos/alias_minimum_bandwidth_rules/{{minrule}}", 200),
    Case("network:create_policy_minimum_bandwidth_rule", "POST",
         f"{N}/qos/policies/{{victim}}/minimum_bandwidth_rules", 201,
         {"minimum_bandwidth_rule": {"min_kbps": 5, "direction": "ingress"}},
         fresh=lambda w: _qos_policy(w, rules=False)),
    Case("network:update_policy_minimum_bandwidth_rule", "PUT",
         f"{N}/qos/policies/{{qos}}/minimum_bandwidth_rules/{{minrule}}", 200,
         {"minimum_bandwidth_rule": {"min_kbps": 7}}),
    Case("network:delete_policy_minimum_bandwidth_rule", "DELETE",
         f"{N}/qos/alias_minimum_bandwidth_rules/{{victim}}", 204,
         fresh=lambda w: {"victim": _qos_policy(w)["minrule"]}),
    Case("network:get_policy_minimum_packet_rate_rule", "GET",
         f"{N}/qos/policies/{{qos}}/minimum_packet_rate_rules/{{minpps}}", 200),
    Case("network:create_policy_minimum_packet_rate_rule", "POST",
         f"{N}/qos/policies/{{victim}}/minimum_packet_rate_rules", 201,
         {"minimum_packet_rate_rule": {"min_kpps": 5, "direction": "any"}},
         fresh=lambda w: _qos_policy(w, rules=False)),
    Case("network:update_policy_minimum_packet_rate_rule", "PUT",
         f"{N}/qos/alias_minimum_packet_rate_rules/{{minpps}}", 200,
         {"minimum_packet_rate_rule": {"min_kpps": 7}}),
    Case("network:delete_policy_minimum_packet_rate_rule", "DELETE",
         f"{N}/qos/policies/{{qos}}/minimum_packet_rate_rules/{{victim}}", 204,
         fresh=lambda w: {"qos": (q := _qos_policy(w))["qos"], "victim": q["minpps"]}),
    Case("network:list_rule_types", "GET", f"{N}/qos/rule-types", 200),
    Case("network:get_rule_type", "GET", f"{N}/qos/rule-types/bandwidth_limit", 200),
    # subnet pools and address scopes
    Case("network:get_subnetpool", "GET", f"{N}/subnetpools/{{pool}}", 200),
    Case("network:create_subnetpool", "POST", f"{N}/subnetpools", 201,
         {"subnetpool": {"name": "p{n}", "prefixes": ["10.210.{m}.0/24"]}}, own),
    Case("network:update_subnetpool", "PUT", f"{N}/subnetpools/{{pool}}", 200,
         {"subnetpool": {"description": "d{n}"}}),
    Case("network:update_subnetpool_prefixes", "PUT", f"{N}/subnetpools/{{pool}}/add_prefixes",
         200, {"prefixes": ["10.201.{m}.0/24"]}),
    Case("network:onboard_network_subnets", "PUT",
         f"{N}/subnetpools/{{pool}}/onboard_network_subnets", 200, {"network_id": "{victim}"},
         fresh=_onboard_victim),
    Case("network:delete_subnetpool", "DELETE", f"{N}/subnetpools/{{victim}}", 204,
         fresh=_fresh("POST", f"{N}/subnetpools", lambda w: {"subnetpool": {
             "name": "v", "prefixes": [f"10.220.{next(COUNTER) % 250}.0/24"]}}, "subnetpool",
             "victim")),
    Case("network:get_address_scope", "GET", f"{N}/address-scopes/{{scope}}", 200),
    Case("network:create_address_scope", "POST", f"{N}/address-scopes", 201,
         {"address_scope": {"name": "s{n}", "ip_version": 6}}, own),
    Case("network:update_address_scope", "PUT", f"{N}/address-scopes/{{scope}}", 200,
         {"address_scope": {"name": "s{n}"}}),
    Case("network:delete_address_scope", "DELETE", f"{N}/address-scopes/{{victim}}", 204,
         fresh=_fresh("POST", f"{N}/address-scopes", lambda w: {"address_scope": {
             "name": "v", "ip_version": 4}}, "address_scope", "victim")),
    Case("network:get_floatingip_pool", "GET", f"{N}/floatingip-pools", 200),
    Case("network:get_service_provider", "GET", f"{N}/service-providers", 200),
    Case("network:get_availability_zone", "GET", f"{N}/availability_zones", 200),
    # routers and their interfaces
    Case("network:get_router", "GET", f"{N}/routers/{{router}}", 200),
    Case("network:create_router", "POST", f"{N}/routers", 201, {"router": {"name": "r"}}, own),
    Case("network:update_router", "PUT", f"{N}/routers/{{router}}", 200, {"router": {"name": "q"}}),
    Case("network:delete_router", "DELETE", f"{N}/routers/{{victim}}", 204,
         fresh=_fresh("POST", f"{N}/routers", lambda w: {"router": {}}, "router", "victim")),
    Case("network:add_router_interface", "PUT", f"{N}/routers/{{router}}/add_router_interface",
         200, {"subnet_id": "{victim}"},
         fresh=_fresh("POST", f"{N}/subnets", lambda w: {"subnet": {
             "network_id": w.ids["net"], "cidr": f"10.{next(COUNTER) % 250}.{next(COUNTER) % 250}.0/24",
             "ip_version": 4}}, "subnet", "victim")),
    Case("network:update_extraroutes", "PUT", f"{N}/routers/{{router}}/add_extraroutes", 200,
         {"router": {"routes": []}}),
    # floating IPs
    Case("network:get_floatingip", "GET", f"{N}/floatingips/{{fip}}", 200),
    Case("network:create_floatingip", "POST", f"{N}/floatingips", 201,
         {"floatingip": {"floating_network_id": "{ext}"}}, own),
    Case("network:update_floatingip", "PUT", f"{N}/floatingips/{{fip}}", 200,
         {"floatingip": {"description": "d"}}),
    Case("network:delete_floatingip", "DELETE", f"{N}/floatingips/{{victim}}", 204,
         fresh=_fresh("POST", f"{N}/floatingips",
                      lambda w: {"floatingip": {"floating_network_id": w.ids["ext"]}},
                      "floatingip", "victim")),
    # security groups and rules
    Case("network:get_security_group", "GET", f"{N}/security-groups/{{sg}}", 200),
    Case("network:create_security_group", "POST", f"{N}/security-groups", 201,
         {"security_group": {"name": "g{n}"}}, own),
    Case("network:update_security_group", "PUT", f"{N}/security-groups/{{sg}}", 200,
         {"security_group": {"description": "d"}}),
    Case("network:delete_security_group", "DELETE", f"{N}/security-groups/{{victim}}", 204,
         fresh=_fresh("POST", f"{N}/security-groups", lambda w: {"security_group": {
             "name": f"v{next(COUNTER)}"}}, "security_group", "victim")),
    Case("network:get_security_group_rule", "GET", f"{N}/security-group-rules/{{rule}}", 200,
         target=lambda w, p: {"project_id": w.a, "security_group:project_id": w.a}),
    Case("network:delete_security_group_rule", "DELETE", f"{N}/security-group-rules/{{victim}}",
         204, fresh=_fresh("POST", f"{N}/security-group-rules", lambda w: {"security_group_rule": {
             "security_group_id": w.ids["sg"], "direction": "egress", "protocol": "tcp",
             "port_range_min": 2000, "port_range_max": 2000 + next(COUNTER)}},
             "security_group_rule", "victim")),
    # the templates of new groups' rules (PUT: nothing is writable, 400)
    Case("network:get_default_security_group_rule", "GET",
         f"{N}/default-security-group-rules/{{dsgr}}", 200, target=lambda w, p: {}),
    Case("network:create_default_security_group_rule", "POST",
         f"{N}/default-security-group-rules", 201, {"default_security_group_rule": {
             "direction": "ingress", "protocol": "udp", "port_range_min": 4000,
             "port_range_max": 4000}}, target=lambda w, p: {}),
    Case("network:update_default_security_group_rule", "PUT",
         f"{N}/default-security-group-rules/{{dsgr}}", 400,
         {"default_security_group_rule": {"description": "d"}}, target=lambda w, p: {}),
    Case("network:delete_default_security_group_rule", "DELETE",
         f"{N}/default-security-group-rules/{{victim}}", 204, target=lambda w, p: {},
         fresh=_fresh_admin(f"{N}/default-security-group-rules", _sg_template,
                            "default_security_group_rule", "victim")),
    # quotas, tags, admin-only networking
    Case("network:get_quota", "GET", f"{N}/quotas/{{a}}", 200, hidden=403),
    Case("network:update_quota", "PUT", f"{N}/quotas/{{a}}", 200, {"quota": {"network": 50}}),
    Case("network:update_tags", "PUT", f"{N}/networks/{{net}}/tags/red", 201),
    # a QoS policy's tags, at both paths (project A's policy, which only
    # admins share: a member of B sees nothing)
    Case("network:update_tags", "PUT", f"{N}/qos/policies/{{qos}}/tags/red", 201),
    Case("network:update_tags", "PUT", f"{N}/policies/{{qos}}/tags", 200, {"tags": ["b"]}),
    Case("network:get_tags", "GET", f"{N}/qos/policies/{{qos}}/tags", 200),
    Case("network:get_network_ip_availability", "GET", f"{N}/network-ip-availabilities", 200),
    Case("network:get_agent", "GET", f"{N}/agents/nothing", 404),
    # project A's auto-allocated topology (made by the admin first where it must exist)
    Case("network:get_auto_allocated_topology", "GET", f"{N}/auto-allocated-topology/{{a}}", 200,
         fresh=_topology),
    Case("network:delete_auto_allocated_topology", "DELETE",
         f"{N}/auto-allocated-topology/{{a}}", 204, fresh=_topology),
    # compute
    Case("compute:servers:show", "GET", f"{C}/servers/{{server}}", 200),
    Case("compute:servers:create", "POST", f"{C}/servers", 202,
         {"server": {"name": "n", "imageRef": "{busybox}", "flavorRef": "1", "networks": "none"}},
         own),
    Case("compute:servers:update", "PUT", f"{C}/servers/{{server}}", 200,
         {"server": {"name": "m"}}),
    Case("compute:servers:action", "POST", f"{C}/servers/{{server}}/action", 202, {"lock": None}),
    # (the matrix's server is a namespace instance: allowed callers are told it has no disk)
    Case("compute:servers:create_image", "POST", f"{C}/servers/{{server}}/action", 409,
         {"createImage": {"name": "s{n}"}}),
    Case("compute:servers:metadata:show", "GET", f"{C}/servers/{{server}}/metadata", 200),
    Case("compute:servers:metadata:update", "POST", f"{C}/servers/{{server}}/metadata", 200,
         {"metadata": {"k": "v"}}),
    Case("compute:servers:ips", "GET", f"{C}/servers/{{server}}/ips", 200),
    Case("compute:servers:instance_actions", "GET",
         f"{C}/servers/{{server}}/os-instance-actions", 200),
    Case("compute:servers:tags:update", "PUT", f"{C}/servers/{{server}}/tags", 200,
         {"tags": ["t"]}, headers={"OpenStack-API-Version": "compute 2.26"}),
    Case("compute:servers:password:show", "GET", f"{C}/servers/{{server}}/os-server-password",
         200),
    Case("compute:servers:interfaces:show", "GET", f"{C}/servers/{{server}}/os-interface", 200),
    Case("compute:flavors:manage", "POST", f"{C}/flavors", 200,
         {"flavor": {"name": "f{n}", "ram": 64, "vcpus": 1, "disk": 1}}),
    Case("compute:hypervisors", "GET", f"{C}/os-hypervisors", 200),
    Case("compute:services:update", "PUT", f"{C}/os-services/nothing", 404,
         {"status": "enabled"}),
    Case("compute:hosts", "GET", f"{C}/os-hosts", 200),
    # Nova's proxies (at 2.1) to networking and images
    Case("compute:security_groups:show", "GET", f"{C}/os-security-groups/{{sg}}", 200),
    Case("compute:security_groups:manage", "POST", f"{C}/os-security-groups", 200,
         {"security_group": {"name": "c{n}", "description": ""}}, own),
    Case("compute:floating_ips:show", "GET", f"{C}/os-floating-ips/{{fip}}", 200),
    Case("compute:networks:show", "GET", f"{C}/os-tenant-networks/{{net}}", 200),
    Case("compute:images:show", "GET", f"{C}/images/{{busybox}}", 200,
         target=lambda w, p: {}),
    Case("compute:servers:security_groups", "GET", f"{C}/servers/{{server}}/os-security-groups",
         200),
    Case("compute:quotas:show", "GET", f"{C}/os-quota-sets/{{a}}", 200, hidden=403),
    Case("compute:quotas:update", "PUT", f"{C}/os-quota-sets/{{a}}", 200,
         {"quota_set": {"instances": 20}}),
    Case("compute:server_groups:manage", "POST", f"{C}/os-server-groups", 200,
         {"server_group": {"name": "g", "policies": ["affinity"]}}, own),
    Case("compute:servers:delete", "DELETE", f"{C}/servers/{{victim}}", 204,
         fresh=lambda w: {"victim": _server(w)}),
    # images
    Case("image:get_image", "GET", f"{G}/images/{{image}}", 200),
    Case("image:add_image", "POST", f"{G}/images", 201, {"name": "i"}, own),
    Case("image:modify_image", "PATCH", f"{G}/images/{{image}}", 200,
         [{"op": "replace", "path": "/name", "value": "j"}]),
    Case("image:delete_image", "DELETE", f"{G}/images/{{victim}}", 204,
         fresh=lambda w: {"victim": _image(w)}),
    Case("image:download_image", "GET", f"{G}/images/{{victim}}/file", 200,
         fresh=_active_image),
    Case("image:upload_image", "PUT", f"{G}/images/{{victim}}/file", 204,
         fresh=lambda w: {"victim": _image(w)}),
    Case("image:modify_image", "PUT", f"{G}/images/{{image}}/tags/t{{n}}", 204),
    Case("image:deactivate", "POST", f"{G}/images/{{victim}}/actions/deactivate", 204,
         fresh=_active_image),
    Case("image:reactivate", "POST", f"{G}/images/{{victim}}/actions/reactivate", 204,
         fresh=lambda w: _active_image(w, deactivated=True)),
    Case("image:add_member", "POST", f"{G}/images/{{victim}}/members", 200, {"member": "{b}"},
         fresh=lambda w: {"victim": _image(w)}),
    Case("image:get_members", "GET", f"{G}/images/{{image}}/members", 200),
    # The member project answers, not the owner (who sees the image: 403).
    Case("image:modify_member", "PUT", f"{G}/images/{{victim}}/members/{{b}}", 200,
         {"status": "accepted"}, lambda w, p: {"project_id": w.a, "member_id": w.b},
         fresh=_shared_with_b, hidden=403),
    # The owner removes members; the member sees the image but may not (403).
    Case("image:delete_member", "DELETE", f"{G}/images/{{victim}}/members/{{b}}", 204,
         fresh=_shared_with_b, hidden=403),
    # block storage
    Case("volume:get", "GET", f"{V}/volumes/{{volume}}", 200),
    Case("volume:create", "POST", f"{V}/volumes", 202, {"volume": {"size": 1}}, own),
    Case("volume:update", "PUT", f"{V}/volumes/{{volume}}", 200, {"volume": {"name": "v"}}),
    Case("volume:update_volume_metadata", "POST", f"{V}/volumes/{{volume}}/metadata", 200,
         {"metadata": {"k": "v"}}),
    Case("volume:action", "POST", f"{V}/volumes/{{volume}}/action", 200,
         {"os-set_bootable": {"bootable": False}}),
    Case("volume:delete", "DELETE", f"{V}/volumes/{{victim}}", 202,
         fresh=lambda w: {"victim": _volume(w)}),
    Case("volume_extension:volume_actions:upload_image", "POST",
         f"{V}/volumes/{{victim}}/action", 202, {"os-volume_upload_image": {"image_name": "u{n}"}},
         fresh=_placed_volume, hidden=404),
    Case("volume_extension:volume_actions:upload_public", "POST",
         f"{V}/volumes/{{victim}}/action", 202,
         {"os-volume_upload_image": {"image_name": "p{n}", "visibility": "public"}},
         fresh=_placed_volume, headers={"OpenStack-API-Version": "volume 3.1"}),
    Case("volume:get_snapshot", "GET", f"{V}/snapshots", 200, target=own),
    Case("volume:get_snapshot_metadata", "GET", f"{V}/snapshots/{{snapshot}}/metadata/k", 200),
    Case("volume:update_snapshot_metadata", "PUT", f"{V}/snapshots/{{snapshot}}/metadata/k",
         200, {"meta": {"k": "v"}}),
    Case("volume:delete_snapshot_metadata", "DELETE",
         f"{V}/snapshots/{{victim}}/metadata/k", 200,
         fresh=lambda w: {"victim": _snapshot(w, w.ids["volume"])}),
    # each action has its own rule too: a reader and another project's member
    # are refused at the route's
    Case("volume:snapshot_action", "POST", f"{V}/snapshots/{{victim}}/action", 202,
         {"os-update_snapshot_status": {"status": "available", "progress": "100%"}},
         fresh=lambda w: {"victim": _snapshot(w, w.ids["volume"], "creating")}),
    Case("volume_extension:type_get", "GET", f"{V}/types", 200),
    Case("volume_extension:types_manage", "POST", f"{V}/types", 200,
         {"volume_type": {"name": "t{n}"}}),
    Case("volume:get_transfer", "GET", f"{V}/os-volume-transfer/{{victim}}", 200,
         fresh=_transfer),
    Case("volume:get_transfer", "GET", f"{V}/volume-transfers/detail", 200, target=own,
         headers={"OpenStack-API-Version": "volume 3.57"}),
    Case("volume:create_transfer", "POST", f"{V}/os-volume-transfer", 202,
         {"transfer": {"volume_id": "{victim}"}}, fresh=_available_volume, hidden=404),
    Case("volume:accept_transfer", "POST", f"{V}/os-volume-transfer/{{victim}}/accept", 202,
         {"accept": {"auth_key": "{key}"}}, own, fresh=_transfer),
    Case("volume:delete_transfer", "DELETE", f"{V}/os-volume-transfer/{{victim}}", 202,
         fresh=_transfer),
    Case("group:create", "POST", f"{V}/groups/action", 202,
         {"create-from-src": {"group_snapshot_id": "{victim}"}}, fresh=_group_snapshot,
         hidden=404, headers={"OpenStack-API-Version": "volume 3.14"}),
    Case("group:reset_group_snapshot_status", "POST", f"{V}/group_snapshots/{{victim}}/action",
         202, {"reset_status": {"status": "error"}}, fresh=_group_snapshot,
         headers={"OpenStack-API-Version": "volume 3.19"}),
    Case("volume_extension:qos_specs_manage:get_all", "GET", f"{V}/qos-specs", 200),
    Case("volume_extension:qos_specs_manage:get", "GET", f"{V}/qos-specs/{{victim}}", 200,
         fresh=_qos_specs),
    Case("volume_extension:qos_specs_manage:create", "POST", f"{V}/qos-specs", 200,
         {"qos_specs": {"name": "q{n}"}}),
    Case("volume_extension:qos_specs_manage:update", "PUT", f"{V}/qos-specs/{{victim}}", 200,
         {"qos_specs": {"total_iops_sec": "50"}}, fresh=_qos_specs),
    Case("volume_extension:qos_specs_manage:delete", "DELETE", f"{V}/qos-specs/{{victim}}", 202,
         fresh=_qos_specs),
    Case("volume_extension:volume_type_encryption:get", "GET",
         f"{V}/types/__DEFAULT__/encryption", 200),
    Case("volume_extension:volume_type_encryption:create", "POST",
         f"{V}/types/{{victim}}/encryption", 200, {"encryption": {"provider": "luks"}},
         fresh=_fresh_type),
    Case("volume_extension:volume_type_encryption:update", "PUT",
         f"{V}/types/{{victim}}/encryption/{{encryption}}", 200,
         {"encryption": {"key_size": 256}}, fresh=_encrypted_type),
    Case("volume_extension:volume_type_encryption:delete", "DELETE",
         f"{V}/types/{{victim}}/encryption/{{encryption}}", 202, fresh=_encrypted_type),
    Case("volume:action", "POST", f"{V}/volumes/{{victim}}/action", 202,
         {"os-update_readonly_flag": {"readonly": True}}, fresh=_available_volume),
    Case("volume_extension:quotas:show", "GET", f"{V}/os-quota-sets/{{a}}", 200, hidden=403),
    Case("volume_extension:quotas:update", "PUT", f"{V}/os-quota-sets/{{a}}", 200,
         {"quota_set": {"volumes": 20}}),
    Case("volume_extension:quota_classes", "GET", f"{V}/os-quota-class-sets/default", 200),
    Case("limits_extension:used_limits", "GET", f"{V}/limits", 200),
    Case("volume_extension:services:index", "GET", f"{V}/os-services", 200),
    # admins only: an admin reaches the service layer (no such host: 404)
    Case("volume:failover_host", "PUT", f"{V}/os-services/failover_host", 404,
         {"host": "nowhere@file"}),
    Case("volume:failover_host", "PUT", f"{V}/os-services/failover", 404,
         {"host": "nowhere@file", "backend_id": "elsewhere"},
         headers={"OpenStack-API-Version": "volume 3.26"}),
    Case("scheduler_extension:scheduler_stats:get_pools", "GET",
         f"{V}/scheduler-stats/get_pools", 200),
    Case("volume_extension:hosts", "GET", f"{V}/os-hosts", 200),
    Case("volume_extension:capabilities", "GET", f"{V}/capabilities/nowhere", 404),
    Case("volume_extension:extensions", "GET", f"{V}/extensions", 200),
    Case("volume:get", "GET", f"{V}/volumes/summary", 200, target=own,
         headers={"OpenStack-API-Version": "volume 3.12"}),
    Case("compute:os-volumes-attachments:index", "GET",
         f"{C}/servers/{{server}}/os-volume_attachments", 200),
    # identity (Keystone answers 403, never 404)
    Case("identity:list_projects", "GET", f"{I}/projects", 200),
    Case("identity:get_project", "GET", f"{I}/projects/{{a}}", 200,
         target=lambda w, p: {"id": w.a}),
    Case("identity:manage_projects", "POST", f"{I}/projects", 201, {"project": {"name": "p{n}"}}),
    Case("identity:list_users", "GET", f"{I}/users", 200),
    Case("identity:get_user", "GET", f"{I}/users/{{user}}", 200,
         target=lambda w, p: {"user_id": w.ids["user"]}),
    Case("identity:list_roles", "GET", f"{I}/roles", 200),
    # orchestration (the URL names the project; Heat answers 403 for another project's)
    Case("orchestration:stacks:get", "GET", f"{O}/stacks", 200),
    Case("orchestration:stacks:create", "POST", f"{O}/stacks", 201,
         {"stack_name": "s{n}", "template": STACK_TEMPLATE}),
    Case("orchestration:stacks:delete", "DELETE", f"{O}/stacks/{{victim_name}}/{{victim}}", 204,
         fresh=lambda w: _named_stack(w)),
    Case("orchestration:stacks:action", "POST", f"{O}/stacks/{{victim}}/actions", 200,
         {"check": None}, fresh=lambda w: {"victim": _stack(w)}),
    Case("orchestration:software_configs:get", "GET", f"{O}/software_configs", 200),
    Case("orchestration:software_configs:get", "GET", f"{O}/software_configs/{{victim}}", 200,
         fresh=lambda w: {"victim": _software_config(w)}),
    Case("orchestration:software_configs:manage", "POST", f"{O}/software_configs", 200,
         {"group": "script", "config": "#!/bin/sh"}),
    Case("orchestration:software_configs:manage", "DELETE", f"{O}/software_configs/{{victim}}",
         204, fresh=lambda w: {"victim": _software_config(w)}),
    Case("orchestration:software_deployments:get", "GET", f"{O}/software_deployments", 200),
    Case("orchestration:software_deployments:get", "GET",
         f"{O}/software_deployments/metadata/some-server", 200),
    Case("orchestration:software_deployments:get", "GET",
         f"{O}/software_deployments/{{victim}}", 200,
         fresh=lambda w: {"victim": _software_deployment(w)}),
    Case("orchestration:software_deployments:manage", "POST", f"{O}/software_deployments", 200,
         {"config_id": "{victim}", "server_id": "s"},
         fresh=lambda w: {"victim": _software_config(w)}),
    Case("orchestration:software_deployments:manage", "PUT",
         f"{O}/software_deployments/{{victim}}", 200, {"status": "COMPLETE"},
         fresh=lambda w: {"victim": _software_deployment(w)}),
    Case("orchestration:software_deployments:manage", "DELETE",
         f"{O}/software_deployments/{{victim}}", 204,
         fresh=lambda w: {"victim": _software_deployment(w)}),
    Case("orchestration:validate", "POST", f"{O}/validate", 200, {"template": STACK_TEMPLATE}),
    Case("orchestration:resource_types", "GET", f"{O}/resource_types", 200),
    # the dashboard's page data (own project) and admin pages
    Case("dashboard:project_pages", "GET", "/dashboard/api/pages/instances", 200, target=own),
    Case("dashboard:project_pages", "GET", "/dashboard/api/pages/topology", 200, target=own),
    Case("dashboard:admin_pages", "GET", "/dashboard/api/admin/hypervisors", 200),
    Case("dashboard:session", "GET", "/dashboard/api/session", 200),
    # the agents' internal API
    Case("internal:watch", "GET", "/internal/v1/list?topics=agents", 200),
    Case("internal:upload_snapshot", "DELETE", "/internal/v1/snapshots/{image}", 404,
         target=lambda w, p: {"host": "nowhere"}, hidden=404),
    Case("internal:upload_volume", "DELETE", "/internal/v1/volume-uploads/{image}", 404,
         target=lambda w, p: {"host": "nowhere"}, hidden=404),
    # an admin reads any host's console endpoint key; an agent only its own host's
    Case("internal:console_key", "GET", "/internal/v1/console-key?host=somehost", 200,
         target=lambda w, p: {"host": "somehost"}),
    # an admin passes and finds no such router; an agent speaks for no other host
    Case("internal:snat_lease", "POST", "/internal/v1/snat-leases", 404,
         {"snat_lease": {"router_id": "nothing", "host": "nothing"}},
         target=lambda w, p: {"host": "nothing"}),
]  # fmt: skip


def _looked_up_on_refusal(app: Any, rule: str) -> bool:
    """Do all the rule's routes look their object up when the door refuses
    (``kumo.api.door``)?"""
    ops = set(RULES[rule].operations)
    found = [
        bool(door.checks(route, door.ON_REFUSAL))
        for method, path, route in policy_gate.routes(app)
        if f"{method} {path}" in ops
    ]
    return bool(found) and all(found)


def expected(case: Case, w: World, p: Persona) -> int:
    rule = RULES[case.rule]
    if p.ctx is None:
        return 401
    if not rule.check.possible(p.ctx):
        # refused at the door; a route that hides others' objects answers
        # 404 for one the caller cannot read
        read = case.rule.replace(":update_", ":get_").replace(":delete_", ":get_")
        if (
            rule.hidden == "404"
            and read in RULES
            and _looked_up_on_refusal(w.cloud.c.app, case.rule)
            and not RULES[read].check.allows(p.ctx, case.target(w, p))
        ):
            return 404
        return 403
    if rule.check.allows(p.ctx, case.target(w, p)):
        return case.ok
    if case.hidden is not None:
        return case.hidden
    return (
        404
        if rule.hidden == "404"
        or case.method == "POST"
        and case.rule.startswith(("network:", "compute:"))
        else 403
    )


def _fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, names) for v in value]
    return value


COUNTER = itertools.count(10)


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c.method}-{c.rule}")
def test_cell(world: World, case: Case, persona: str) -> None:
    p = world.personas[persona]
    n = next(COUNTER)
    # {m}: n kept to one address byte
    names = dict(world.ids, a=world.a, b=world.b, n=str(n), m=str(n % 250))
    names["busybox"] = next(
        i["id"] for i in world.req("GET", f"{G}/images", world.cloud.admin).json()["images"]
        if i["name"] == "busybox")  # fmt: skip
    if case.fresh is not None:
        names.update(case.fresh(world))
    headers = {**p.headers, **(case.headers or {})}
    r = world.req(case.method, _fill(case.path, names), headers, _fill(case.body, names))
    want = expected(case, world, p)
    assert r.status_code == want, (
        f"{persona} {case.method} {case.path}: {r.status_code} {r.text[:300]}"
    )
