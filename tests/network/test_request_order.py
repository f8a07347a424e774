"""The order in which the networking API answers a request, as Neutron's:
the body's shared attributes are checked first (400), then the object is
looked up as the caller sees it (404), then the policy (403); and a page
marker the caller does not find starts the page at the first item."""

from __future__ import annotations

from typing import Any

from tests.network.conftest import Cloud, N
from tests.policy.test_matrix import _user


def _status(cloud: Cloud, method: str, h: dict[str, str], path: str, body: Any = None) -> int:
    r = cloud.c.request(method, f"{N}{path}", headers=h, json=body)
    return r.status_code


def test_body_checked_before_the_door_refuses(cloud: Cloud) -> None:
    """A member may not write QoS policies (admin only), yet a too-long
    name, description or project id is 400 before that 403."""
    alice = cloud.member("alice")
    for bad in ({"name": "x" * 256}, {"description": "d" * 256},
                {"name": "p", "project_id": "a" * 256}, {"name": 5}):  # fmt: skip
        assert _status(cloud, "POST", alice, "/qos/policies", {"policy": bad}) == 400, bad
    # in a bulk request too
    bulk = {"policies": [{"policy": {"name": "ok"}}, {"policy": {"name": "x" * 256}}]}
    assert _status(cloud, "POST", alice, "/qos/policies", bulk) == 400
    assert _status(cloud, "POST", alice, "/qos/policies", {"policy": {"name": "p"}}) == 403
    # for callers the door admits, the same check comes first as well
    assert _status(cloud, "POST", cloud.admin, "/qos/policies",
                   {"policy": {"name": "p", "project_id": "a" * 256}}) == 400  # fmt: skip


def test_refused_update_is_404_for_what_the_caller_cannot_see(cloud: Cloud) -> None:
    admin, alice = cloud.admin, cloud.member("alice")
    mine = cloud.post(admin, "/qos/policies",
                      {"policy": {"name": "alice's", "project_id": cloud.projects["alice"]}})[
        "policy"]  # fmt: skip
    foreign = cloud.post(admin, "/qos/policies", {"policy": {"name": "admin's"}})["policy"]
    rule = cloud.post(admin, f"/qos/policies/{foreign['id']}/bandwidth_limit_rules",
                      {"bandwidth_limit_rule": {"max_kbps": 10}})["bandwidth_limit_rule"]  # fmt: skip
    own_rule = cloud.post(admin, f"/qos/policies/{mine['id']}/bandwidth_limit_rules",
                          {"bandwidth_limit_rule": {"max_kbps": 10}})["bandwidth_limit_rule"]  # fmt: skip
    body = {"policy": {"description": "new"}}
    # another project's policy: as if it did not exist; the body still first
    assert _status(cloud, "PUT", alice, f"/qos/policies/{foreign['id']}", body) == 404
    assert _status(cloud, "PUT", alice, "/qos/policies/nothing", body) == 404
    assert _status(cloud, "DELETE", alice, f"/qos/policies/{foreign['id']}") == 404
    assert _status(cloud, "PUT", alice, f"/qos/policies/{foreign['id']}",
                   {"policy": {"name": "x" * 256}}) == 400  # fmt: skip
    # its own: the policy's 403
    assert _status(cloud, "PUT", alice, f"/qos/policies/{mine['id']}", body) == 403
    assert _status(cloud, "DELETE", alice, f"/qos/policies/{mine['id']}") == 403
    # rules, under their policy and by id alone
    rb = {"bandwidth_limit_rule": {"max_kbps": 20}}
    for path, want in (
        (f"/qos/policies/{foreign['id']}/bandwidth_limit_rules/{rule['id']}", 404),
        (f"/qos/alias_bandwidth_limit_rules/{rule['id']}", 404),
        (f"/qos/policies/{mine['id']}/bandwidth_limit_rules/{own_rule['id']}", 403),
        (f"/qos/alias_bandwidth_limit_rules/{own_rule['id']}", 403),
    ):
        assert _status(cloud, "PUT", alice, path, rb) == want, path
        assert _status(cloud, "DELETE", alice, path) == want, path
    # a reader of a project: 403 on its project's network, 400 for a bad body
    reader = _user(cloud, "ann", cloud.projects["alice"], "reader")
    net = cloud.post(alice, "/networks", {"network": {"name": "n"}})["network"]
    other = cloud.post(admin, "/networks", {"network": {"name": "admin's"}})["network"]
    assert (
        _status(cloud, "PUT", reader, f"/networks/{net['id']}", {"network": {"name": "m"}}) == 403
    )
    assert _status(cloud, "PUT", reader, f"/networks/{other['id']}",
                   {"network": {"name": "m"}}) == 404  # fmt: skip
    assert _status(cloud, "PUT", reader, f"/networks/{net['id']}",
                   {"network": {"description": "d" * 256}}) == 400  # fmt: skip
    # nothing changed
    assert cloud.c.get(f"{N}/qos/policies/{mine['id']}", headers=admin).json()["policy"][
        "description"] == ""  # fmt: skip


def test_rule_type_details_for_admins_only(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    assert _status(cloud, "GET", alice, "/qos/rule-types") == 200
    assert _status(cloud, "GET", alice, "/qos/rule-types/bandwidth_limit") == 403
    assert _status(cloud, "GET", cloud.admin, "/qos/rule-types/bandwidth_limit") == 200


def test_marker_the_caller_cannot_find_starts_at_the_first_item(cloud: Cloud) -> None:
    admin, alice = cloud.admin, cloud.member("alice")
    for n in range(2):
        cloud.post(admin, "/qos/policies", {"policy": {"name": f"a{n}", "description": "s"}})
    page = cloud.c.get(f"{N}/qos/policies?description=s&limit=1&sort_key=name", headers=admin)
    nxt = next(li["href"] for li in page.json()["policies_links"] if li["rel"] == "next")
    path = nxt.split("/networking", 1)[1]
    # the admin's next page: the second policy
    assert [p["name"] for p in cloud.c.get(f"/networking{path}", headers=admin).json()[
        "policies"]] == ["a1"]  # fmt: skip
    # the member sees none of them: an empty page without a next link
    body = cloud.c.get(f"/networking{path}", headers=alice).json()
    assert body["policies"] == []
    assert "next" not in {li["rel"] for li in body.get("policies_links", [])}


def test_wildcard_unshare_counts_every_user_and_shared_is_per_caller(cloud: Cloud) -> None:
    admin, alice, bob = cloud.admin, cloud.member("alice"), cloud.member("bob")
    pol = cloud.post(admin, "/qos/policies", {"policy": {"name": "p"}})["policy"]
    cloud.post(admin, "/rbac-policies", {"rbac_policy": {
        "object_type": "qos_policy", "object_id": pol["id"], "action": "access_as_shared",
        "target_tenant": cloud.projects["alice"]}})  # fmt: skip
    # shared with alice's project by an entry of its own: shared for alice
    assert cloud.c.get(f"{N}/qos/policies/{pol['id']}", headers=alice).json()["policy"]["shared"]
    listed = cloud.c.get(f"{N}/qos/policies", headers=alice).json()["policies"]
    assert [p["shared"] for p in listed] == [True]
    assert _status(cloud, "GET", bob, f"/qos/policies/{pol['id']}") == 404
    assert cloud.c.get(f"{N}/qos/policies/{pol['id']}", headers=admin).json()["policy"][
        "shared"] is False  # fmt: skip
    # shared with every project, then used by the owner's own network
    r = cloud.c.put(f"{N}/qos/policies/{pol['id']}", headers=admin,
                    json={"policy": {"shared": True}})  # fmt: skip
    assert r.status_code == 200 and r.json()["policy"]["shared"] is True
    assert _status(cloud, "GET", bob, f"/qos/policies/{pol['id']}") == 200
    net = cloud.post(admin, "/networks", {"network": {"name": "n", "qos_policy_id": pol["id"]}})[
        "network"]  # fmt: skip
    assert _status(cloud, "PUT", admin, f"/qos/policies/{pol['id']}",
                   {"policy": {"shared": False}}) == 409  # fmt: skip
    assert _status(cloud, "DELETE", admin, f"/networks/{net['id']}") == 204
    assert _status(cloud, "PUT", admin, f"/qos/policies/{pol['id']}",
                   {"policy": {"shared": False}}) == 200  # fmt: skip
    # the entry for alice's project stays
    assert cloud.c.get(f"{N}/qos/policies/{pol['id']}", headers=alice).json()["policy"]["shared"]
    assert _status(cloud, "GET", bob, f"/qos/policies/{pol['id']}") == 404
