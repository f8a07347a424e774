"""Dependency graphs (references and depends_on) and update plans."""

from __future__ import annotations

from kumo.orchestration import diff, graph
from kumo.orchestration import template as tpllib
from kumo.orchestration.diff import Change
from kumo.orchestration.resources import registry

TWO_TIER = """
heat_template_version: 2018-08-31
resources:
  net: {type: OS::Neutron::Net}
  sub: {type: OS::Neutron::Subnet, properties: {network: {get_resource: net}, cidr: 10.0.0.0/24}}
  router: {type: OS::Neutron::Router}
  iface:
    type: OS::Neutron::RouterInterface
    properties: {router: {get_resource: router}, subnet: {get_resource: sub}}
  web:
    type: OS::Heat::Value
    depends_on: iface
    properties: {value: {get_attr: [sub, cidr]}}
  solo: {type: OS::Heat::None}
"""


def test_edges_from_references_and_depends_on() -> None:
    tpl = tpllib.parse(tpllib.load(TWO_TIER), registry.known)
    deps = graph.dependencies(tpl.resources)
    assert deps == {"net": set(), "sub": {"net"}, "router": set(), "iface": {"router", "sub"},
                    "web": {"iface", "sub"}, "solo": set()}  # fmt: skip
    assert graph.levels(deps) == [["net", "router", "solo"], ["sub"], ["iface"], ["web"]]
    back = graph.dependents(deps)
    assert back["net"] == {"sub"} and back["sub"] == {"iface", "web"}
    assert graph.levels(back)[0] == ["solo", "web"]


def test_restrict_drops_disabled_resources() -> None:
    deps = {"a": {"b"}, "b": set(), "c": {"a"}}
    assert graph.restrict(deps, ["a", "c"]) == {"a": set(), "c": {"a"}}


def test_change_per_resource() -> None:
    allowed = frozenset({"name"})
    t = "OS::Neutron::Net"
    assert diff.change(t, {"name": "a"}, t, {"name": "a"}, allowed) is Change.KEEP
    assert diff.change(t, {"name": "a"}, t, {"name": "b"}, allowed) is Change.UPDATE
    assert diff.change(t, {"shared": False}, t, {"shared": True}, allowed) is Change.REPLACE
    assert diff.change(t, {}, "OS::Heat::None", {}, allowed) is Change.REPLACE


def test_plan_of_a_group_resize() -> None:
    old = {"grp": ("OS::Heat::ResourceGroup", {"count": 2, "resource_def": {"type": "X"}}),
           "gone": ("OS::Heat::None", {})}  # fmt: skip
    new = {"grp": ("OS::Heat::ResourceGroup", {"count": 4, "resource_def": {"type": "X"}}),
           "fresh": ("OS::Heat::RandomString", {"length": 8})}  # fmt: skip
    assert diff.plan(old, new, registry.update_allowed) == {
        "fresh": Change.ADD, "gone": Change.DELETE, "grp": Change.UPDATE}  # fmt: skip
    members_old = {"0": ("OS::Nova::Server", {"flavor": "m1.tiny"}),
                   "1": ("OS::Nova::Server", {"flavor": "m1.tiny"})}  # fmt: skip
    members_new = {**members_old, "2": members_old["0"], "3": members_old["0"]}
    assert diff.plan(members_old, members_new, registry.update_allowed) == {
        "0": Change.KEEP, "1": Change.KEEP, "2": Change.ADD, "3": Change.ADD}  # fmt: skip
    flavor = {"0": ("OS::Nova::Server", {"flavor": "m1.small"})}
    assert diff.plan(members_old, flavor, registry.update_allowed)["0"] is Change.REPLACE
