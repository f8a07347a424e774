"""The engine against a real database and the real network service: parallel
creates, rollback of a failed create and update, replacement order, restarts."""

from __future__ import annotations

import time
from typing import Any

import pytest
from sqlalchemy import select

from kumo.db.orchestration_models import StackEvent
from kumo.errors import Unauthorized
from kumo.network.secgroups import service as sgs
from kumo.orchestration import store
from kumo.runtime import Runtime
from tests.orchestration.conftest import Cloud


def create(cloud: Cloud, name: str, template: str, **extra: Any) -> str:
    body = {"stack_name": name, "template": template, **extra}
    made = cloud.rt.orchestration.create_stack(cloud.ctx, cloud.project_id, body, cloud.endpoint)
    return str(made["id"])


def resources(cloud: Cloud, stack_id: str) -> dict[str, str]:
    with cloud.rt.db.read_session() as s:
        return {r.name: f"{r.action}_{r.status}" for r in store.resources(s, stack_id)}


def events(cloud: Cloud, stack_id: str) -> list[tuple[str, str]]:
    evs = cloud.rt.orchestration.list_events(cloud.ctx, cloud.project_id, stack_id,
                                             cloud.endpoint, {})  # fmt: skip
    return [(e["resource_name"], e["resource_status"]) for e in evs]


def networks(cloud: Cloud) -> list[str]:
    return sorted(n["name"] for n in cloud.rt.network.list_networks(cloud.ctx, {}))


FAILING = """
heat_template_version: 2018-08-31
resources:
  net: {type: OS::Neutron::Net, properties: {name: rb-net}}
  good: {type: OS::Neutron::Subnet, properties: {network: {get_resource: net}, cidr: 10.7.0.0/24}}
  value: {type: OS::Heat::Value, properties: {value: {get_attr: [good, cidr]}}}
  bad:
    type: OS::Neutron::Subnet
    depends_on: value
    properties: {network: {get_resource: net}, cidr: 10.7.0.0/25}
"""


def test_failure_in_the_middle_of_a_create_rolls_back(cloud: Cloud) -> None:
    sid = create(cloud, "rb", FAILING, disable_rollback=False)
    status, _ = cloud.wait(sid)
    assert status == "ROLLBACK_COMPLETE"
    assert networks(cloud) == []
    assert resources(cloud, sid) == {}
    evs = events(cloud, sid)
    assert ("bad", "CREATE_FAILED") in evs and ("rb", "CREATE_FAILED") in evs
    assert evs.index(("rb", "CREATE_FAILED")) < evs.index(("good", "DELETE_COMPLETE"))
    assert evs[-1] == ("rb", "ROLLBACK_COMPLETE")


def test_without_rollback_the_failure_stays_and_delete_cleans_up(cloud: Cloud) -> None:
    sid = create(cloud, "keep", FAILING)  # Heat's default: rollback disabled
    status, reason = cloud.wait(sid)
    assert status == "CREATE_FAILED"
    assert reason.startswith("Resource CREATE failed: ") and "resources.bad" in reason
    assert resources(cloud, sid) == {"net": "CREATE_COMPLETE", "good": "CREATE_COMPLETE",
                                     "value": "CREATE_COMPLETE", "bad": "CREATE_FAILED"}  # fmt: skip
    assert networks(cloud) == ["rb-net"]
    cloud.rt.orchestration.delete_stack(cloud.ctx, cloud.project_id, "keep")
    assert cloud.wait(sid)[0] == "DELETE_COMPLETE"
    assert networks(cloud) == []


WAITING = """
heat_template_version: 2018-08-31
resources:
  net: {type: OS::Neutron::Net, properties: {name: waiting-net}}
  h1: {type: OS::Heat::WaitConditionHandle}
  h2: {type: OS::Heat::WaitConditionHandle}
  w1:
    type: OS::Heat::WaitCondition
    properties: {handle: {get_resource: h1}, timeout: 600}
  w2:
    type: OS::Heat::WaitCondition
    depends_on: net
    properties: {handle: {get_resource: h2}, timeout: 600, count: 2}
outputs:
  data: {value: {get_attr: [w2, data]}}
  url: {value: {get_attr: [h1, endpoint]}}
"""


def _until(check: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def _handle(cloud: Cloud, sid: str, name: str) -> tuple[str, str]:
    with cloud.rt.db.read_session() as s:
        row = next(r for r in store.resources(s, sid) if r.name == name)
        return str(row.physical_id), str(row.data["token"])


def test_independent_resources_wait_in_parallel_and_handles_take_their_own_token(
    cloud: Cloud,
) -> None:
    sid = create(cloud, "wait", WAITING)
    _until(lambda: resources(cloud, sid).get("w1") == resources(cloud, sid).get("w2")
           == "CREATE_IN_PROGRESS")  # fmt: skip
    svc = cloud.rt.orchestration
    h1, token1 = _handle(cloud, sid, "h1")
    h2, token2 = _handle(cloud, sid, "h2")
    with pytest.raises(Unauthorized):
        svc.signal_handle(cloud.project_id, h1, token2, {})
    svc.signal_handle(cloud.project_id, h1, token1, {"status": "SUCCESS"})
    svc.signal_handle(cloud.project_id, h2, token2, {"id": "a", "data": "one"})
    svc.signal_handle(cloud.project_id, h2, token2, {"id": "b", "data": "two"})
    assert cloud.wait(sid)[0] == "CREATE_COMPLETE"
    outs = {o["output_key"]: o["output_value"] for o in
            svc.outputs(cloud.ctx, cloud.project_id, "wait", sid)}  # fmt: skip
    assert outs["data"] == '{"a": "one", "b": "two"}'
    assert outs["url"].endswith(f"/orchestration/v1/{cloud.project_id}/wait_handles/{h1}/signal")


def test_a_failure_signal_fails_the_wait_condition(cloud: Cloud) -> None:
    sid = create(cloud, "wf", WAITING)
    _until(lambda: resources(cloud, sid).get("w1") == "CREATE_IN_PROGRESS")
    h1, token1 = _handle(cloud, sid, "h1")
    cloud.rt.orchestration.signal_handle(cloud.project_id, h1, token1,
                                         {"status": "FAILURE", "reason": "boot failed"})  # fmt: skip
    status, reason = cloud.wait(sid)
    assert status == "CREATE_FAILED" and "boot failed" in reason


def test_a_restart_mid_create_fails_the_stack_cleanly(cloud: Cloud, tmp_path: Any) -> None:
    sid = create(cloud, "crash", WAITING)
    _until(lambda: resources(cloud, sid).get("w2") == "CREATE_IN_PROGRESS")
    _until(lambda: resources(cloud, sid).get("net") == "CREATE_COMPLETE")
    cloud.rt.orchestration.engine.halt()  # the process dies: nothing more is written
    assert cloud.rt.orchestration.engine.wait_idle(10)
    row = cloud.rt.orchestration._find(cloud.project_id, sid)
    assert (row.action, row.status) == ("CREATE", "IN_PROGRESS")

    second = Runtime.open(cloud.rt.settings, migrate=False)  # the restarted server
    try:
        assert second.orchestration.engine.reap() == []  # the dead engine's lease still runs
        time.sleep(2.1)  # leases are stored to the second
        assert second.orchestration.engine.reap() == [sid]
        status, reason = cloud.wait(sid)
        assert status == "CREATE_FAILED"
        assert "stopped while CREATE was in progress" in reason
        states = resources(cloud, sid)
        assert states["net"] == "CREATE_COMPLETE"
        assert states["w1"] == states["w2"] == "CREATE_FAILED"
        assert networks(cloud) == ["waiting-net"]
        second.orchestration.delete_stack(cloud.ctx, cloud.project_id, "crash")
        assert cloud.wait(sid)[0] == "DELETE_COMPLETE"
        assert networks(cloud) == []
    finally:
        second.orchestration.engine.halt()
        second.close()


def test_a_graceful_stop_fails_its_operations_at_once(cloud: Cloud) -> None:
    sid = create(cloud, "stop", WAITING)
    _until(lambda: resources(cloud, sid).get("w1") == "CREATE_IN_PROGRESS")
    cloud.rt.orchestration.engine.shutdown()
    status, reason = cloud.wait(sid, timeout=1)
    assert status == "CREATE_FAILED" and reason == "The API server stopped during the operation"


REPLACING = """
heat_template_version: 2018-08-31
parameters:
  length: {type: number, default: 8}
  extra: {type: boolean, default: false}
conditions:
  more: {get_param: extra}
resources:
  rnd: {type: OS::Heat::RandomString, properties: {length: {get_param: length}}}
  value: {type: OS::Heat::Value, properties: {value: {get_resource: rnd}}}
  added: {type: OS::Heat::None, condition: more}
  broken:
    type: OS::Neutron::Subnet
    condition: more
    depends_on: added
    properties: {network: no-such-network, cidr: 10.9.0.0/24}
outputs:
  value: {value: {get_attr: [value, value]}}
"""


def test_update_replaces_before_deleting_and_updates_in_place(cloud: Cloud) -> None:
    svc = cloud.rt.orchestration
    sid = create(cloud, "rep", REPLACING)
    assert cloud.wait(sid)[0] == "CREATE_COMPLETE"
    first = svc.outputs(cloud.ctx, cloud.project_id, "rep", sid)[0]["output_value"]
    assert len(first) == 8
    svc.update_stack(cloud.ctx, cloud.project_id, "rep", {"template": REPLACING,
                     "parameters": {"length": 12}}, patch=False)  # fmt: skip
    assert cloud.wait(sid)[0] == "UPDATE_COMPLETE"
    second = svc.outputs(cloud.ctx, cloud.project_id, "rep", sid)[0]["output_value"]
    assert len(second) == 12
    evs = events(cloud, sid)
    start = evs.index(("rep", "UPDATE_IN_PROGRESS"))
    tail = evs[start:]
    # the new random string exists before the old one is deleted; the value is updated
    assert tail.index(("rnd", "CREATE_COMPLETE")) < tail.index(("rnd", "DELETE_COMPLETE"))
    assert ("value", "UPDATE_COMPLETE") in tail


def test_a_failed_update_rolls_back_to_the_previous_template(cloud: Cloud) -> None:
    svc = cloud.rt.orchestration
    sid = create(cloud, "urb", REPLACING, disable_rollback=False)
    assert cloud.wait(sid)[0] == "CREATE_COMPLETE"
    before = svc.outputs(cloud.ctx, cloud.project_id, "urb", sid)[0]["output_value"]
    svc.update_stack(cloud.ctx, cloud.project_id, "urb", {"template": REPLACING,
                     "parameters": {"extra": True, "length": 16}}, patch=False)  # fmt: skip
    status, _ = cloud.wait(sid)
    assert status == "ROLLBACK_COMPLETE"
    assert set(resources(cloud, sid)) == {"rnd", "value"}
    assert svc.outputs(cloud.ctx, cloud.project_id, "urb", sid)[0]["output_value"] == before
    row = svc._find(cloud.project_id, sid)
    assert row.params == {}


def test_the_engine_acts_with_the_creator_roles_only(cloud: Cloud) -> None:
    """A creator who lost their role: the stack cannot act for them any more."""
    svc = cloud.rt.orchestration
    sid = create(cloud, "deleg", "heat_template_version: 2018-08-31\nresources:\n"
                 "  n: {type: OS::Neutron::Net}\n")  # fmt: skip
    assert cloud.wait(sid)[0] == "CREATE_COMPLETE"
    ident = cloud.rt.identity
    role = next(r for r in ident.list_rows("role") if r.name == "member")
    from kumo.db.uow import run_in_transaction
    from kumo.identity import roles as rolelib

    run_in_transaction(cloud.rt.db, lambda uow: rolelib.revoke(
        uow.session, cloud.ctx.user_id, "project", cloud.project_id, role.id))  # fmt: skip
    svc.engine.begin_action(sid, "CHECK")
    svc.engine.submit(sid)
    status, reason = cloud.wait(sid)
    assert status == "CHECK_FAILED" and "no longer has a role" in reason


SIMPLE = "heat_template_version: 2018-08-31\nresources:\n  v: {type: OS::Heat::Value, properties: {value: 1}}\n"


def test_cancel_update_rolls_back_and_a_wait_times_out(cloud: Cloud) -> None:
    svc = cloud.rt.orchestration
    sid = create(cloud, "cu", SIMPLE)
    assert cloud.wait(sid)[0] == "CREATE_COMPLETE"
    longer = SIMPLE + ("  h: {type: OS::Heat::WaitConditionHandle}\n"
                       "  w: {type: OS::Heat::WaitCondition, properties: {handle: {get_resource: h}}}\n")  # fmt: skip
    svc.update_stack(cloud.ctx, cloud.project_id, "cu",
                     {"template": longer, "disable_rollback": False}, patch=False)  # fmt: skip
    _until(lambda: resources(cloud, sid).get("w") == "CREATE_IN_PROGRESS")
    svc.stack_action(cloud.ctx, cloud.project_id, "cu", {"cancel_update": None})
    status, _ = cloud.wait(sid)
    assert status == "ROLLBACK_COMPLETE"
    assert set(resources(cloud, sid)) == {"v"}
    assert ("cu", "UPDATE_FAILED") in events(cloud, sid)

    short = longer.replace("{handle: {get_resource: h}}", "{handle: {get_resource: h}, timeout: 1}")
    sid2 = create(cloud, "timeout", short)
    status, reason = cloud.wait(sid2)
    assert status == "CREATE_FAILED" and "WaitCondition timed out" in reason


QUICK = """
heat_template_version: 2018-08-31
resources:
  net: {type: OS::Neutron::Net, properties: {name: quick-net}}
  sg: {type: OS::Neutron::SecurityGroup, properties: {rules: []}}
  v: {type: OS::Heat::Value, properties: {value: {get_resource: net}}}
"""


def test_each_step_writes_its_events_once_and_a_group_keeps_its_default_rules(
    cloud: Cloud,
) -> None:
    """A step of one service call writes its IN_PROGRESS state with its outcome:
    every resource still has both events, in order, and exactly one of each."""
    sid = create(cloud, "quick", QUICK)
    assert cloud.wait(sid)[0] == "CREATE_COMPLETE"
    sg = cloud.rt.orchestration.show_resource(cloud.ctx, cloud.project_id, "quick", sid, "sg",
                                              cloud.endpoint, [])["physical_resource_id"]  # fmt: skip
    rules = sgs.list_rules(cloud.rt.network, cloud.ctx, {"security_group_id": [sg]})
    # ``rules: []`` keeps the two default egress rules the group was made with
    assert sorted((r["direction"], r["ethertype"]) for r in rules) == [
        ("egress", "IPv4"), ("egress", "IPv6")]  # fmt: skip
    cloud.rt.orchestration.delete_stack(cloud.ctx, cloud.project_id, sid)
    assert cloud.wait(sid)[0] == "DELETE_COMPLETE"
    with cloud.rt.db.read_session() as s:  # the stack is gone: its rows still say
        evs = list(s.scalars(select(StackEvent).where(StackEvent.stack_id == sid)
                             .order_by(StackEvent.seq)))  # fmt: skip
    for name in ("net", "sg", "v"):
        mine = [f"{e.action}_{e.status}" for e in evs if e.resource_name == name]
        assert mine == ["CREATE_IN_PROGRESS", "CREATE_COMPLETE",
                        "DELETE_IN_PROGRESS", "DELETE_COMPLETE"], (name, mine)  # fmt: skip


SLOW = """
heat_template_version: 2018-08-31
resources:
  slow:
    type: OS::Heat::TestResource
    properties: {action_wait_secs: {create: 1.5, delete: 1.5}}
"""


def test_a_step_that_waits_shows_in_progress_while_it_waits(cloud: Cloud) -> None:
    sid = create(cloud, "slow", SLOW)
    _until(lambda: resources(cloud, sid).get("slow") == "CREATE_IN_PROGRESS")
    assert cloud.wait(sid)[0] == "CREATE_COMPLETE"
    cloud.rt.orchestration.delete_stack(cloud.ctx, cloud.project_id, sid)
    _until(lambda: resources(cloud, sid).get("slow") == "DELETE_IN_PROGRESS")
    assert cloud.wait(sid)[0] == "DELETE_COMPLETE"


DNS = """
heat_template_version: 2018-08-31
resources:
  net: {type: OS::Neutron::Net, properties: {name: dns-net, dns_domain: corp.example.}}
  sub: {type: OS::Neutron::Subnet, properties: {network: {get_resource: net}, cidr: 10.8.0.0/24}}
  port:
    type: OS::Neutron::Port
    depends_on: sub
    properties: {network: {get_resource: net}, dns_name: web}
  fqdn: {type: OS::Heat::Value, properties: {value: {get_attr: [port, dns_assignment, 0, fqdn]}}}
"""


def test_dns_properties_reach_the_network_and_port(cloud: Cloud) -> None:
    sid = create(cloud, "dns", DNS)
    assert cloud.wait(sid)[0] == "CREATE_COMPLETE"
    (net,) = [n for n in cloud.rt.network.list_networks(cloud.ctx, {}) if n["name"] == "dns-net"]
    assert net["dns_domain"] == "corp.example."
    (port,) = cloud.rt.network.list_ports(cloud.ctx, {"network_id": [net["id"]]})
    assert port["dns_name"] == "web"
    assert port["dns_assignment"][0]["fqdn"] == "web.openstacklocal."
