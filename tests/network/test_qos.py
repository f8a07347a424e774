"""QoS: policies and their rules, the policy of ports and networks (a
port's own wins), sharing through RBAC, the project's default policy, and
the rules port events carry to agents."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from kumo.db.outbox_models import OutboxEvent
from tests.network.conftest import Cloud, N


def _req(cloud: Cloud, method: str, h: dict[str, str], path: str, body: Any = None,
         status: int = 200) -> Any:  # fmt: skip
    r = cloud.c.request(method, f"{N}{path}", headers=h, json=body)
    assert r.status_code == status, r.text
    return r.json() if r.content else None


def _port_events(cloud: Cloud, port_id: str) -> list[dict[str, Any]]:
    with cloud.rt.db.read_session() as s:
        q = select(OutboxEvent).where(OutboxEvent.kind == "port", OutboxEvent.object_id == port_id)
        return [e.body for e in s.scalars(q.order_by(OutboxEvent.revision))]


def test_policies_rules_and_errors(cloud: Cloud) -> None:
    admin, alice = cloud.admin, cloud.member("alice")
    pol = cloud.post(admin, "/qos/policies", {"policy": {"name": "gold", "description": "d"}})[
        "policy"]  # fmt: skip
    assert pol["rules"] == [] and pol["shared"] is False and pol["is_default"] is False
    base = f"/qos/policies/{pol['id']}"
    bw = cloud.post(admin, base + "/bandwidth_limit_rules",
                    {"bandwidth_limit_rule": {"max_kbps": 1000}})["bandwidth_limit_rule"]  # fmt: skip
    assert bw == {"id": bw["id"], "max_kbps": 1000, "max_burst_kbps": 0, "direction": "egress"}
    err = _req(cloud, "POST", admin, base + "/bandwidth_limit_rules",
               {"bandwidth_limit_rule": {"max_kbps": 5}}, status=409)  # fmt: skip
    assert err["NeutronError"]["type"] == "QoSRulesConflict"
    cloud.post(admin, base + "/bandwidth_limit_rules",
               {"bandwidth_limit_rule": {"max_kbps": 2000, "direction": "ingress"}})  # fmt: skip
    for bad in ({"max_kbps": -1}, {"max_kbps": 1, "direction": "up"}, {"max_kbps": "x"}):
        _req(cloud, "POST", admin, base + "/bandwidth_limit_rules",
             {"bandwidth_limit_rule": bad}, status=400)  # fmt: skip
    _req(cloud, "POST", admin, base + "/dscp_marking_rules",
         {"dscp_marking_rule": {"dscp_mark": 7}}, status=400)  # fmt: skip
    dscp = cloud.post(admin, base + "/dscp_marking_rules",
                      {"dscp_marking_rule": {"dscp_mark": 26}})["dscp_marking_rule"]  # fmt: skip
    shown = _req(cloud, "GET", admin, base)["policy"]
    assert sorted((r["type"], r.get("direction")) for r in shown["rules"]) == [
        ("bandwidth_limit", "egress"), ("bandwidth_limit", "ingress"), ("dscp_marking", None)]  # fmt: skip
    assert all(r["qos_policy_id"] == pol["id"] for r in shown["rules"])
    # by rule id alone (qos-rules-alias)
    out = _req(cloud, "PUT", admin, f"/qos/alias_bandwidth_limit_rules/{bw['id']}",
               {"bandwidth_limit_rule": {"max_kbps": 1500, "max_burst_kbps": 300}})  # fmt: skip
    assert out["bandwidth_limit_rule"]["max_kbps"] == 1500
    assert _req(cloud, "GET", admin, f"/qos/alias_dscp_marking_rules/{dscp['id']}")[
        "dscp_marking_rule"]["dscp_mark"] == 26  # fmt: skip
    err = _req(cloud, "GET", admin, f"/qos/alias_dscp_marking_rules/{bw['id']}", status=404)
    assert err["NeutronError"]["type"] == "QosRuleNotFound"
    # a project's member neither writes policies nor sees an unshared one
    _req(cloud, "POST", alice, "/qos/policies", {"policy": {"name": "x"}}, status=403)
    _req(cloud, "POST", admin, "/qos/policies", {"policy": {"name": "x" * 256}}, status=400)
    _req(cloud, "PUT", admin, base, {"policy": {"description": "x" * 256}}, status=400)
    err = _req(cloud, "GET", alice, base, status=404)
    assert err["NeutronError"]["type"] == "QosPolicyNotFound"
    assert _req(cloud, "GET", alice, "/qos/policies")["policies"] == []
    aliases = {e["alias"] for e in _req(cloud, "GET", alice, "/extensions")["extensions"]}
    assert {"qos", "qos-bw-limit-direction", "qos-default", "qos-rule-type-details",
            "qos-rules-alias"} <= aliases  # fmt: skip
    types = _req(cloud, "GET", alice, "/qos/rule-types")["rule_types"]
    assert types == [{"type": "bandwidth_limit"}, {"type": "dscp_marking"},
                     {"type": "minimum_bandwidth"}, {"type": "minimum_packet_rate"},
                     {"type": "packet_rate_limit"}]  # fmt: skip
    detail = _req(cloud, "GET", admin, "/qos/rule-types/bandwidth_limit")["rule_type"]
    params = {p["parameter_name"] for p in detail["drivers"][0]["supported_parameters"]}
    assert params == {"max_kbps", "max_burst_kbps", "direction"}
    _req(cloud, "DELETE", admin, f"{base}/dscp_marking_rules/{dscp['id']}", status=204)
    _req(cloud, "DELETE", admin, base, status=204)
    _req(cloud, "GET", admin, base, status=404)


def test_packet_rate_limit_rules(cloud: Cloud) -> None:
    admin, alice = cloud.admin, cloud.member("alice")
    pol = cloud.post(admin, "/qos/policies", {"policy": {"name": "pps", "shared": True}})["policy"]
    base = f"/qos/policies/{pol['id']}/packet_rate_limit_rules"
    err = _req(cloud, "POST", admin, base, {"packet_rate_limit_rule": {}}, status=400)
    assert err["NeutronError"]["type"] == "BadRequest"
    for bad in (
        {"max_kpps": -1},
        {"max_kpps": "many"},
        {"max_kpps": 1, "direction": "any"},
        {"max_kpps": 1, "max_burst_kpps": -2},
        {"max_kpps": 1, "max_kbps": 1},
    ):
        _req(cloud, "POST", admin, base, {"packet_rate_limit_rule": bad}, status=400)  # fmt: skip
    out = cloud.post(admin, base, {"packet_rate_limit_rule": {"max_kpps": 10}})
    rule = out["packet_rate_limit_rule"]
    assert rule == {"id": rule["id"], "max_kpps": 10, "max_burst_kpps": 0, "direction": "egress"}
    err = _req(cloud, "POST", admin, base, {"packet_rate_limit_rule": {"max_kpps": 3}}, status=409)
    assert err["NeutronError"]["type"] == "QoSRulesConflict"
    ingress = cloud.post(admin, base, {"packet_rate_limit_rule": {
        "max_kpps": 4, "max_burst_kpps": 1, "direction": "ingress"}})["packet_rate_limit_rule"]  # fmt: skip
    # a bandwidth limit in the same direction is another rule type: no conflict
    cloud.post(admin, f"/qos/policies/{pol['id']}/bandwidth_limit_rules",
               {"bandwidth_limit_rule": {"max_kbps": 100}})  # fmt: skip
    listed = _req(cloud, "GET", alice, base)["packet_rate_limit_rules"]
    assert sorted(r["direction"] for r in listed) == ["egress", "ingress"]
    err = _req(cloud, "PUT", admin, f"{base}/{rule['id']}",
               {"packet_rate_limit_rule": {"direction": "ingress"}}, status=409)  # fmt: skip
    assert err["NeutronError"]["type"] == "QoSRulesConflict"
    out = _req(cloud, "PUT", admin, f"/qos/alias_packet_rate_limit_rules/{rule['id']}",
               {"packet_rate_limit_rule": {"max_kpps": 20}})  # fmt: skip
    assert out["packet_rate_limit_rule"]["max_kpps"] == 20
    _req(cloud, "PUT", alice, f"{base}/{rule['id']}",
         {"packet_rate_limit_rule": {"max_kpps": 1}}, status=403)  # fmt: skip
    err = _req(cloud, "GET", admin, f"/qos/alias_bandwidth_limit_rules/{rule['id']}", status=404)
    assert err["NeutronError"]["type"] == "QosRuleNotFound"
    shown = _req(cloud, "GET", alice, f"/qos/policies/{pol['id']}")["policy"]["rules"]
    pps = sorted((r["direction"], r["max_kpps"]) for r in shown if r["type"] == "packet_rate_limit")
    assert pps == [("egress", 20), ("ingress", 4)]
    detail = _req(cloud, "GET", admin, "/qos/rule-types/packet_rate_limit")["rule_type"]
    params = {p["parameter_name"] for p in detail["drivers"][0]["supported_parameters"]}
    assert params == {"max_kpps", "max_burst_kpps", "direction"}
    aliases = {e["alias"] for e in _req(cloud, "GET", alice, "/extensions")["extensions"]}
    assert "qos-pps" in aliases
    # a bound port's events carry the rules to its host's agent
    net = cloud.post(alice, "/networks", {"network": {"qos_policy_id": pol["id"]}})["network"]
    cloud.post(alice, "/subnets", {"subnet": {
        "network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": 4}})  # fmt: skip
    port = cloud.post(admin, "/ports", {"port": {
        "network_id": net["id"], "binding:host_id": "h1", "project_id": cloud.projects["alice"]}})[
        "port"]  # fmt: skip
    carried = _port_events(cloud, port["id"])[-1]["kumo_qos_rules"]
    assert {(r["type"], r["direction"]) for r in carried} >= {
        ("packet_rate_limit", "egress"), ("packet_rate_limit", "ingress")}  # fmt: skip
    _req(cloud, "DELETE", admin, f"/qos/alias_packet_rate_limit_rules/{ingress['id']}", status=204)
    carried = _port_events(cloud, port["id"])[-1]["kumo_qos_rules"]
    assert [r["max_kpps"] for r in carried if r["type"] == "packet_rate_limit"] == [20]


def test_port_policy_wins_and_events_carry_rules(cloud: Cloud) -> None:
    admin, alice = cloud.admin, cloud.member("alice")
    net_pol = cloud.post(admin, "/qos/policies", {"policy": {"name": "n", "shared": True}})[
        "policy"
    ]
    port_pol = cloud.post(admin, "/qos/policies", {"policy": {"name": "p", "shared": True}})[
        "policy"
    ]
    for pol, kbps in ((net_pol, 100), (port_pol, 300)):
        cloud.post(admin, f"/qos/policies/{pol['id']}/bandwidth_limit_rules",
                   {"bandwidth_limit_rule": {"max_kbps": kbps}})  # fmt: skip
    net = cloud.post(alice, "/networks", {"network": {"qos_policy_id": net_pol["id"]}})["network"]
    assert net["qos_policy_id"] == net_pol["id"]
    cloud.post(alice, "/subnets", {"subnet": {
        "network_id": net["id"], "cidr": "10.0.0.0/24", "ip_version": 4}})  # fmt: skip
    port = cloud.post(admin, "/ports", {"port": {
        "network_id": net["id"], "binding:host_id": "h1", "project_id": cloud.projects["alice"]}})[
        "port"]  # fmt: skip
    assert port["qos_policy_id"] is None

    def last_rates() -> list[int]:
        body = _port_events(cloud, port["id"])[-1]
        return [r["max_kbps"] for r in body.get("kumo_qos_rules", [])]

    assert last_rates() == [100]  # the network's policy
    _req(cloud, "PUT", alice, f"/ports/{port['id']}", {"port": {"qos_policy_id": port_pol["id"]}})
    assert last_rates() == [300]  # the port's own wins
    rule = _req(cloud, "GET", admin, f"/qos/policies/{port_pol['id']}")["policy"]["rules"][0]
    _req(cloud, "PUT", admin, f"/qos/policies/{port_pol['id']}/bandwidth_limit_rules/{rule['id']}",
         {"bandwidth_limit_rule": {"max_kbps": 400}})  # fmt: skip
    assert last_rates() == [400]  # a rule change re-emits the port
    _req(cloud, "PUT", alice, f"/ports/{port['id']}", {"port": {"qos_policy_id": None}})
    assert last_rates() == [100]
    _req(cloud, "PUT", alice, f"/networks/{net['id']}", {"network": {"qos_policy_id": None}})
    assert last_rates() == []
    # in use: 409; unsharing while another project uses it: 409
    _req(cloud, "PUT", alice, f"/ports/{port['id']}", {"port": {"qos_policy_id": port_pol["id"]}})
    err = _req(cloud, "DELETE", admin, f"/qos/policies/{port_pol['id']}", status=409)
    assert err["NeutronError"]["type"] == "QosPolicyInUse"
    err = _req(cloud, "PUT", admin, f"/qos/policies/{port_pol['id']}",
               {"policy": {"shared": False}}, status=409)  # fmt: skip
    assert err["NeutronError"]["type"] == "InvalidSharedSetting"


def test_rbac_sharing_and_default_policy(cloud: Cloud) -> None:
    admin, alice, bob = cloud.admin, cloud.member("alice"), cloud.member("bob")
    pol = cloud.post(admin, "/qos/policies", {"policy": {"name": "s"}})["policy"]
    net = cloud.post(bob, "/networks", {"network": {}})["network"]
    err = _req(cloud, "PUT", bob, f"/networks/{net['id']}",
               {"network": {"qos_policy_id": pol["id"]}}, status=404)  # fmt: skip
    assert err["NeutronError"]["type"] == "QosPolicyNotFound"
    entry = cloud.post(admin, "/rbac-policies", {"rbac_policy": {
        "object_type": "qos_policy", "object_id": pol["id"], "action": "access_as_shared",
        "target_tenant": cloud.projects["bob"]}})["rbac_policy"]  # fmt: skip
    assert [p["id"] for p in _req(cloud, "GET", bob, "/qos/policies")["policies"]] == [pol["id"]]
    assert _req(cloud, "GET", alice, "/qos/policies")["policies"] == []
    _req(cloud, "PUT", bob, f"/networks/{net['id']}", {"network": {"qos_policy_id": pol["id"]}})
    err = _req(cloud, "DELETE", admin, f"/rbac-policies/{entry['id']}", status=409)
    assert err["NeutronError"]["type"] == "RbacPolicyInUse"
    wildcard = cloud.post(admin, "/rbac-policies", {"rbac_policy": {
        "object_type": "qos_policy", "object_id": pol["id"], "action": "access_as_shared",
        "target_tenant": "*"}})["rbac_policy"]  # fmt: skip
    assert _req(cloud, "GET", admin, f"/qos/policies/{pol['id']}")["policy"]["shared"] is True
    _req(cloud, "DELETE", admin, f"/rbac-policies/{wildcard['id']}", status=204)
    assert _req(cloud, "GET", admin, f"/qos/policies/{pol['id']}")["policy"]["shared"] is False
    # the project's default policy goes on its new networks
    mine = cloud.post(admin, "/qos/policies", {"policy": {
        "name": "d", "is_default": True, "project_id": cloud.projects["alice"]}})["policy"]  # fmt: skip
    err = _req(cloud, "POST", admin, "/qos/policies", {"policy": {
        "is_default": True, "project_id": cloud.projects["alice"]}}, status=409)  # fmt: skip
    assert err["NeutronError"]["type"] == "QoSPolicyDefaultAlreadyExists"
    assert cloud.post(alice, "/networks", {"network": {}})["network"]["qos_policy_id"] == mine["id"]
    assert _req(cloud, "GET", alice, "/qos/policies?is_default=true")["policies"][0]["id"] == mine[
        "id"]  # fmt: skip


def test_floating_ip_policy_own_or_its_networks(cloud: Cloud) -> None:
    from tests.network.test_floatingips import fip, topology
    from tests.network.test_routers import events

    admin, alice = cloud.admin, cloud.member("alice")
    t = topology(cloud, alice)
    ext_id = t["ext"]["network"]["id"]
    mine = cloud.post(admin, "/qos/policies", {"policy": {"name": "fip", "shared": True}})["policy"]
    cloud.post(admin, f"/qos/policies/{mine['id']}/bandwidth_limit_rules",
               {"bandwidth_limit_rule": {"max_kbps": 1000, "direction": "ingress"}})  # fmt: skip
    hidden = cloud.post(admin, "/qos/policies", {"policy": {"name": "private"}})["policy"]
    assert fip(cloud, alice, ext_id, status=404, qos_policy_id=hidden["id"]) == "QosPolicyNotFound"
    assert fip(cloud, alice, ext_id, status=400, qos_policy_id="nope") == "InvalidInput"
    f = fip(cloud, alice, ext_id, qos_policy_id=mine["id"], port_id=t["port"]["id"])
    assert f["qos_policy_id"] == mine["id"] and f["qos_network_policy_id"] is None
    body = events(cloud, "floatingip", f["id"])[-1].body
    assert [(r["direction"], r["max_kbps"]) for r in body["kumo_qos_rules"]] == [("ingress", 1000)]
    listed = _req(cloud, "GET", alice, f"/floatingips?qos_policy_id={mine['id']}")["floatingips"]
    assert [x["id"] for x in listed] == [f["id"]]
    # a rule change re-emits the floating IP; the policy in use cannot go
    rule = _req(cloud, "GET", admin, f"/qos/policies/{mine['id']}")["policy"]["rules"][0]
    _req(cloud, "PUT", admin, f"/qos/alias_bandwidth_limit_rules/{rule['id']}",
         {"bandwidth_limit_rule": {"max_kbps": 2000}})  # fmt: skip
    body = events(cloud, "floatingip", f["id"])[-1].body
    assert [r["max_kbps"] for r in body["kumo_qos_rules"]] == [2000]
    err = _req(cloud, "DELETE", admin, f"/qos/policies/{mine['id']}", status=409)
    assert err["NeutronError"]["type"] == "QosPolicyInUse"
    # cleared: the floating IP follows its external network's policy (qos-fip-network-policy)
    out = _req(cloud, "PUT", alice, f"/floatingips/{f['id']}", {"floatingip": {
        "qos_policy_id": None}})["floatingip"]  # fmt: skip
    assert out["qos_policy_id"] is None and out["port_id"] == t["port"]["id"]
    assert "kumo_qos_rules" not in events(cloud, "floatingip", f["id"])[-1].body
    net_pol = cloud.post(admin, "/qos/policies", {"policy": {"name": "ext"}})["policy"]
    cloud.post(admin, f"/qos/policies/{net_pol['id']}/bandwidth_limit_rules",
               {"bandwidth_limit_rule": {"max_kbps": 500}})  # fmt: skip
    _req(cloud, "PUT", admin, f"/networks/{ext_id}", {"network": {"qos_policy_id": net_pol["id"]}})
    shown = _req(cloud, "GET", alice, f"/floatingips/{f['id']}")["floatingip"]
    assert shown["qos_policy_id"] is None and shown["qos_network_policy_id"] == net_pol["id"]
    body = events(cloud, "floatingip", f["id"])[-1].body
    assert [r["max_kbps"] for r in body["kumo_qos_rules"]] == [500]
    aliases = {e["alias"] for e in _req(cloud, "GET", alice, "/extensions")["extensions"]}
    assert {"qos-fip", "qos-fip-network-policy"} <= aliases


def test_router_gateway_policy(cloud: Cloud) -> None:
    from tests.network.test_routers import events, external, router

    admin, alice = cloud.admin, cloud.member("alice")
    ext_id = external(cloud)["network"]["id"]
    pol = cloud.post(admin, "/qos/policies", {"policy": {"name": "gw", "shared": True}})["policy"]
    cloud.post(admin, f"/qos/policies/{pol['id']}/bandwidth_limit_rules",
               {"bandwidth_limit_rule": {"max_kbps": 3000}})  # fmt: skip
    hidden = cloud.post(admin, "/qos/policies", {"policy": {"name": "private"}})["policy"]
    r = cloud.c.post(f"{N}/routers", headers=alice, json={"router": {"external_gateway_info": {
        "network_id": ext_id, "qos_policy_id": hidden["id"]}}})  # fmt: skip
    assert r.status_code == 404 and r.json()["NeutronError"]["type"] == "QosPolicyNotFound"
    made = router(cloud, alice, external_gateway_info={"network_id": ext_id,
                                                       "qos_policy_id": pol["id"]})  # fmt: skip
    assert made["external_gateway_info"]["qos_policy_id"] == pol["id"]
    body = events(cloud, "router", made["id"])[-1].body
    assert [x["max_kbps"] for x in body["kumo_gateway_qos_rules"]] == [3000]
    # a rule change re-emits the router; the policy in use cannot go
    rule = _req(cloud, "GET", admin, f"/qos/policies/{pol['id']}")["policy"]["rules"][0]
    _req(cloud, "PUT", admin, f"/qos/alias_bandwidth_limit_rules/{rule['id']}",
         {"bandwidth_limit_rule": {"max_kbps": 4000}})  # fmt: skip
    body = events(cloud, "router", made["id"])[-1].body
    assert [x["max_kbps"] for x in body["kumo_gateway_qos_rules"]] == [4000]
    err = _req(cloud, "DELETE", admin, f"/qos/policies/{pol['id']}", status=409)
    assert err["NeutronError"]["type"] == "QosPolicyInUse"
    # an update naming only the network keeps it; null clears it; the gateway takes it along
    out = _req(cloud, "PUT", alice, f"/routers/{made['id']}", {"router": {
        "external_gateway_info": {"network_id": ext_id}}})["router"]  # fmt: skip
    assert out["external_gateway_info"]["qos_policy_id"] == pol["id"]
    out = _req(cloud, "PUT", alice, f"/routers/{made['id']}", {"router": {
        "external_gateway_info": {"network_id": ext_id, "qos_policy_id": None}}})["router"]  # fmt: skip
    assert out["external_gateway_info"]["qos_policy_id"] is None
    assert "kumo_gateway_qos_rules" not in events(cloud, "router", made["id"])[-1].body
    _req(cloud, "PUT", alice, f"/routers/{made['id']}", {"router": {
        "external_gateway_info": {"network_id": ext_id, "qos_policy_id": pol["id"]}}})  # fmt: skip
    _req(cloud, "PUT", alice, f"/routers/{made['id']}",
         {"router": {"external_gateway_info": {}}})  # fmt: skip
    _req(cloud, "DELETE", admin, f"/qos/policies/{pol['id']}", status=204)
    aliases = {e["alias"] for e in _req(cloud, "GET", alice, "/extensions")["extensions"]}
    assert "qos-gateway-ip" in aliases


def test_minimum_bandwidth_rules_and_the_ports_resource_request(cloud: Cloud) -> None:
    admin, alice = cloud.admin, cloud.member("alice")
    pol = cloud.post(admin, "/qos/policies", {"policy": {"name": "min", "shared": True}})["policy"]
    base = f"/qos/policies/{pol['id']}/minimum_bandwidth_rules"
    err = _req(cloud, "POST", admin, base, {"minimum_bandwidth_rule": {}}, status=400)
    assert err["NeutronError"]["type"] == "BadRequest"
    for bad in (
        {"min_kbps": -1},
        {"min_kbps": "x"},
        {"min_kbps": 1, "direction": "up"},
        {"min_kbps": 1, "max_kbps": 2},
    ):
        _req(cloud, "POST", admin, base, {"minimum_bandwidth_rule": bad}, status=400)  # fmt: skip
    egress = cloud.post(admin, base, {"minimum_bandwidth_rule": {"min_kbps": 1000}})[
        "minimum_bandwidth_rule"]  # fmt: skip
    assert egress == {"id": egress["id"], "min_kbps": 1000, "direction": "egress"}
    err = _req(cloud, "POST", admin, base, {"minimum_bandwidth_rule": {"min_kbps": 5}}, status=409)
    assert err["NeutronError"]["type"] == "QoSRulesConflict"
    cloud.post(admin, base, {"minimum_bandwidth_rule": {"min_kbps": 2000, "direction": "ingress"}})
    _req(cloud, "POST", alice, base, {"minimum_bandwidth_rule": {"min_kbps": 1}}, status=403)
    out = _req(cloud, "PUT", admin, f"/qos/alias_minimum_bandwidth_rules/{egress['id']}",
               {"minimum_bandwidth_rule": {"min_kbps": 1500}})  # fmt: skip
    assert out["minimum_bandwidth_rule"]["min_kbps"] == 1500
    detail = _req(cloud, "GET", admin, "/qos/rule-types/minimum_bandwidth")["rule_type"]
    params = {p["parameter_name"] for p in detail["drivers"][0]["supported_parameters"]}
    assert params == {"min_kbps", "direction"}
    # a port on a physical network asks for it; one on a tunnelled network does not
    phys = cloud.post(admin, "/networks", {"network": {
        "provider:network_type": "flat", "provider:physical_network": "physnet1",
        "shared": True}})["network"]  # fmt: skip
    tunnel = cloud.post(alice, "/networks", {"network": {}})["network"]
    for net, cidr in ((phys, "10.1.0.0/24"), (tunnel, "10.2.0.0/24")):
        cloud.post(admin, "/subnets", {"subnet": {
            "network_id": net["id"], "cidr": cidr, "ip_version": 4}})  # fmt: skip
    port = cloud.post(alice, "/ports", {"port": {
        "network_id": phys["id"], "qos_policy_id": pol["id"]}})["port"]  # fmt: skip
    assert "resource_request" not in port  # admins only
    shown = _req(cloud, "GET", admin, f"/ports/{port['id']}")["port"]
    (request,) = shown["resource_request"]["request_groups"]
    assert shown["resource_request"]["same_subtree"] == [request["id"]]
    assert request["required"] == ["CUSTOM_PHYSNET_PHYSNET1", "CUSTOM_VNIC_TYPE_NORMAL"]
    assert request["resources"] == {"NET_BW_EGR_KILOBIT_PER_SEC": 1500,
                                    "NET_BW_IGR_KILOBIT_PER_SEC": 2000}  # fmt: skip
    other = cloud.post(alice, "/ports", {"port": {
        "network_id": tunnel["id"], "qos_policy_id": pol["id"]}})["port"]  # fmt: skip
    assert _req(cloud, "GET", admin, f"/ports/{other['id']}")["port"]["resource_request"] is None
    # a rule change shows at once, in lists too
    _req(cloud, "DELETE", admin, f"/qos/alias_minimum_bandwidth_rules/{egress['id']}", status=204)
    listed = _req(cloud, "GET", admin, f"/ports?id={port['id']}")["ports"][0]
    assert listed["resource_request"]["request_groups"][0]["resources"] == {
        "NET_BW_IGR_KILOBIT_PER_SEC": 2000}  # fmt: skip
    # and with no minimum rule left anywhere, lists say None again
    for rule in _req(cloud, "GET", admin, base)["minimum_bandwidth_rules"]:
        _req(cloud, "DELETE", admin, f"{base}/{rule['id']}", status=204)
    assert _req(cloud, "GET", admin, f"/ports?id={port['id']}")["ports"][0][
        "resource_request"] is None  # fmt: skip
    aliases = {e["alias"] for e in _req(cloud, "GET", alice, "/extensions")["extensions"]}
    assert {"qos-bw-minimum-ingress", "port-resource-request",
            "port-resource-request-groups"} <= aliases  # fmt: skip


def test_minimum_packet_rate_rules_in_the_ports_resource_request(cloud: Cloud) -> None:
    admin, alice = cloud.admin, cloud.member("alice")
    pol = cloud.post(admin, "/qos/policies", {"policy": {"name": "pps", "shared": True}})["policy"]
    base = f"/qos/policies/{pol['id']}/minimum_packet_rate_rules"
    key = "minimum_packet_rate_rule"
    err = _req(cloud, "POST", admin, base, {key: {"direction": "egress"}}, status=400)
    assert err["NeutronError"]["type"] == "BadRequest"
    for bad in ({"min_kpps": -1}, {"min_kpps": 1, "direction": "up"}, {"min_kpps": 1, "x": 1}):
        _req(cloud, "POST", admin, base, {key: bad}, status=400)
    egress = cloud.post(admin, base, {key: {"min_kpps": 1000}})[key]
    assert egress == {"id": egress["id"], "min_kpps": 1000, "direction": "egress"}
    # one per direction, and "any" excludes the directed ones (and back)
    for direction in ("egress", "any"):
        err = _req(cloud, "POST", admin, base, {key: {"min_kpps": 5, "direction": direction}},
                   status=409)  # fmt: skip
        assert err["NeutronError"]["type"] == "QoSRulesConflict"
    ingress = cloud.post(admin, base, {key: {"min_kpps": 2000, "direction": "ingress"}})[key]
    _req(cloud, "PUT", admin, f"{base}/{ingress['id']}", {key: {"direction": "any"}}, status=409)
    _req(cloud, "POST", alice, base, {key: {"min_kpps": 1}}, status=403)
    shown = _req(cloud, "GET", admin, f"/qos/alias_minimum_packet_rate_rules/{egress['id']}")
    assert shown[key]["min_kpps"] == 1000
    detail = _req(cloud, "GET", admin, "/qos/rule-types/minimum_packet_rate")["rule_type"]
    params = {p["parameter_name"]: p for p in detail["drivers"][0]["supported_parameters"]}
    assert params["direction"]["parameter_values"] == ["egress", "ingress", "any"]
    rules = _req(cloud, "GET", admin, f"/qos/policies/{pol['id']}")["policy"]["rules"]
    assert {r["type"] for r in rules} == {"minimum_packet_rate"}
    # any port asks for packet rates, on a tunnelled network too, next to its bandwidth
    net = cloud.post(alice, "/networks", {"network": {}})["network"]
    cloud.post(alice, "/subnets", {"subnet": {"network_id": net["id"], "cidr": "10.3.0.0/24",
                                              "ip_version": 4}})  # fmt: skip
    port = cloud.post(alice, "/ports", {"port": {"network_id": net["id"],
                                                 "qos_policy_id": pol["id"]}})["port"]  # fmt: skip
    request = _req(cloud, "GET", admin, f"/ports/{port['id']}")["port"]["resource_request"]
    (group,) = request["request_groups"]
    assert group["required"] == ["CUSTOM_VNIC_TYPE_NORMAL"]
    assert group["resources"] == {"NET_PACKET_RATE_EGR_KILOPACKET_PER_SEC": 1000,
                                  "NET_PACKET_RATE_IGR_KILOPACKET_PER_SEC": 2000}  # fmt: skip
    assert request["same_subtree"] == [group["id"]]
    again = _req(cloud, "GET", admin, f"/ports/{port['id']}")["port"]["resource_request"]
    assert again["request_groups"][0]["id"] == group["id"]  # stable
    # both directions together
    _req(cloud, "DELETE", admin, f"{base}/{ingress['id']}", status=204)
    _req(cloud, "PUT", admin, f"{base}/{egress['id']}", {key: {"direction": "any"}})
    request = _req(cloud, "GET", admin, f"/ports/{port['id']}")["port"]["resource_request"]
    assert request["request_groups"][0]["resources"] == {
        "NET_PACKET_RATE_KILOPACKET_PER_SEC": 1000}  # fmt: skip
    # with a minimum bandwidth on a physical network: two groups in one subtree
    phys = cloud.post(admin, "/networks", {"network": {
        "provider:network_type": "flat", "provider:physical_network": "physnet1",
        "shared": True}})["network"]  # fmt: skip
    cloud.post(admin, "/subnets", {"subnet": {"network_id": phys["id"], "cidr": "10.4.0.0/24",
                                              "ip_version": 4}})  # fmt: skip
    cloud.post(admin, f"/qos/policies/{pol['id']}/minimum_bandwidth_rules",
               {"minimum_bandwidth_rule": {"min_kbps": 300}})  # fmt: skip
    port = cloud.post(alice, "/ports", {"port": {"network_id": phys["id"],
                                                 "qos_policy_id": pol["id"]}})["port"]  # fmt: skip
    request = _req(cloud, "GET", admin, f"/ports/{port['id']}")["port"]["resource_request"]
    bw, pps = request["request_groups"]
    assert bw["resources"] == {"NET_BW_EGR_KILOBIT_PER_SEC": 300}
    assert pps["resources"] == {"NET_PACKET_RATE_KILOPACKET_PER_SEC": 1000}
    assert request["same_subtree"] == [bw["id"], pps["id"]] and bw["id"] != pps["id"]
    aliases = {e["alias"] for e in _req(cloud, "GET", alice, "/extensions")["extensions"]}
    assert "qos-pps-minimum" in aliases


def test_policy_tags_and_tag_filters(cloud: Cloud) -> None:
    """Tags on QoS policies at /v2.0/qos/policies/{id}/tags and, as Neutron
    serves them, /v2.0/policies/{id}/tags; tag filters on the list."""
    alice, bob = cloud.member("alice"), cloud.member("bob")
    mine = {"project_id": cloud.projects["alice"]}  # an admin makes them, alice tags them
    ids = [_req(cloud, "POST", cloud.admin, "/qos/policies", {"policy": {"name": f"p{i}", **mine}}, 201)[
        "policy"]["id"] for i in range(3)]  # fmt: skip
    assert _req(cloud, "PUT", alice, f"/qos/policies/{ids[0]}/tags",
                {"tags": ["red", "blue"]})["tags"] == ["blue", "red"]  # fmt: skip
    r = cloud.c.put(f"{N}/policies/{ids[1]}/tags/red", headers=alice)
    assert r.status_code == 201
    assert _req(cloud, "GET", alice, f"/policies/{ids[0]}/tags")["tags"] == ["blue", "red"]
    assert cloud.c.get(f"{N}/qos/policies/{ids[1]}/tags/red", headers=alice).status_code == 204
    r = cloud.c.get(f"{N}/qos/policies/{ids[1]}/tags/blue", headers=alice)
    assert r.status_code == 404 and r.json()["NeutronError"]["type"] == "TagNotFound"
    shown = _req(cloud, "GET", alice, f"/qos/policies/{ids[0]}")["policy"]
    assert shown["tags"] == ["blue", "red"] and shown["revision_number"] == 1

    def listed(query: str) -> set[str]:
        got = _req(cloud, "GET", alice, f"/qos/policies?{query}")["policies"]
        return {p["id"] for p in got}

    assert listed("tags=red") == {ids[0], ids[1]}
    assert listed("tags=red,blue") == {ids[0]}
    assert listed("tags-any=blue") == {ids[0]}
    assert listed("not-tags=red") == {ids[2]}
    assert listed("not-tags-any=blue") == {ids[1], ids[2]}
    # others' policies: hidden; only /qos/policies of the qos collections
    assert cloud.c.put(f"{N}/qos/policies/{ids[2]}/tags/x", headers=bob).status_code == 404
    assert cloud.c.get(f"{N}/qos/networks/{ids[2]}/tags", headers=alice).status_code == 404
    assert cloud.c.delete(f"{N}/qos/policies/{ids[0]}/tags", headers=alice).status_code == 204
    assert _req(cloud, "GET", alice, f"/qos/policies/{ids[0]}")["policy"]["tags"] == []
    # a deleted policy's tags go with it
    assert cloud.c.delete(f"{N}/qos/policies/{ids[1]}", headers=cloud.admin).status_code == 204
    with cloud.rt.db.read_session() as s:
        from kumo.db.network_models import Tag

        assert s.scalars(select(Tag).where(Tag.resource_id == ids[1])).first() is None
