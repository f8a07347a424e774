"""The two-tier template (examples/two-tier.yaml) on a 3-host lab with the
openstack CLI (python-heatclient): ``stack create --wait``, the ``url``
output, the web page fetched by the lab's upstream through the floating
IP, ``stack update`` growing the web group from 2 to 4 without touching
the first two servers, and ``stack delete --wait`` leaving no server,
port, network, router, security group, floating IP or instance namespace.

The database server's wait condition is signalled from the test with the
handle's own endpoint and token (what its user data would do with curl: a
namespace instance runs no user data).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from kumo.compiler import names
from kumo.lab import supervisor
from kumo.lab.supervisor import LabState
from tests.lab.labs import running_lab
from tests.lab.test_lab_root import netns_list
from tests.lab.test_secgroups_lab import OPENSTACK, openstack
from tests.lab.test_servers_lab import upstream_get

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root and network namespaces"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2"),
]
TWO_TIER = str(Path(__file__).resolve().parents[2] / "examples" / "two-tier.yaml")
PAGE = "kumo busybox instance"


def _stack(state: Path, *args: str) -> str:
    """``openstack stack ...``, waiting as long as a loaded machine takes."""
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(state / "clouds.yaml"), "OS_CLOUD": "kumo"}
    done = subprocess.run([OPENSTACK, "stack", *args], capture_output=True, text=True, env=env,
                          timeout=900)  # fmt: skip
    assert done.returncode == 0, done.stderr + done.stdout
    return done.stdout


def _json(state: Path, *args: str) -> Any:
    return json.loads(openstack(state, *args, "-f", "json"))


def _signal_db_when_ready(state: Path, stack: str) -> threading.Thread:
    def work() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                attrs = _json(state, "stack", "resource", "show", stack, "db_ready_handle")[
                    "attributes"
                ]
            except AssertionError:
                time.sleep(0.5)
                continue
            if attrs.get("endpoint"):
                httpx.post(attrs["endpoint"], json={"status": "SUCCESS", "data": "db up"},
                           headers={"X-Auth-Token": attrs["token"]}, timeout=30)  # fmt: skip
                return
            time.sleep(0.5)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


class _Api:
    """The lab's APIs as its admin (what the stack made, checked without a
    CLI start per question)."""

    def __init__(self, state: Path) -> None:
        lab = LabState.load(state)
        assert lab is not None
        token = supervisor._admin_token(state, lab.api_url)
        self.c = httpx.Client(base_url=lab.api_url, headers={"X-Auth-Token": token}, timeout=60)

    def get(self, path: str, key: str) -> list[dict[str, Any]]:
        r = self.c.get(path)
        assert r.status_code == 200, r.text
        return list(r.json()[key])

    def web_servers(self) -> dict[str, tuple[str, str]]:
        return {s["name"]: (s["id"], s["status"])
                for s in self.get("/compute/v2.1/servers/detail", "servers")
                if "-web-" in s["name"]}  # fmt: skip

    def owned(self) -> dict[str, list[str]]:
        """What the cloud holds, by kind (ids)."""
        n = "/networking/v2.0"
        kinds = {"servers": ("/compute/v2.1/servers", "servers"),
                 "networks": (f"{n}/networks", "networks"), "subnets": (f"{n}/subnets", "subnets"),
                 "ports": (f"{n}/ports", "ports"), "routers": (f"{n}/routers", "routers"),
                 "floating ips": (f"{n}/floatingips", "floatingips"),
                 "security groups": (f"{n}/security-groups", "security_groups")}  # fmt: skip
        return {k: sorted(o["id"] for o in self.get(path, key)) for k, (path, key) in kinds.items()}


@pytest.mark.timeout(2400)
def test_two_tier_stack_in_the_lab(tmp_path: Path) -> None:
    with running_lab(tmp_path, "kst") as (state, prefix):
        api = _Api(state)
        before = api.owned()
        signaller = _signal_db_when_ready(state, "web")
        _stack(state, "create", "-t", TWO_TIER, "--wait", "--poll", "2", "web")
        signaller.join(30)
        shown = _json(state, "stack", "show", "web")
        assert shown["stack_status"] == "CREATE_COMPLETE", shown["stack_status_reason"]

        url = _json(state, "stack", "output", "show", "web", "url")["output_value"]
        assert url.startswith("http://") and url.endswith("/")
        fip = url.removeprefix("http://").rstrip("/")
        deadline = time.monotonic() + 60
        while PAGE not in upstream_get(prefix, fip):
            assert time.monotonic() < deadline, f"the site is not reachable at {url}"
            time.sleep(0.5)

        first = api.web_servers()
        assert sorted(first) == ["web-web-0", "web-web-1"]
        assert {status for _, status in first.values()} == {"ACTIVE"}
        _stack(state, "update", "-t", TWO_TIER, "--parameter", "web_count=4", "--wait", "web")
        assert _json(state, "stack", "show", "web")["stack_status"] == "UPDATE_COMPLETE"
        grown = api.web_servers()
        assert sorted(grown) == [f"web-web-{i}" for i in range(4)]
        assert {k: grown[k][0] for k in first} == {k: v[0] for k, v in first.items()}
        deadline = time.monotonic() + 120
        while {status for _, status in api.web_servers().values()} != {"ACTIVE"}:
            assert time.monotonic() < deadline, api.web_servers()
            time.sleep(1)
        assert PAGE in upstream_get(prefix, fip)  # the first server kept its address

        _stack(state, "delete", "--wait", "--yes", "web")
        assert _json(state, "stack", "list") == []
        assert api.owned() == before
        hosts = [f"{prefix}host{i}" for i in (1, 2, 3)]
        deadline = time.monotonic() + 30
        while any(names.is_instance_netns(ns, h) for ns in netns_list() for h in hosts):
            assert time.monotonic() < deadline, "instance namespaces left behind"
            time.sleep(0.5)
