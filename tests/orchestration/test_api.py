"""The orchestration API over HTTP with real tokens: Heat's faults, redirects,
policy, the catalog, and a wait condition handle's own token."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from starlette.testclient import TestClient

from kumo.api.app import create_app
from kumo.config import Settings
from kumo.runtime import Runtime
from tests.apicloud import ApiCloud

TEMPLATE = """
heat_template_version: 2018-08-31
parameters:
  size: {type: number, default: 1, constraints: [{range: {min: 1, max: 3}}]}
resources:
  handle: {type: OS::Heat::WaitConditionHandle}
  wait: {type: OS::Heat::WaitCondition, properties: {handle: {get_resource: handle}}}
  v: {type: OS::Heat::Value, properties: {value: {get_param: size}}}
  after: {type: OS::Heat::Value, depends_on: wait, properties: {value: 1}}
outputs:
  size: {value: {get_attr: [v, value]}}
"""


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[ApiCloud, dict[str, str], str]]:
    rt = Runtime.open(
        Settings(state_dir=tmp_path / "state", database_url=f"sqlite:///{tmp_path}/k.db")
    )
    password = rt.identity.bootstrap()
    assert password
    rt.compute.bootstrap()
    rt.image.bootstrap()
    with TestClient(create_app(rt)) as client:
        cloud = ApiCloud(client, rt, password)
        alice = cloud.member("alice")
        yield cloud, alice, f"/orchestration/v1/{cloud.projects['alice']}"
    rt.close()


def _status(cloud: ApiCloud, h: dict[str, str], base: str, name: str, want: str) -> dict[str, Any]:
    for _ in range(400):
        stack = cloud.c.get(f"{base}/stacks/{name}", headers=h, follow_redirects=True).json()
        if stack["stack"]["stack_status"] == want:
            return dict(stack["stack"])
        time.sleep(0.05)
    raise AssertionError(stack)


def test_faults_are_heat_shaped(api: tuple[ApiCloud, dict[str, str], str]) -> None:
    cloud, h, base = api
    r = cloud.c.get(f"{base}/stacks/nope", headers=h)
    assert r.status_code == 404
    assert r.json() == {
        "explanation": "The resource could not be found.",
        "code": 404,
        "error": {"message": "The Stack (nope) could not be found.", "traceback": None,
                  "type": "EntityNotFound"},
        "title": "Not Found",
    }  # fmt: skip
    bad = TEMPLATE.replace("{get_param: size}", "{get_attr: [v, nope]}")
    r = cloud.c.post(f"{base}/stacks", headers=h, json={"stack_name": "s", "template": bad})
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["type"] == "StackValidationFailed"
    assert "(at outputs.size.value.get_attr)" in err["message"] or "resources.v" in err["message"]
    r = cloud.c.post(f"{base}/stacks", headers=h,
                     json={"stack_name": "s", "template": TEMPLATE, "parameters": {"size": 7}})  # fmt: skip
    assert r.status_code == 400 and "out of range" in r.json()["error"]["message"]
    r = cloud.c.get(f"{base}/stacks", headers={"X-Auth-Token": "garbage"})
    assert r.status_code == 401 and r.json()["title"] == "Unauthorized"


def test_lookup_redirects_and_the_handle_token(api: tuple[ApiCloud, dict[str, str], str]) -> None:
    cloud, h, base = api
    r = cloud.c.post(f"{base}/stacks", headers=h,
                     json={"stack_name": "s1", "template": TEMPLATE, "tags": "a,b"})  # fmt: skip
    assert r.status_code == 201, r.text
    sid = r.json()["stack"]["id"]
    r = cloud.c.post(f"{base}/stacks", headers=h, json={"stack_name": "s1", "template": TEMPLATE})
    assert r.status_code == 409 and r.json()["error"]["type"] == "StackExists"
    r = cloud.c.get(f"{base}/stacks/s1", headers=h, follow_redirects=False)
    assert r.status_code == 302 and r.headers["location"].endswith(f"{base}/stacks/s1/{sid}")
    r = cloud.c.get(f"{base}/stacks/s1/events?sort_dir=asc", headers=h, follow_redirects=False)
    assert r.headers["location"].endswith(f"/stacks/s1/{sid}/events?sort_dir=asc")

    # a resource the creation has not reached shows as Heat shows it, in INIT_COMPLETE
    after = cloud.c.get(f"{base}/stacks/s1/{sid}/resources/after", headers=h).json()["resource"]
    assert after["resource_status"] == "INIT_COMPLETE" and after["physical_resource_id"] == ""
    listed = cloud.c.get(f"{base}/stacks/s1/{sid}/resources", headers=h).json()["resources"]
    assert {r["resource_name"] for r in listed} == {"handle", "wait", "v", "after"}
    for _ in range(400):
        handle = cloud.c.get(f"{base}/stacks/s1/{sid}/resources/handle", headers=h).json()
        if handle["resource"]["resource_status"] == "CREATE_COMPLETE":
            break
        time.sleep(0.05)
    attrs = handle["resource"]["attributes"]
    # the server's configured public URL (what an instance reaches), not the caller's
    assert attrs["endpoint"].startswith("http://127.0.0.1:8080" + base + "/wait_handles/")
    url = urlsplit(attrs["endpoint"]).path
    r = cloud.c.post(url, headers={"X-Auth-Token": "kwh_wrong"}, json={})
    assert r.status_code == 401
    r = cloud.c.post(url, headers=h, json={})  # a Keystone token is not the handle's
    assert r.status_code == 401
    r = cloud.c.post(url + "?token=" + attrs["token"], json={"status": "SUCCESS"})
    assert r.status_code == 200
    shown = _status(cloud, h, base, "s1", "CREATE_COMPLETE")
    assert shown["tags"] == ["a", "b"] and shown["parameters"]["size"] == "1"
    assert shown["outputs"] == [{"output_key": "size", "description": "No description given",
                                 "output_value": 1}]  # fmt: skip
    out = cloud.c.get(f"{base}/stacks/s1/{sid}/outputs/size", headers=h).json()
    assert out["output"]["output_value"] == 1

    r = cloud.c.patch(f"{base}/stacks/s1/{sid}", headers=h, json={"parameters": {"size": 3}})
    assert r.status_code == 202
    _status(cloud, h, base, "s1", "UPDATE_COMPLETE")
    assert cloud.c.get(f"{base}/stacks/s1/{sid}/outputs/size", headers=h).json()[
        "output"]["output_value"] == 3  # fmt: skip
    r = cloud.c.post(f"{base}/stacks/s1/{sid}/actions", headers=h, json={"suspend": None})
    assert r.status_code == 200
    _status(cloud, h, base, "s1", "SUSPEND_COMPLETE")
    # by name, any method: 302 to the stack's own URL, where the client asks again
    for method in ("PUT", "PATCH", "DELETE"):
        r = cloud.c.request(method, f"{base}/stacks/s1", headers=h, follow_redirects=False)
        assert r.status_code == 302, (method, r.text)
        assert r.headers["location"].endswith(f"{base}/stacks/s1/{sid}")
    location = urlsplit(r.headers["location"]).path
    r = cloud.c.delete(f"{base}/stacks/nope", headers=h, follow_redirects=False)
    assert r.status_code == 404 and r.json()["error"]["type"] == "EntityNotFound"
    assert cloud.c.delete(location, headers=h).status_code == 204
    _status_deleted = cloud.c.get(f"{base}/stacks/s1/{sid}", headers=h)
    for _ in range(200):
        if _status_deleted.json()["stack"]["stack_status"] == "DELETE_COMPLETE":
            break
        time.sleep(0.05)
        _status_deleted = cloud.c.get(f"{base}/stacks/s1/{sid}", headers=h)
    assert _status_deleted.json()["stack"]["stack_status"] == "DELETE_COMPLETE"
    assert cloud.c.get(f"{base}/stacks/s1", headers=h).status_code == 404


def test_policy_and_catalog(api: tuple[ApiCloud, dict[str, str], str]) -> None:
    cloud, h, base = api
    bob = cloud.member("bob")
    r = cloud.c.get(f"{base}/stacks", headers=bob)
    assert r.status_code == 403 and r.json()["error"]["type"] == "Forbidden"
    r = cloud.c.post(f"{base}/stacks", headers=cloud.admin,
                     json={"stack_name": "x", "template": TEMPLATE})  # fmt: skip
    assert r.status_code == 403  # stacks are made in the token's own project
    catalog = cloud.c.get("/identity/v3/auth/catalog", headers=h).json()["catalog"]
    heat = next(s for s in catalog if s["type"] == "orchestration")
    assert heat["name"] == "heat"
    assert {e["url"] for e in heat["endpoints"]} == {"http://testserver" + base}
    types = cloud.c.get(f"{base}/resource_types", headers=h).json()["resource_types"]
    assert {"OS::Nova::Server", "OS::Heat::ResourceGroup", "OS::Neutron::Net"} <= set(types)
    shown = cloud.c.get(f"{base}/resource_types/OS::Heat::RandomString", headers=h).json()
    assert shown["properties"]["length"]["default"] == 32 and "value" in shown["attributes"]
    valid = cloud.c.post(f"{base}/validate", headers=h, json={"template": TEMPLATE}).json()
    assert valid["Parameters"]["size"]["MaxValue"] == 3


TESTING = """
heat_template_version: 2016-04-08
parameters:
  test_val: {type: string}
resources:
  test:
    type: OS::Heat::TestResource
    properties: {value: {get_param: test_val}, action_wait_secs: {update: 0.1}}
outputs:
  output_value: {value: {get_attr: [test, output]}}
"""


def test_what_heats_own_api_tests_use(api: tuple[ApiCloud, dict[str, str], str]) -> None:
    """OS::Heat::TestResource, a resource type's template, a version's
    functions and marking a resource unhealthy (then healthy again)."""
    cloud, h, base = api
    body = {"stack_name": "t", "template": TESTING, "parameters": {"test_val": "one"}}
    made = cloud.c.post(f"{base}/stacks", headers=h, json=body)
    assert made.status_code == 201
    stack = _status(cloud, h, base, "t", "CREATE_COMPLETE")
    url = f"{base}/stacks/t/{stack['id']}"
    assert made.headers["location"] == "http://testserver" + url
    assert stack["outputs"][0]["output_value"] == "one"
    body = {"template": TESTING, "parameters": {"test_val": "two"}}
    assert cloud.c.patch(url, headers=h, json=body).status_code == 202
    stack = _status(cloud, h, base, "t", "UPDATE_COMPLETE")
    assert stack["outputs"][0]["output_value"] == "two"
    shown = cloud.c.get(f"{url}/resources/test", headers=h).json()["resource"]
    assert shown["attributes"]["output"] == "two"

    mark = {"mark_unhealthy": True, "resource_status_reason": "resource deleted"}
    assert cloud.c.patch(f"{url}/resources/test", headers=h, json=mark).status_code == 200
    shown = cloud.c.get(f"{url}/resources/test", headers=h).json()["resource"]
    assert (shown["resource_status"], shown["resource_status_reason"]) == (
        "CHECK_FAILED", "resource deleted")  # fmt: skip
    r = cloud.c.patch(f"{url}/resources/test", headers=h, json={"mark_unhealthy": "yes"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "HTTPBadRequest"
    r = cloud.c.patch(f"{url}/resources/nope", headers=h, json=mark)
    assert r.status_code == 404
    back = {"mark_unhealthy": False}
    assert cloud.c.patch(f"{url}/resources/test", headers=h, json=back).status_code == 200
    shown = cloud.c.get(f"{url}/resources/test", headers=h).json()["resource"]
    assert shown["resource_status"] == "CHECK_COMPLETE"
    r = cloud.c.post(f"{url}/resources/test/signal", headers=h, json={})
    assert r.status_code == 400  # a test resource takes no signal

    tpl = cloud.c.get(f"{base}/resource_types/OS::Heat::TestResource/template", headers=h,
                      params={"template_type": "hot"}).json()  # fmt: skip
    assert tpl["resources"]["TestResource"]["type"] == "OS::Heat::TestResource"
    assert tpl["parameters"]["wait_secs"]["default"] == 0
    assert tpl["outputs"]["output"]["value"] == {"get_attr": ["TestResource", "output"]}
    r = cloud.c.get(f"{base}/resource_types/OS::No::Such/template", headers=h)
    assert r.status_code == 404

    funcs = cloud.c.get(f"{base}/template_versions/heat_template_version.2016-04-08/functions",
                        headers=h).json()["template_functions"]  # fmt: skip
    names = {f["functions"] for f in funcs}
    assert {"get_param", "map_merge", "str_split"} <= names and "if" not in names
    r = cloud.c.get(f"{base}/template_versions/heat_template_version.1999-01-01/functions",
                    headers=h)  # fmt: skip
    assert r.status_code == 404


def test_validate_needs_no_parameter_values(api: tuple[ApiCloud, dict[str, str], str]) -> None:
    cloud, h, base = api
    template = """
heat_template_version: 2016-04-08
parameters:
  n: {type: number}
resources:
  r: {type: OS::Heat::RandomString, properties: {length: {get_param: n}}}
"""
    r = cloud.c.post(f"{base}/validate", headers=h, json={"template": template})
    assert r.status_code == 200, r.text
    assert r.json()["Parameters"]["n"]["Type"] == "Number"
    body = {"stack_name": "p", "template": template}
    r = cloud.c.post(f"{base}/stacks", headers=h, json=body)
    assert r.status_code == 400 and r.json()["error"]["type"] == "UserParameterMissing"


def test_software_configs_and_deployments(api: tuple[ApiCloud, dict[str, str], str]) -> None:
    cloud, h, base = api
    r = cloud.c.post(f"{base}/software_configs", headers=h,
                     json={"name": "c", "group": "script", "config": "#!/bin/sh\necho hi"})  # fmt: skip
    assert r.status_code == 200, r.text
    config = r.json()["software_config"]
    r = cloud.c.post(f"{base}/software_deployments", headers=h,
                     json={"action": "ACTION0", "config_id": config["id"], "server_id": "dummy"})  # fmt: skip
    assert r.status_code == 200, r.text
    dep = r.json()["software_deployment"]
    assert (dep["action"], dep["status"], dep["server_id"]) == ("ACTION0", "COMPLETE", "dummy")
    r = cloud.c.get(f"{base}/software_deployments/metadata/dummy", headers=h)
    assert r.json()["metadata"][0]["group"] == "script"
    r = cloud.c.put(f"{base}/software_deployments/{dep['id']}", headers=h,
                    json={"action": "ACTION1", "status": "COMPLETE", "status_reason": "done"})  # fmt: skip
    assert r.status_code == 200 and r.json()["software_deployment"]["action"] == "ACTION1"
    listed = cloud.c.get(f"{base}/software_configs", headers=h).json()["software_configs"]
    assert [c["id"] for c in listed] == [config["id"]] and "config" not in listed[0]
    assert cloud.c.delete(f"{base}/software_deployments/{dep['id']}", headers=h).status_code == 204
    assert cloud.c.delete(f"{base}/software_configs/{config['id']}", headers=h).status_code == 204
    r = cloud.c.get(f"{base}/software_configs/{config['id']}", headers=h)
    assert r.status_code == 404
    assert r.json()["error"]["message"] == f"Software config with id {config['id']} not found"
    r = cloud.c.post(f"{base}/software_deployments", headers=h, json={"server_id": "x"})
    assert r.status_code == 400 and r.json()["error"]["message"] == "config_id is required"
