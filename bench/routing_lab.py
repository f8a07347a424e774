"""Time from an API call to the first packet through the router, on a lab.

Part of ``bench/routing.sh --latency-samples N``. Builds a 3-host lab
(prefix kbr-; host3 is the gateway host), a router with a gateway on
``public``, and per sample: a fresh pair of networks with an instance on
host1 and host2; times ``add_router_interface`` (the second subnet) → the
first answered ping from host1's instance to host2's across the subnets,
then floating IP association → the first answered ping from the upstream.
Removes everything afterwards.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from bench.common import free_port, summary_ms
from kumo.compiler import names
from kumo.lab import supervisor
from kumo.lab.instances import LabClient
from kumo.lab.supervisor import LabState

KUMO = str(Path(__file__).resolve().parent.parent / ".venv" / "bin" / "kumo")
PREFIX = "kbr-"


def _until(cmd: list[str], timeout: float = 30) -> float:
    """Seconds until ``cmd`` (a one-packet ping) succeeds."""
    started = time.monotonic()
    while subprocess.run(cmd, capture_output=True).returncode != 0:
        if time.monotonic() - started > timeout:
            raise RuntimeError(f"{' '.join(cmd)}: no answer in {timeout}s")
    return time.monotonic() - started


def bench_latency(samples: int) -> list[str]:
    state = Path(tempfile.mkdtemp(prefix="kumo-bench-routing."))
    subprocess.run(
        [KUMO, "up", "--hosts", "3", "--port", str(free_port()), "--prefix", PREFIX,
         "--state-dir", str(state), "--detach"],
        check=True, capture_output=True,
    )  # fmt: skip
    try:
        lab = LabState.load(state)
        assert lab is not None
        token = supervisor._admin_token(state, lab.api_url)
        api = httpx.Client(base_url=f"{lab.api_url}/networking/v2.0",
                           headers={"X-Auth-Token": token}, timeout=60)  # fmt: skip
        public = api.get("/networks", params={"name": "public"}).json()["networks"][0]
        router = api.post(
            "/routers",
            json={
                "router": {"name": "bench", "external_gateway_info": {"network_id": public["id"]}}
            },
        ).json()
        rid = router["router"]["id"]
        client = LabClient(state)
        interface_times: list[float] = []
        fip_times: list[float] = []
        for k in range(samples):
            subnets = []
            for side in ("a", "b"):
                net = api.post("/networks", json={"network": {"name": f"n{k}{side}"}}).json()
                cidr = f"10.{100 + k}.{1 if side == 'a' else 2}.0/24"
                sub = api.post(
                    "/subnets",
                    json={
                        "subnet": {
                            "network_id": net["network"]["id"],
                            "ip_version": 4,
                            "cidr": cidr,
                        }
                    },
                ).json()
                subnets.append(sub["subnet"])
            src = client.create(f"src{k}", f"n{k}a", f"{PREFIX}host1", None, None,
                                port_security=False)  # fmt: skip
            dst = client.create(f"dst{k}", f"n{k}b", f"{PREFIX}host2", None, None,
                                port_security=False)  # fmt: skip
            api.put(f"/routers/{rid}/add_router_interface",
                    json={"subnet_id": subnets[0]["id"]}).raise_for_status()  # fmt: skip
            src_ns = names.instance_netns(src["binding:host_id"], src["id"])
            dst_ns = names.instance_netns(dst["binding:host_id"], dst["id"])
            dst_ip = dst["fixed_ips"][0]["ip_address"]
            # both instances know their gateway's MAC before the clock starts
            # (a failed ARP would otherwise add the kernel's 1 s retry)
            _until(["ip", "netns", "exec", src_ns, "ping", "-c1", "-W", "0.2",
                    subnets[0]["gateway_ip"]])  # fmt: skip
            started = time.monotonic()
            api.put(f"/routers/{rid}/add_router_interface",
                    json={"subnet_id": subnets[1]["id"]}).raise_for_status()  # fmt: skip
            api_time = time.monotonic() - started
            wait = _until(["ip", "netns", "exec", src_ns, "ping", "-c1", "-W", "0.1", dst_ip])
            interface_times.append(api_time + wait)
            del dst_ns
            fip = api.post("/floatingips", json={"floatingip": {
                "floating_network_id": public["id"]}}).json()["floatingip"]  # fmt: skip
            started = time.monotonic()
            api.put(f"/floatingips/{fip['id']}",
                    json={"floatingip": {"port_id": dst["id"]}}).raise_for_status()  # fmt: skip
            api_time = time.monotonic() - started
            wait = _until(["ip", "netns", "exec", f"{PREFIX}up", "ping", "-c1", "-W", "0.1",
                           fip["floating_ip_address"]])  # fmt: skip
            fip_times.append(api_time + wait)
        return [
            f"add_router_interface -> first ping across the subnets: {summary_ms(interface_times)}",
            f"floating IP association -> first ping from the upstream: {summary_ms(fip_times)}",
        ]
    finally:
        subprocess.run([KUMO, "down", "--state-dir", str(state)], capture_output=True)
