"""Software configs and deployments: the resources over the real service (a
deployment waits for the server's report, by PUT or by signal), servers'
user_data as Heat assembles it (RAW with a config id, SOFTWARE_CONFIG's
multipart), and block device mappings passed to the compute API."""

from __future__ import annotations

import email
import json
import time
from typing import Any

from sqlalchemy import select

from kumo.context import admin_context
from kumo.db.compute_models import Server
from kumo.db.uow import run_in_transaction
from kumo.errors import NotFound
from kumo.network import agent_reports
from kumo.orchestration.resources import block_devices
from tests.orchestration.conftest import Cloud
from tests.orchestration.test_engine import create

DEPLOY = """
heat_template_version: 2018-08-31
parameters:
  transport: {type: string, default: HEAT_SIGNAL}
resources:
  config:
    type: OS::Heat::SoftwareConfig
    properties:
      group: script
      config: "#!/bin/sh\\necho $greeting"
      inputs: [{name: greeting, default: hi}]
      outputs: [{name: result}]
  deploy:
    type: OS::Heat::SoftwareDeployment
    properties:
      config: {get_resource: config}
      server: a-server
      input_values: {greeting: hello}
      signal_transport: {get_param: transport}
outputs:
  stdout: {value: {get_attr: [deploy, deploy_stdout]}}
  result: {value: {get_attr: [deploy, result]}}
"""


def _deployment(cloud: Cloud, stack_id: str) -> dict[str, Any]:
    soft = cloud.rt.orchestration.software
    for _ in range(200):
        deps = soft.list_deployments(cloud.ctx, cloud.project_id, {"server_id": ["a-server"]})
        if deps:
            return deps[0]
        time.sleep(0.05)
    raise AssertionError("no deployment")


def test_a_deployment_waits_for_the_server_signal_and_keeps_its_outputs(cloud: Cloud) -> None:
    svc, soft = cloud.rt.orchestration, cloud.rt.orchestration.software
    sid = create(cloud, "sw", DEPLOY)
    dep = _deployment(cloud, sid)
    assert dep["status"] == "IN_PROGRESS" and dep["action"] == "CREATE"
    # what the server's agent reads: the derived config with every input's value
    [meta] = soft.metadata(cloud.ctx, cloud.project_id, "a-server")
    values = {i["name"]: i.get("value") for i in meta["inputs"]}
    assert values["greeting"] == "hello" and values["deploy_action"] == "CREATE"
    assert values["deploy_signal_id"].endswith(f"/stacks/sw/{sid}/resources/deploy/signal")
    assert meta["group"] == "script" and "echo $greeting" in meta["config"]
    time.sleep(0.3)
    row = svc._find(cloud.project_id, sid)
    assert (row.action, row.status) == ("CREATE", "IN_PROGRESS")  # waits for the server
    svc.signal(cloud.ctx, cloud.project_id, "sw", sid, "deploy",
               {"deploy_stdout": "hello\n", "deploy_status_code": 0, "result": "42"})  # fmt: skip
    assert cloud.wait(sid)[0] == "CREATE_COMPLETE"
    shown = svc.show_stack(cloud.ctx, cloud.project_id, "sw", sid, cloud.endpoint)
    outs = {o["output_key"]: o["output_value"] for o in shown["outputs"]}
    assert outs == {"stdout": "hello\n", "result": "42"}
    assert soft.show_deployment(cloud.ctx, cloud.project_id, dep["id"])["status"] == "COMPLETE"

    svc.delete_stack(cloud.ctx, cloud.project_id, sid)
    assert cloud.wait(sid)[0] == "DELETE_COMPLETE"
    assert soft.list_deployments(cloud.ctx, cloud.project_id, {}) == []
    assert soft.list_configs(cloud.ctx, cloud.project_id, {}) == []


def test_a_failed_report_fails_the_deployment_and_no_signal_does_not_wait(cloud: Cloud) -> None:
    soft = cloud.rt.orchestration.software
    sid = create(cloud, "sw1", DEPLOY, disable_rollback=True)
    dep = _deployment(cloud, sid)
    soft.update_deployment(cloud.ctx, cloud.project_id, dep["id"],
                           {"status": "FAILED", "status_reason": "exit 3"})  # fmt: skip
    status, reason = cloud.wait(sid)
    assert status == "CREATE_FAILED" and "Deployment to server failed: exit 3" in reason

    sid2 = create(cloud, "sw2", DEPLOY.replace("a-server", "b-server"),
                  parameters={"transport": "NO_SIGNAL"})  # fmt: skip
    assert cloud.wait(sid2, timeout=10)[0] == "CREATE_COMPLETE"


def _host(cloud: Cloud) -> None:
    agent = {"host": "host1", "binary": "kumo-agent"}
    run_in_transaction(cloud.rt.db, lambda uow: agent_reports.register(
        uow, cloud.rt.settings, admin_context(), agent))  # fmt: skip


def _user_data(cloud: Cloud, name: str) -> str:
    import base64

    with cloud.rt.db.read_session() as s:
        row = s.scalars(select(Server).where(Server.name == name)).one()
        return base64.b64decode(row.user_data or "").decode()


SERVERS = """
heat_template_version: 2018-08-31
resources:
  config:
    type: OS::Heat::SoftwareConfig
    properties: {config: "#!/bin/sh\\necho from-config"}
  raw:
    type: OS::Nova::Server
    properties:
      name: raw
      image: busybox
      flavor: m1.tiny
      networks: [{allocate_network: none}]
      user_data_format: RAW
      user_data: {get_resource: config}
  soft:
    type: OS::Nova::Server
    properties:
      name: soft
      image: busybox
      flavor: m1.tiny
      networks: [{allocate_network: none}]
      user_data_format: SOFTWARE_CONFIG
      user_data: "#!/bin/sh\\necho mine"
"""


def test_user_data_as_heat_assembles_it(cloud: Cloud) -> None:
    _host(cloud)
    sid = create(cloud, "ud", SERVERS)
    assert cloud.wait(sid)[0] == "CREATE_COMPLETE", cloud.wait(sid)
    assert _user_data(cloud, "raw") == "#!/bin/sh\necho from-config"
    message = email.message_from_string(_user_data(cloud, "soft"))
    assert message.is_multipart()
    parts = {p.get_filename(): p for p in message.get_payload()}
    assert list(parts) == ["part-handler.py", "userdata", "cfn-init-data"]
    assert parts["part-handler.py"].get_content_type() == "text/part-handler"
    script = parts["userdata"]
    assert script.get_content_type() == "text/x-shellscript"
    assert script.get_payload(decode=True).decode() == "#!/bin/sh\necho mine"
    init = json.loads(parts["cfn-init-data"].get_payload(decode=True))
    assert init["deployments"] == []
    assert init["os-collect-config"]["kumo"]["stack"] == f"ud/{sid}"


def test_block_device_mappings_reach_the_compute_api(cloud: Cloud) -> None:
    assert block_devices.v2([{"volume_id": "v1", "device_name": "vda"},
                             {"swap_size": 1}, {"image": "i1", "volume_size": 5,
                                                "delete_on_termination": True}]) == [
        {"uuid": "v1", "source_type": "volume", "destination_type": "volume",
         "boot_index": 0, "delete_on_termination": False, "device_name": "vda"},
        {"source_type": "blank", "destination_type": "local", "boot_index": -1,
         "delete_on_termination": True, "guest_format": "swap", "volume_size": 1},
        {"uuid": "i1", "source_type": "image", "destination_type": "volume", "boot_index": 0,
         "delete_on_termination": True, "volume_size": 5},
    ]  # fmt: skip
    _host(cloud)
    tpl = """
heat_template_version: 2018-08-31
resources:
  s:
    type: OS::Nova::Server
    properties:
      flavor: m1.tiny
      networks: [{allocate_network: none}]
      block_device_mapping_v2: [{volume_id: 0b0e7d3c-5d7e-4a38-9d43-3c6a8b1b7a10}]
"""
    sid = create(cloud, "bdm", tpl, disable_rollback=True)
    status, reason = cloud.wait(sid)
    # no image needed with a bootable mapping; the compute API answers for the volume
    assert status == "CREATE_FAILED"
    assert "Volume 0b0e7d3c-5d7e-4a38-9d43-3c6a8b1b7a10 could not be found" in reason, reason
    bad = tpl.replace("block_device_mapping_v2: [{volume_id: 0b0e7d3c-5d7e-4a38-9d43-3c6a8b1b7a10}]",
                      "metadata: {}")  # fmt: skip
    sid = create(cloud, "noimg", bad, disable_rollback=True)
    status, reason = cloud.wait(sid)
    assert status == "CREATE_FAILED" and "Neither image nor bootable volume" in reason


def test_the_software_config_api_is_per_project(cloud: Cloud) -> None:
    from tests.orchestration.conftest import member_context

    soft = cloud.rt.orchestration.software
    made = soft.create_config(cloud.ctx, cloud.project_id,
                              {"name": "c", "config": {"a": 1}, "inputs": [{"name": "x"}]})  # fmt: skip
    assert made["group"] == "Heat::Ungrouped" and made["config"] == {"a": 1}
    assert made["inputs"] == [{"name": "x", "type": "String", "replace_on_change": False}]
    bob, bob_project = member_context(cloud.rt, "bob")
    try:
        soft.show_config(bob, bob_project, made["id"])
        raise AssertionError("another project's config was shown")
    except NotFound as e:
        assert e.message == f"Software config with id {made['id']} not found"
