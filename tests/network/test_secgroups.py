"""Security groups and rules over HTTP: defaults, validation, policy, quotas, ports, events."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from kumo.compiler.model import RuleView
from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.outbox_models import OutboxEvent
from kumo.db.secgroup_models import DefaultSecurityGroup, PortSecurityGroup, SecurityGroup
from kumo.errors import Conflict
from kumo.network.secgroups import service as secgroup_service
from kumo.runtime import Runtime
from kumo.watch import snapshot
from tests.network.conftest import Cloud, N

GROUP_KEYS = {
    "id", "name", "description", "project_id", "tenant_id", "stateful", "shared",
    "security_group_rules", "tags", "created_at", "updated_at", "revision_number",
}  # fmt: skip
RULE_KEYS = {
    "id", "security_group_id", "direction", "ethertype", "protocol", "port_range_min",
    "port_range_max", "remote_ip_prefix", "remote_group_id", "remote_address_group_id",
    "normalized_cidr", "description", "project_id", "tenant_id", "belongs_to_default_sg",
    "created_at", "updated_at", "revision_number",
}  # fmt: skip


def _error(r: Any, status: int) -> str:
    assert r.status_code == status, r.text
    return str(r.json()["NeutronError"]["type"])


def _groups(cloud: Cloud, h: dict[str, str], **params: str) -> list[dict[str, Any]]:
    r = cloud.c.get(N + "/security-groups", headers=h, params=params)
    assert r.status_code == 200, r.text
    return list(r.json()["security_groups"])


def _rule(cloud: Cloud, h: dict[str, str], group_id: str, **body: Any) -> Any:
    return cloud.c.post(
        N + "/security-group-rules",
        headers=h,
        json={
            "security_group_rule": {"security_group_id": group_id, "direction": "ingress", **body}
        },
    )


def _key(rule: dict[str, Any]) -> tuple[Any, ...]:
    return (rule["direction"], rule["ethertype"], rule["remote_group_id"])


def test_default_group_made_on_first_list_with_its_four_rules(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    groups = _groups(cloud, alice)
    assert [g["name"] for g in groups] == ["default"]
    default = groups[0]
    assert set(default) == GROUP_KEYS
    assert default["project_id"] == default["tenant_id"] == cloud.projects["alice"]
    assert default["description"] == "Default security group"
    assert default["stateful"] is True and default["shared"] is False
    rules = default["security_group_rules"]
    assert all(set(r) == RULE_KEYS for r in rules)
    assert sorted(_key(r) for r in rules) == [
        ("egress", "IPv4", None),
        ("egress", "IPv6", None),
        ("ingress", "IPv4", default["id"]),
        ("ingress", "IPv6", default["id"]),
    ]
    assert all(r["belongs_to_default_sg"] is True for r in rules)
    assert all(r["protocol"] is None and r["remote_ip_prefix"] is None for r in rules)
    assert [g["id"] for g in _groups(cloud, alice)] == [default["id"]]  # not made twice

    shown = cloud.c.get(f"{N}/security-groups/{default['id']}", headers=alice).json()
    assert shown["security_group"]["id"] == default["id"]
    r = cloud.c.put(
        f"{N}/security-groups/{default['id']}",
        headers=alice,
        json={"security_group": {"name": "other"}},
    )
    assert _error(r, 409) == "SecurityGroupCannotUpdateDefault"
    r = cloud.c.put(
        f"{N}/security-groups/{default['id']}",
        headers=alice,
        json={"security_group": {"description": "mine"}},
    )
    assert r.status_code == 200 and r.json()["security_group"]["description"] == "mine"
    r = cloud.c.delete(f"{N}/security-groups/{default['id']}", headers=alice)
    assert _error(r, 409) == "SecurityGroupCannotRemoveDefault"

    # Showing a group is a first touch too.
    bob = cloud.member("bob")
    r = cloud.c.get(f"{N}/security-groups/{default['id']}", headers=bob)
    assert _error(r, 404) == "SecurityGroupNotFound"
    assert r.json()["NeutronError"]["message"] == f"Security group {default['id']} does not exist"
    assert [g["name"] for g in _groups(cloud, bob)] == ["default"]


def test_default_security_group_rules_are_the_templates_of_new_groups(cloud: Cloud) -> None:
    D = f"{N}/default-security-group-rules"
    alice, admin = cloud.member("alice"), cloud.admin
    seeded = cloud.c.get(D, headers=alice).json()["default_security_group_rules"]
    assert sorted(
        (t["direction"], t["ethertype"], t["remote_group_id"], t["used_in_default_sg"],
         t["used_in_non_default_sg"]) for t in seeded
    ) == [
        ("egress", "IPv4", None, True, True),
        ("egress", "IPv6", None, True, True),
        ("ingress", "IPv4", "PARENT", True, False),
        ("ingress", "IPv6", "PARENT", True, False),
    ]  # fmt: skip
    ssh = {"direction": "ingress", "protocol": "tcp", "port_range_min": 22,
           "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"}  # fmt: skip
    r = cloud.c.post(D, headers=alice, json={"default_security_group_rule": ssh})
    assert _error(r, 403) == "PolicyNotAuthorized"
    r = cloud.c.post(D, headers=admin, json={"default_security_group_rule": ssh})
    assert r.status_code == 201, r.text
    made = r.json()["default_security_group_rule"]
    assert made["used_in_default_sg"] is False and made["used_in_non_default_sg"] is True
    assert made["ethertype"] == "IPv4" and made["protocol"] == "tcp"
    r = cloud.c.post(D, headers=admin, json={"default_security_group_rule": ssh})
    assert _error(r, 409) == "DuplicateDefaultSgRule"
    bad = {**ssh, "protocol": "bogus"}
    r = cloud.c.post(D, headers=admin, json={"default_security_group_rule": bad})
    assert _error(r, 400) == "SecurityGroupRuleInvalidProtocol"
    r = cloud.c.put(f"{D}/{made['id']}", headers=admin,
                    json={"default_security_group_rule": {"description": "x"}})  # fmt: skip
    assert r.status_code == 400
    egress_v6 = next(t for t in seeded if t["direction"] == "egress" and t["ethertype"] == "IPv6")
    assert cloud.c.delete(f"{D}/{egress_v6['id']}", headers=alice).status_code == 403
    assert cloud.c.delete(f"{D}/{egress_v6['id']}", headers=admin).status_code == 204
    assert _error(cloud.c.get(f"{D}/{egress_v6['id']}", headers=alice), 404) == (
        "DefaultSecurityGroupRuleNotFound"
    )
    # a group made now starts from the templates as they are now
    r = cloud.c.post(f"{N}/security-groups", headers=alice, json={"security_group": {"name": "w"}})
    rules = r.json()["security_group"]["security_group_rules"]
    assert sorted((x["direction"], x["ethertype"], x["port_range_min"]) for x in rules) == [
        ("egress", "IPv4", None),
        ("ingress", "IPv4", 22),
    ]
    default = next(g for g in _groups(cloud, alice) if g["name"] == "default")
    assert sorted(_key(x) for x in default["security_group_rules"]) == [
        ("egress", "IPv4", None),
        ("ingress", "IPv4", default["id"]),
        ("ingress", "IPv6", default["id"]),
    ]
    again = cloud.c.get(D, headers=admin).json()["default_security_group_rules"]
    assert len(again) == 4  # the deleted built-in one stays deleted


def test_default_rule_templates_described_and_duplicates_by_kind_of_group(cloud: Cloud) -> None:
    D = f"{N}/default-security-group-rules"
    admin = cloud.admin
    seeded = cloud.c.get(D, headers=admin).json()["default_security_group_rules"]
    assert {(t["direction"], t["description"]) for t in seeded} == {
        ("egress", "Legacy default SG rule for egress traffic"),
        ("ingress", "Legacy default SG rule for ingress traffic"),
    }

    def post(status: int, default: bool, other: bool, port: int = 8080) -> Any:
        r = cloud.c.post(D, headers=admin, json={"default_security_group_rule": {
            "direction": "ingress", "protocol": "tcp", "port_range_min": port,
            "port_range_max": port, "used_in_default_sg": default,
            "used_in_non_default_sg": other}})  # fmt: skip
        assert r.status_code == status, r.text
        return r.json()

    both = post(201, True, True)["default_security_group_rule"]
    # the same rule again for either kind of group: 409
    assert post(409, True, False)["NeutronError"]["type"] == "DuplicateDefaultSgRule"
    assert post(409, False, True)["NeutronError"]["type"] == "DuplicateDefaultSgRule"
    assert cloud.c.delete(f"{D}/{both['id']}", headers=admin).status_code == 204
    # one template for default groups and one for the others: both made
    post(201, True, False)
    post(201, False, True)
    assert post(409, True, True)["NeutronError"]["type"] == "DuplicateDefaultSgRule"
    post(201, False, False, 9090)
    assert post(409, False, False, 9090)["NeutronError"]["type"] == "DuplicateDefaultSgRule"


def test_group_create_update_delete_and_list_queries(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    web = cloud.post(alice, "/security-groups", {"security_group": {"name": "web"}})
    web = web["security_group"]
    assert set(web) == GROUP_KEYS and web["revision_number"] == 0
    assert web["description"] == "" and web["stateful"] is True and web["tags"] == []
    assert sorted(_key(r) for r in web["security_group_rules"]) == [
        ("egress", "IPv4", None),
        ("egress", "IPv6", None),
    ]
    assert all(r["belongs_to_default_sg"] is False for r in web["security_group_rules"])
    # Creating a group made the project's default group as well.
    assert sorted(g["name"] for g in _groups(cloud, alice)) == ["default", "web"]

    r = cloud.c.post(
        N + "/security-groups", headers=alice, json={"security_group": {"name": "Default"}}
    )
    assert _error(r, 409) == "SecurityGroupDefaultAlreadyExists"
    r = cloud.c.post(N + "/security-groups", headers=alice, json={"security_group": {"x": 1}})
    assert _error(r, 400) == "BadRequest"

    bulk = cloud.post(
        alice,
        "/security-groups",
        {"security_groups": [{"name": "db", "stateful": False}, {"name": "cache"}]},
    )["security_groups"]
    assert [(g["name"], g["stateful"]) for g in bulk] == [("db", False), ("cache", True)]

    r = cloud.c.put(
        f"{N}/security-groups/{web['id']}",
        headers=alice,
        json={"security_group": {"name": "www", "description": "d", "stateful": False}},
    )
    assert r.status_code == 200, r.text
    updated = r.json()["security_group"]
    assert (updated["name"], updated["description"], updated["stateful"]) == ("www", "d", False)
    assert updated["revision_number"] == 1
    r = cloud.c.put(
        f"{N}/security-groups/{web['id']}",
        headers=alice,
        json={"security_group": {"project_id": "x"}},
    )
    assert _error(r, 400) == "InvalidInput"
    r = cloud.c.put(
        f"{N}/security-groups/{web['id']}",
        headers=alice,
        json={"security_group": {"name": "default"}},
    )
    assert _error(r, 409) == "SecurityGroupDefaultAlreadyExists"

    names = [g["name"] for g in _groups(cloud, alice, sort_key="name", sort_dir="asc")]
    assert names == ["cache", "db", "default", "www"]
    assert [g["name"] for g in _groups(cloud, alice, name="db")] == ["db"]
    assert sorted(g["name"] for g in _groups(cloud, alice, stateful="False")) == ["db", "www"]
    trimmed = _groups(cloud, alice, fields="name")
    assert all(set(g) == {"name"} for g in trimmed)
    page = cloud.c.get(
        N + "/security-groups", headers=alice, params={"sort_key": "name", "limit": 2}
    ).json()
    assert [g["name"] for g in page["security_groups"]] == ["cache", "db"]
    assert any(link["rel"] == "next" for link in page["security_groups_links"])
    r = cloud.c.get(N + "/security-groups", headers=alice, params={"bogus": "1"})
    assert _error(r, 400) == "BadRequest"

    assert (
        cloud.c.put(f"{N}/security-groups/{web['id']}/tags/red", headers=alice).status_code == 201
    )
    assert [g["id"] for g in _groups(cloud, alice, tags="red")] == [web["id"]]

    assert cloud.c.delete(f"{N}/security-groups/{web['id']}", headers=alice).status_code == 204
    r = cloud.c.get(f"{N}/security-groups/{web['id']}", headers=alice)
    assert _error(r, 404) == "SecurityGroupNotFound"
    r = cloud.c.delete(f"{N}/security-groups/{web['id']}", headers=alice)
    assert _error(r, 404) == "SecurityGroupNotFound"


def test_rule_create_normalises_and_rejects_duplicates(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    web = cloud.post(alice, "/security-groups", {"security_group": {"name": "web"}})
    gid = web["security_group"]["id"]
    r = _rule(
        cloud,
        alice,
        gid,
        protocol="TCP",
        port_range_min=22,
        port_range_max=22,
        remote_ip_prefix="10.0.0.5/24",
        description="ssh",
    )
    assert r.status_code == 201, r.text
    ssh = r.json()["security_group_rule"]
    assert set(ssh) == RULE_KEYS
    assert ssh["protocol"] == "tcp" and ssh["ethertype"] == "IPv4"
    assert (ssh["port_range_min"], ssh["port_range_max"]) == (22, 22)
    # the prefix as given, its network apart (security-groups-normalized-cidr)
    assert ssh["remote_ip_prefix"] == "10.0.0.5/24" and ssh["normalized_cidr"] == "10.0.0.0/24"
    assert ssh["remote_address_group_id"] is None and ssh["belongs_to_default_sg"] is False
    assert ssh["project_id"] == cloud.projects["alice"] and ssh["description"] == "ssh"

    # The same rule by protocol number: a duplicate. As in Neutron, prefixes
    # compare as given: other host bits in the same network make another rule.
    same = {"port_range_min": 22, "port_range_max": 22}
    r = _rule(cloud, alice, gid, protocol="6", remote_ip_prefix="10.0.0.5/24", **same)
    assert _error(r, 409) == "SecurityGroupRuleExists"
    assert ssh["id"] in r.json()["NeutronError"]["message"]
    r = _rule(cloud, alice, gid, protocol="tcp", remote_ip_prefix="10.0.0.9/24", **same)
    assert r.status_code == 201, r.text
    assert r.json()["security_group_rule"]["normalized_cidr"] == "10.0.0.0/24"
    # Any address is the same as no prefix.
    assert _rule(cloud, alice, gid, protocol=17).status_code == 201
    r = _rule(cloud, alice, gid, protocol="udp", remote_ip_prefix="0.0.0.0/0")
    assert _error(r, 409) == "SecurityGroupRuleExists"

    def made(**body: Any) -> dict[str, Any]:
        r = _rule(cloud, alice, gid, **body)
        assert r.status_code == 201, r.text
        return dict(r.json()["security_group_rule"])

    assert made(protocol=132, port_range_min=1, port_range_max=9)["protocol"] == "132"
    host = made(protocol="any", remote_ip_prefix="10.1.2.3")
    assert host["remote_ip_prefix"] == host["normalized_cidr"] == "10.1.2.3/32"
    assert made(protocol=None, remote_ip_prefix="10.1.2.4")["protocol"] is None
    v6 = made(ethertype="ipv6", protocol="icmp", port_range_min=128, port_range_max=0)
    assert (v6["ethertype"], v6["protocol"], v6["port_range_max"]) == ("IPv6", "ipv6-icmp", 0)
    assert (
        made(ethertype="IPv6", protocol="1", remote_ip_prefix="2001:db8::1/64")["protocol"] == "58"
    )
    icmp = made(protocol="icmp", port_range_min=8)
    assert (icmp["port_range_min"], icmp["port_range_max"]) == (8, None)
    assert made(remote_group_id=gid, direction="egress")["remote_group_id"] == gid

    r = cloud.c.post(
        N + "/security-group-rules",
        headers=alice,
        json={
            "security_group_rules": [
                {"security_group_id": gid, "direction": "ingress", "protocol": "gre"},
                {"security_group_id": gid, "direction": "ingress", "protocol": "47"},
            ]
        },
    )
    assert _error(r, 409) == "DuplicateSecurityGroupRuleInPost"
    default = next(g for g in _groups(cloud, alice) if g["name"] == "default")
    r = cloud.c.post(
        N + "/security-group-rules",
        headers=alice,
        json={
            "security_group_rules": [
                {"security_group_id": gid, "direction": "ingress", "protocol": "esp"},
                {"security_group_id": default["id"], "direction": "ingress", "protocol": "ah"},
            ]
        },
    )
    assert _error(r, 400) == "SecurityGroupNotSingleGroupRules"
    bulk = cloud.post(
        alice,
        "/security-group-rules",
        {
            "security_group_rules": [
                {"security_group_id": gid, "direction": "ingress", "protocol": "esp"},
                {"security_group_id": gid, "direction": "ingress", "protocol": "ah"},
            ]
        },
    )["security_group_rules"]
    assert [x["protocol"] for x in bulk] == ["esp", "ah"]

    shown = cloud.c.get(f"{N}/security-group-rules/{ssh['id']}", headers=alice).json()
    assert shown["security_group_rule"] == ssh
    r = cloud.c.put(
        f"{N}/security-group-rules/{ssh['id']}",
        headers=alice,
        json={"security_group_rule": {"description": "x"}},
    )
    assert _error(r, 400) == "BadRequest"
    listed = cloud.c.get(
        N + "/security-group-rules",
        headers=alice,
        params={"security_group_id": gid, "protocol": "tcp", "remote_ip_prefix": "10.0.0.5/24"},
    ).json()["security_group_rules"]
    assert [x["id"] for x in listed] == [ssh["id"]]


@pytest.mark.parametrize(
    ("body", "status", "kind"),
    [
        ({"protocol": "tcp", "port_range_min": 0, "port_range_max": 10}, 400,
         "SecurityGroupInvalidPortValue"),
        ({"protocol": "tcp", "port_range_min": 1, "port_range_max": 65536}, 400,
         "SecurityGroupInvalidPortValue"),
        ({"protocol": "tcp", "port_range_min": "x", "port_range_max": 2}, 400,
         "SecurityGroupInvalidPortValue"),
        ({"protocol": "udp", "port_range_min": 90, "port_range_max": 80}, 400,
         "SecurityGroupInvalidPortRange"),
        ({"protocol": "tcp", "port_range_min": 80}, 400, "SecurityGroupInvalidPortRange"),
        ({"port_range_min": 80, "port_range_max": 80}, 400,
         "SecurityGroupProtocolRequiredWithPorts"),
        ({"protocol": "gre", "port_range_min": 80, "port_range_max": 80}, 400,
         "SecurityGroupInvalidProtocolForPort"),
        ({"protocol": "icmp", "port_range_max": 0}, 400, "SecurityGroupMissingIcmpType"),
        ({"protocol": "icmp", "port_range_min": 256}, 400, "SecurityGroupInvalidIcmpValue"),
        ({"protocol": "bogus"}, 400, "SecurityGroupRuleInvalidProtocol"),
        ({"protocol": 256}, 400, "SecurityGroupRuleInvalidProtocol"),
        ({"ethertype": "IPv5"}, 400, "SecurityGroupRuleInvalidEtherType"),
        ({"remote_ip_prefix": "2001:db8::/64"}, 400, "SecurityGroupRuleParameterConflict"),
        ({"remote_ip_prefix": "not-a-cidr"}, 400, "InvalidCIDR"),
        ({"protocol": "icmpv6"}, 400, "SecurityGroupEthertypeConflictWithProtocol"),
        ({"direction": "sideways"}, 400, "InvalidInput"),
        ({"direction": None}, 400, "BadRequest"),
        ({"bogus": 1}, 400, "BadRequest"),
        ({"remote_group_id": "8d6e8c1c-0000-4000-8000-000000000000"}, 404,
         "SecurityGroupNotFound"),
        ({"security_group_id": "8d6e8c1c-0000-4000-8000-000000000000"}, 404,
         "SecurityGroupNotFound"),
    ],
)  # fmt: skip
def test_rule_validation(cloud: Cloud, body: dict[str, Any], status: int, kind: str) -> None:
    h = cloud.admin
    gid = cloud.post(h, "/security-groups", {"security_group": {"name": "g"}})["security_group"]
    assert _error(_rule(cloud, h, gid["id"], **body), status) == kind


def test_remote_group_and_prefix_together_are_refused(cloud: Cloud) -> None:
    h = cloud.admin
    gid = cloud.post(h, "/security-groups", {"security_group": {"name": "g"}})["security_group"]
    r = _rule(cloud, h, gid["id"], remote_group_id=gid["id"], remote_ip_prefix="10.0.0.0/8")
    assert _error(r, 400) == "SecurityGroupRemoteGroupAndRemoteIpPrefix"


def test_unknown_remote_group_is_not_found_whatever_its_id_looks_like(cloud: Cloud) -> None:
    h = cloud.admin
    gid = cloud.post(h, "/security-groups", {"security_group": {"name": "g"}})["security_group"]
    for remote in ("bad_group_id", "0b4bd4d4-35a9-4c38-a0ef-6b8b8b1a1a1a"):
        r = _rule(cloud, h, gid["id"], protocol="tcp", remote_group_id=remote)
        assert _error(r, 404) == "SecurityGroupNotFound"


def test_rules_change_their_group_and_stay_in_their_project(cloud: Cloud) -> None:
    alice, bob = cloud.member("alice"), cloud.member("bob")
    group = cloud.post(alice, "/security-groups", {"security_group": {"name": "web"}})
    gid = group["security_group"]["id"]
    rule = _rule(cloud, alice, gid, protocol="tcp", port_range_min=80, port_range_max=80).json()
    rule = rule["security_group_rule"]
    after = cloud.c.get(f"{N}/security-groups/{gid}", headers=alice).json()["security_group"]
    assert after["revision_number"] == 1
    assert rule["id"] in {r["id"] for r in after["security_group_rules"]}

    assert _error(_rule(cloud, bob, gid, protocol="udp"), 404) == "SecurityGroupNotFound"
    bobs = cloud.post(bob, "/security-groups", {"security_group": {"name": "b"}})
    r = _rule(cloud, alice, gid, remote_group_id=bobs["security_group"]["id"])
    assert _error(r, 404) == "SecurityGroupNotFound"
    r = cloud.c.get(f"{N}/security-group-rules/{rule['id']}", headers=bob)
    assert _error(r, 404) == "SecurityGroupRuleNotFound"
    assert cloud.c.delete(f"{N}/security-group-rules/{rule['id']}", headers=bob).status_code == 404
    bob_rules = cloud.c.get(N + "/security-group-rules", headers=bob).json()
    assert gid not in {r["security_group_id"] for r in bob_rules["security_group_rules"]}
    every = cloud.c.get(N + "/security-group-rules", headers=cloud.admin).json()
    assert rule["id"] in {r["id"] for r in every["security_group_rules"]}
    assert gid in {g["id"] for g in _groups(cloud, cloud.admin)}

    # An admin's rule in alice's group belongs to alice's project.
    r = _rule(cloud, cloud.admin, gid, protocol="udp")
    assert (
        r.status_code == 201
        and r.json()["security_group_rule"]["project_id"] == (cloud.projects["alice"])
    )

    assert (
        cloud.c.delete(f"{N}/security-group-rules/{rule['id']}", headers=alice).status_code == 204
    )
    final = cloud.c.get(f"{N}/security-groups/{gid}", headers=alice).json()["security_group"]
    assert final["revision_number"] == 3
    assert rule["id"] not in {r["id"] for r in final["security_group_rules"]}
    r = cloud.c.get(f"{N}/security-group-rules/{rule['id']}", headers=alice)
    assert _error(r, 404) == "SecurityGroupRuleNotFound"


def test_deleting_a_group_removes_rules_that_name_it_as_remote(cloud: Cloud) -> None:
    h = cloud.admin
    a = cloud.post(h, "/security-groups", {"security_group": {"name": "a"}})["security_group"]
    b = cloud.post(h, "/security-groups", {"security_group": {"name": "b"}})["security_group"]
    assert _rule(cloud, h, a["id"], remote_group_id=b["id"]).status_code == 201
    assert cloud.c.delete(f"{N}/security-groups/{b['id']}", headers=h).status_code == 204
    left = cloud.c.get(f"{N}/security-groups/{a['id']}", headers=h).json()["security_group"]
    assert [r["remote_group_id"] for r in left["security_group_rules"]] == [None, None]
    assert left["revision_number"] == 2


def test_security_group_quotas(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    pid = cloud.projects["alice"]
    r = cloud.c.put(
        f"{N}/quotas/{pid}",
        headers=cloud.admin,
        json={"quota": {"security_group": 2, "security_group_rule": 7}},
    )
    assert r.status_code == 200
    cloud.post(alice, "/security-groups", {"security_group": {"name": "one"}})  # + default
    r = cloud.c.post(N + "/security-groups", headers=alice, json={"security_group": {"name": "x"}})
    assert _error(r, 409) == "OverQuota"
    details = cloud.c.get(f"{N}/quotas/{pid}/details", headers=alice).json()["quota"]
    assert details["security_group"] == {"limit": 2, "used": 2, "reserved": 0}
    assert details["security_group_rule"]["used"] == 6
    one = next(g for g in _groups(cloud, alice) if g["name"] == "one")
    assert _rule(cloud, alice, one["id"], protocol="tcp", port_range_min=1, port_range_max=1)
    r = _rule(cloud, alice, one["id"], protocol="udp")
    assert _error(r, 409) == "OverQuota"


def _network(cloud: Cloud, h: dict[str, str], **extra: Any) -> str:
    net = cloud.post(h, "/networks", {"network": {"name": "n", **extra}})["network"]
    cloud.post(
        h, "/subnets", {"subnet": {"network_id": net["id"], "ip_version": 4, "cidr": "10.4.0.0/24"}}
    )
    return str(net["id"])


def _port(cloud: Cloud, h: dict[str, str], net_id: str, status: int = 201, **body: Any) -> Any:
    r = cloud.c.post(N + "/ports", headers=h, json={"port": {"network_id": net_id, **body}})
    assert r.status_code == status, r.text
    return r.json()["port"] if status == 201 else r.json()["NeutronError"]["type"]


def test_ports_get_the_default_group_or_the_groups_they_name(cloud: Cloud) -> None:
    alice, bob = cloud.member("alice"), cloud.member("bob")
    net = _network(cloud, alice)
    # The first port of a project makes its default group.
    port = _port(cloud, alice, net)
    default = _groups(cloud, alice)
    assert [g["name"] for g in default] == ["default"]
    assert port["security_groups"] == [default[0]["id"]]
    assert port["port_security_enabled"] is True

    a = cloud.post(alice, "/security-groups", {"security_group": {"name": "a"}})["security_group"]
    b = cloud.post(alice, "/security-groups", {"security_group": {"name": "b"}})["security_group"]
    # a group named twice is 400, as Neutron's UUID lists
    assert _port(cloud, alice, net, 400, security_groups=[b["id"], a["id"], a["id"]]) == (
        "InvalidInput"
    )
    both = _port(cloud, alice, net, security_groups=[b["id"], a["id"]])
    assert both["security_groups"] == sorted([a["id"], b["id"]])
    assert _port(cloud, alice, net, security_groups=[])["security_groups"] == []
    listed = cloud.c.get(f"{N}/ports/{both['id']}", headers=alice).json()["port"]
    assert listed["security_groups"] == both["security_groups"]
    in_list = cloud.c.get(N + "/ports", headers=alice).json()["ports"]
    assert {p["id"]: p["security_groups"] for p in in_list}[both["id"]] == both["security_groups"]

    missing = "8d6e8c1c-0000-4000-8000-000000000000"
    assert _port(cloud, alice, net, 404, security_groups=[missing]) == "SecurityGroupNotFound"
    theirs = cloud.post(bob, "/security-groups", {"security_group": {"name": "t"}})
    theirs_id = theirs["security_group"]["id"]
    assert _port(cloud, alice, net, 404, security_groups=[theirs_id]) == "SecurityGroupNotFound"
    assert _port(cloud, alice, net, 400, security_groups=["nope"]) == "InvalidInput"

    dhcp = _port(cloud, alice, net, device_owner="network:dhcp")
    assert dhcp["security_groups"] == []

    r = cloud.c.put(
        f"{N}/ports/{both['id']}", headers=alice, json={"port": {"security_groups": [a["id"]]}}
    )
    assert r.status_code == 200 and r.json()["port"]["security_groups"] == [a["id"]]
    r = cloud.c.put(
        f"{N}/ports/{both['id']}", headers=alice, json={"port": {"security_groups": [missing]}}
    )
    assert _error(r, 404) == "SecurityGroupNotFound"

    r = cloud.c.delete(f"{N}/security-groups/{a['id']}", headers=alice)
    assert _error(r, 409) == "SecurityGroupInUse"
    r = cloud.c.put(
        f"{N}/security-groups/{a['id']}",
        headers=alice,
        json={"security_group": {"stateful": False}},
    )
    assert _error(r, 409) == "SecurityGroupInUse"
    cloud.c.delete(f"{N}/ports/{both['id']}", headers=alice)
    assert cloud.c.delete(f"{N}/security-groups/{a['id']}", headers=alice).status_code == 204


def test_port_security_and_groups_go_together(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    net = _network(cloud, alice)
    group = cloud.post(alice, "/security-groups", {"security_group": {"name": "g"}})
    gid = group["security_group"]["id"]
    bare = _port(cloud, alice, net, port_security_enabled=False)
    assert bare["security_groups"] == [] and bare["port_security_enabled"] is False
    kind = _port(cloud, alice, net, 400, port_security_enabled=False, security_groups=[gid])
    assert kind == "PortSecurityAndIPRequiredForSecurityGroups"
    pair = [{"ip_address": "10.9.0.0/24"}]
    kind = _port(cloud, alice, net, 409, port_security_enabled=False, allowed_address_pairs=pair)
    assert kind == "AddressPairAndPortSecurityRequired"
    r = cloud.c.put(
        f"{N}/ports/{bare['id']}", headers=alice, json={"port": {"security_groups": [gid]}}
    )
    assert _error(r, 409) == "PortSecurityPortHasSecurityGroup"

    port = _port(cloud, alice, net)
    r = cloud.c.put(
        f"{N}/ports/{port['id']}", headers=alice, json={"port": {"port_security_enabled": False}}
    )
    assert _error(r, 409) == "PortSecurityPortHasSecurityGroup"
    r = cloud.c.put(
        f"{N}/ports/{port['id']}",
        headers=alice,
        json={"port": {"port_security_enabled": False, "security_groups": []}},
    )
    assert r.status_code == 200, r.text
    assert r.json()["port"]["security_groups"] == []

    insecure = _network(cloud, alice, port_security_enabled=False)
    assert _port(cloud, alice, insecure)["security_groups"] == []


def test_allowed_address_pairs(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    net = _network(cloud, alice)
    pairs = [
        {"ip_address": "10.9.0.7"},
        {"ip_address": "10.8.0.0/16", "mac_address": "fa:16:3e:aa:bb:cc"},
    ]
    port = _port(cloud, alice, net, allowed_address_pairs=pairs)
    assert port["allowed_address_pairs"] == [
        {"ip_address": "10.9.0.7", "mac_address": port["mac_address"]},
        {"ip_address": "10.8.0.0/16", "mac_address": "fa:16:3e:aa:bb:cc"},
    ]
    bad = [{"ip_address": "10.9.0.300"}]
    assert _port(cloud, alice, net, 400, allowed_address_pairs=bad) == "InvalidInput"
    missing_ip = [{"mac_address": "fa:16:3e:aa:bb:cc"}]
    kind = _port(cloud, alice, net, 400, allowed_address_pairs=missing_ip)
    assert kind == "AllowedAddressPairsMissingIP"
    dup = [{"ip_address": "10.9.0.7"}, {"ip_address": "10.9.0.7"}]
    assert _port(cloud, alice, net, 400, allowed_address_pairs=dup) == (
        "DuplicateAddressPairInRequest"
    )


def _events(cloud: Cloud, kind: str, object_id: str) -> list[OutboxEvent]:
    with cloud.rt.db.read_session() as s:
        q = select(OutboxEvent).where(OutboxEvent.kind == kind, OutboxEvent.object_id == object_id)
        return list(s.scalars(q.order_by(OutboxEvent.revision)))


def test_outbox_events_and_secgroup_snapshots(cloud: Cloud) -> None:
    h = cloud.admin
    a = cloud.post(h, "/security-groups", {"security_group": {"name": "a"}})["security_group"]
    b = cloud.post(h, "/security-groups", {"security_group": {"name": "b"}})["security_group"]
    made = _events(cloud, "security_group", a["id"])
    assert [(e.op, e.topics) for e in made] == [("upsert", [f"secgroup:{a['id']}"])]
    assert made[0].body == a

    rule = _rule(cloud, h, a["id"], protocol="tcp", port_range_min=443, port_range_max=443)
    rule_id = rule.json()["security_group_rule"]["id"]
    last = _events(cloud, "security_group", a["id"])[-1]
    assert last.body["revision_number"] == 1
    assert rule_id in {r["id"] for r in last.body["security_group_rules"]}
    cloud.c.delete(f"{N}/security-group-rules/{rule_id}", headers=h)
    last = _events(cloud, "security_group", a["id"])[-1]
    assert last.body["revision_number"] == 2
    assert rule_id not in {r["id"] for r in last.body["security_group_rules"]}

    net = _network(cloud, h)
    port = _port(cloud, h, net, security_groups=[a["id"]])
    created = _events(cloud, "port", port["id"])[-1]
    # a port goes to the watchers of its groups' members, not of their rules
    assert set(created.topics) == {f"network:{net}", f"members:{a['id']}"}
    assert created.body["security_groups"] == [a["id"]]
    cloud.c.put(f"{N}/ports/{port['id']}", headers=h, json={"port": {"security_groups": [b["id"]]}})
    moved = _events(cloud, "port", port["id"])[-1]
    assert set(moved.topics) == {f"network:{net}", f"members:{a['id']}", f"members:{b['id']}"}
    assert moved.body["security_groups"] == [b["id"]]

    rt = cloud.rt
    _, objects = snapshot.take(rt.db, rt.settings, frozenset({f"secgroup:{b['id']}"}))
    assert [(o["kind"], o["id"]) for o in objects] == [("security_group", b["id"])]
    assert len(objects[0]["security_group_rules"]) == 2
    _, objects = snapshot.take(rt.db, rt.settings, frozenset({f"members:{b['id']}"}))
    assert [(o["kind"], o["id"]) for o in objects] == [("port", port["id"])]
    _, objects = snapshot.take(rt.db, rt.settings, frozenset({f"members:{a['id']}"}))
    assert objects == []

    cloud.c.delete(f"{N}/ports/{port['id']}", headers=h)
    assert f"members:{b['id']}" in _events(cloud, "port", port["id"])[-1].topics
    assert cloud.c.delete(f"{N}/security-groups/{b['id']}", headers=h).status_code == 204
    gone = _events(cloud, "security_group", b["id"])[-1]
    assert gone.op == "delete" and gone.body["id"] == b["id"]


def test_security_group_extensions_are_listed(cloud: Cloud) -> None:
    exts = cloud.c.get(N + "/extensions", headers=cloud.admin).json()["extensions"]
    aliases = {e["alias"] for e in exts}
    assert {"security-group", "port-security", "allowed-address-pairs"} <= aliases


# -- concurrency ---------------------------------------------------------------------


@pytest.fixture
def runtime(db_url: str, tmp_path: Path) -> Iterator[Runtime]:
    rt = Runtime.open(Settings(state_dir=tmp_path / "state", database_url=db_url))
    yield rt
    rt.close()


def test_concurrent_first_touches_make_exactly_one_default_group(runtime: Runtime) -> None:
    member = RequestContext(user_id="u", project_id="p-race", roles=frozenset({"member"}))
    admin = RequestContext(user_id="a", project_id="p-admin", roles=frozenset({"admin"}))
    net = runtime.network.create_networks(admin, [{"name": "n", "project_id": "p-race"}])[0]
    runtime.network.create_subnets(
        admin, [{"network_id": net["id"], "ip_version": 4, "cidr": "10.3.0.0/24"}]
    )
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []
    seen: list[list[str]] = []
    lock = threading.Lock()

    def touch(i: int) -> None:
        barrier.wait()
        try:
            if i % 2:
                groups = secgroup_service.list_groups(runtime.network, member, {})
                ids = [g["id"] for g in groups]
            else:
                port = runtime.network.create_ports(member, [{"network_id": net["id"]}])[0]
                ids = port["security_groups"]
            with lock:
                seen.append(ids)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=touch, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with runtime.db.read_session() as s:
        groups = list(s.scalars(select(SecurityGroup).where(SecurityGroup.project_id == "p-race")))
        assert [g.name for g in groups] == ["default"]
        defaults = s.scalar(select(func.count()).select_from(DefaultSecurityGroup))
        assert defaults == 1
        bound = set(s.scalars(select(PortSecurityGroup.security_group_id)))
        assert bound == {groups[0].id}
    assert seen == [[groups[0].id]] * 8


def test_concurrent_identical_rules_have_exactly_one_winner(runtime: Runtime) -> None:
    member = RequestContext(user_id="u", project_id="p-dup", roles=frozenset({"member"}))
    group = secgroup_service.create_groups(runtime.network, member, [{"name": "g"}])[0]
    body = {
        "security_group_id": group["id"],
        "direction": "ingress",
        "protocol": "tcp",
        "port_range_min": 80,
        "port_range_max": 80,
    }
    barrier = threading.Barrier(8)
    kinds: list[str] = []
    lock = threading.Lock()

    def create(i: int) -> None:
        barrier.wait()
        try:
            secgroup_service.create_rules(runtime.network, member, [dict(body)])
            kind = "ok"
        except Conflict as exc:
            kind = exc.kind
        with lock:
            kinds.append(kind)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(kinds) == ["SecurityGroupRuleExists"] * 7 + ["ok"]
    final = secgroup_service.show_group(runtime.network, member, group["id"])
    assert len(final["security_group_rules"]) == 3 and final["revision_number"] == 1


def test_a_port_takes_stateful_or_stateless_groups_not_both(cloud: Cloud) -> None:
    h = cloud.admin
    net = cloud.post(h, "/networks", {"network": {"name": "n"}})["network"]
    body = {"network_id": net["id"], "ip_version": 4, "cidr": "10.3.0.0/24"}
    cloud.post(h, "/subnets", {"subnet": body})
    full = cloud.post(h, "/security-groups", {"security_group": {"name": "full"}})
    bare = cloud.post(
        h, "/security-groups", {"security_group": {"name": "bare", "stateful": False}}
    )
    both = [full["security_group"]["id"], bare["security_group"]["id"]]
    message = (
        "Error Cannot apply both stateful and stateless security groups on the same port "
        "at the same time while attempting the operation."
    )
    r = cloud.c.post(
        N + "/ports", headers=h, json={"port": {"network_id": net["id"], "security_groups": both}}
    )
    assert r.status_code == 409, r.text
    assert r.json()["NeutronError"]["type"] == "SecurityGroupConflict"
    assert r.json()["NeutronError"]["message"] == message
    port = cloud.post(
        h, "/ports", {"port": {"network_id": net["id"], "security_groups": both[:1]}}
    )["port"]
    r = cloud.c.put(f"{N}/ports/{port['id']}", headers=h, json={"port": {"security_groups": both}})
    assert r.status_code == 409 and r.json()["NeutronError"]["type"] == "SecurityGroupConflict"
    r = cloud.c.put(
        f"{N}/ports/{port['id']}", headers=h, json={"port": {"security_groups": both[1:]}}
    )
    assert r.status_code == 200 and r.json()["port"]["security_groups"] == both[1:]


def test_the_data_plane_uses_a_rules_normalized_network(cloud: Cloud) -> None:
    h = cloud.admin
    web = cloud.post(h, "/security-groups", {"security_group": {"name": "web"}})
    gid = web["security_group"]["id"]
    r = _rule(cloud, h, gid, protocol="tcp", port_range_min=80, port_range_max=80,
              remote_ip_prefix="10.0.0.34/24")  # fmt: skip
    rule = r.json()["security_group_rule"]
    assert (rule["remote_ip_prefix"], rule["normalized_cidr"]) == ("10.0.0.34/24", "10.0.0.0/24")
    shown = cloud.c.get(f"{N}/security-groups/{gid}", headers=h).json()["security_group"]
    (same,) = [x for x in shown["security_group_rules"] if x["id"] == rule["id"]]
    assert same == rule
    event = _events(cloud, "security_group", gid)[-1]
    (body,) = [x for x in event.body["security_group_rules"] if x["id"] == rule["id"]]
    assert RuleView.from_body(body).remote_ip_prefix == "10.0.0.0/24"
    v6 = _rule(cloud, h, gid, ethertype="IPv6", remote_ip_prefix="2001:DB8::1:5/64")
    assert v6.json()["security_group_rule"]["remote_ip_prefix"] == "2001:db8::1:5/64"
    assert v6.json()["security_group_rule"]["normalized_cidr"] == "2001:db8::/64"


def test_an_admins_list_for_a_project_makes_its_default_group(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    cloud.member("bob")
    cloud.member("carol")
    bob, carol = cloud.projects["bob"], cloud.projects["carol"]

    def listed(headers: dict[str, str], **params: str) -> list[dict[str, Any]]:
        r = cloud.c.get(N + "/security-groups", headers=headers, params=params)
        assert r.status_code == 200, r.text
        return list(r.json()["security_groups"])

    # a member filtering on another project lists nothing and makes nothing there
    assert listed(alice, project_id=bob) == []
    (mine,) = listed(cloud.admin, project_id=bob)
    assert (mine["name"], mine["project_id"]) == ("default", bob)
    assert len(mine["security_group_rules"]) == 4
    usage = cloud.c.get(f"{N}/quotas/{bob}/details", headers=cloud.admin).json()["quota"]
    assert usage["security_group"]["used"] == 1
    assert usage["security_group_rule"]["used"] == 4
    (theirs,) = listed(cloud.admin, tenant_id=carol)
    assert (theirs["name"], theirs["project_id"]) == ("default", carol)
    assert [g["id"] for g in listed(cloud.admin, project_id=bob)] == [mine["id"]]


def test_a_first_rule_list_makes_the_default_group_its_rules_count(cloud: Cloud) -> None:
    """Listing rules makes the project's default group (as Neutron), so a
    project that sizes its rules by the list and its quota is not surprised
    by the default group's four rules made later."""
    alice = cloud.member("alice")
    project = cloud.projects["alice"]
    r = cloud.c.get(N + "/security-group-rules", headers=alice, params={"project_id": project})
    assert r.status_code == 200, r.text
    listed = r.json()["security_group_rules"]
    assert len(listed) == 4 and all(x["belongs_to_default_sg"] for x in listed)
    usage = cloud.c.get(f"{N}/quotas/{project}/details", headers=cloud.admin).json()["quota"]
    assert usage["security_group_rule"]["used"] == len(listed)
    assert [g["name"] for g in _groups(cloud, alice)] == ["default"]  # made once


def test_a_port_names_a_group_once(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    net = cloud.post(alice, "/networks", {"network": {"name": "n"}})["network"]
    sg = cloud.post(alice, "/security-groups", {"security_group": {"name": "g"}})[
        "security_group"]  # fmt: skip
    twice = [sg["id"], sg["id"]]
    r = cloud.c.post(f"{N}/ports", headers=alice,
                     json={"port": {"network_id": net["id"], "security_groups": twice}})  # fmt: skip
    assert r.status_code == 400, r.text
    port = cloud.post(alice, "/ports", {"port": {"network_id": net["id"]}})["port"]
    r = cloud.c.put(f"{N}/ports/{port['id']}", headers=alice,
                    json={"port": {"security_groups": twice}})  # fmt: skip
    assert r.status_code == 400, r.text
    r = cloud.c.put(f"{N}/ports/{port['id']}", headers=alice,
                    json={"port": {"security_groups": [sg["id"]]}})  # fmt: skip
    assert r.status_code == 200 and r.json()["port"]["security_groups"] == [sg["id"]]
