"""Orchestration: a 50-resource stack's create and delete time next to the
same resources made one by one with openstacksdk, in the same run.

    .venv/bin/python -m bench.stacks [--groups 10] [--repeats 3] [--poll 0.1]

Starts a throwaway ``kumo serve`` (SQLite). Each group is five resources:
a network, a subnet on it, a security group, a rule in it and a port on the
subnet in the group (``--groups 10``: 50 resources). The stack is created
with the orchestration API (the engine makes independent resources in
parallel) and deleted; then the same resources are created with
openstacksdk one call after another, in dependency order, and deleted in
reverse. Times run from the first request to the last resource done (for
the stack: until the stack reads CREATE_COMPLETE / is gone, polled every
``--poll`` seconds: each poll is a request the server answers beside the
engine, so a tight poll slows what it measures). Each side also reports the
CPU seconds the server used, which moves little when other jobs load the
machine. Needs no root and no agents (ports stay DOWN, as unbound ports do).
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from typing import Any

import httpx
import openstack
import yaml

from bench.common import Server, kumo_server, machine, percentile


def template(groups: int) -> dict[str, Any]:
    res: dict[str, Any] = {}
    for i in range(groups):
        res[f"net{i}"] = {"type": "OS::Neutron::Net", "properties": {"name": f"bn{i}"}}
        res[f"subnet{i}"] = {
            "type": "OS::Neutron::Subnet",
            "properties": {"network": {"get_resource": f"net{i}"}, "cidr": f"10.{i}.0.0/24"},
        }
        res[f"sg{i}"] = {"type": "OS::Neutron::SecurityGroup", "properties": {"rules": []}}
        res[f"rule{i}"] = {
            "type": "OS::Neutron::SecurityGroupRule",
            "properties": {
                "security_group": {"get_resource": f"sg{i}"},
                "protocol": "tcp",
                "port_range_min": 80,
                "port_range_max": 80,
            },
        }
        res[f"port{i}"] = {
            "type": "OS::Neutron::Port",
            "properties": {
                "network": {"get_resource": f"net{i}"},
                "fixed_ips": [{"subnet": {"get_resource": f"subnet{i}"}}],
                "security_groups": [{"get_resource": f"sg{i}"}],
            },
        }
    return {"heat_template_version": "2018-08-31", "resources": res}


Timing = tuple[float, float, float, float]
"""create seconds, delete seconds, server CPU seconds for each."""


def _stack_once(
    srv: Server, c: httpx.Client, project: str, name: str, groups: int, poll: float
) -> Timing:
    base = f"/orchestration/v1/{project}/stacks"
    cpu0 = srv.cpu_seconds()
    t0 = time.perf_counter()
    r = c.post(base, json={"stack_name": name, "template": template(groups)})
    r.raise_for_status()
    sid = r.json()["stack"]["id"]
    status = _wait(c, f"{base}/{name}/{sid}", "CREATE_IN_PROGRESS", poll)
    created = time.perf_counter() - t0
    cpu1 = srv.cpu_seconds()
    if status != "CREATE_COMPLETE":
        raise RuntimeError(f"stack {name}: {status}")
    t0 = time.perf_counter()
    c.delete(f"{base}/{name}/{sid}").raise_for_status()
    status = _wait(c, f"{base}/{name}/{sid}", "DELETE_IN_PROGRESS", poll)
    deleted = time.perf_counter() - t0
    if status not in ("DELETE_COMPLETE", "GONE"):
        raise RuntimeError(f"stack {name}: {status}")
    return created, deleted, cpu1 - cpu0, srv.cpu_seconds() - cpu1


def _wait(c: httpx.Client, url: str, busy: str, poll: float, timeout: float = 600) -> str:
    deadline = time.monotonic() + timeout
    while True:
        r = c.get(url, follow_redirects=True)
        if r.status_code == 404:
            return "GONE"
        r.raise_for_status()
        status = str(r.json()["stack"]["stack_status"])
        if status != busy:
            return status
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} still {status}")
        time.sleep(poll)


def _sdk_once(srv: Server, conn: Any, groups: int) -> Timing:
    made: list[tuple[str, str]] = []
    net = conn.network
    cpu0 = srv.cpu_seconds()
    t0 = time.perf_counter()
    for i in range(groups):
        n = net.create_network(name=f"sn{i}")
        made.append(("network", n.id))
        s = net.create_subnet(network_id=n.id, ip_version=4, cidr=f"10.{i}.0.0/24")
        made.append(("subnet", s.id))
        g = net.create_security_group(name=f"sg{i}")
        made.append(("security_group", g.id))
        rule = net.create_security_group_rule(
            security_group_id=g.id,
            direction="ingress",
            protocol="tcp",
            port_range_min=80,
            port_range_max=80,
        )
        made.append(("security_group_rule", rule.id))
        p = net.create_port(
            network_id=n.id, fixed_ips=[{"subnet_id": s.id}], security_group_ids=[g.id]
        )
        made.append(("port", p.id))
    created = time.perf_counter() - t0
    cpu1 = srv.cpu_seconds()
    t0 = time.perf_counter()
    for kind, ident in reversed(made):
        getattr(net, f"delete_{kind}")(ident)
    deleted = time.perf_counter() - t0
    return created, deleted, cpu1 - cpu0, srv.cpu_seconds() - cpu1


def _project(c: httpx.Client) -> str:
    r = c.get("/identity/v3/auth/projects")
    r.raise_for_status()
    return next(p["id"] for p in r.json()["projects"] if p["name"] == "admin")


def _sdk(srv: Server) -> Any:
    cloud = yaml.safe_load((srv.state_dir / "clouds.yaml").read_text())["clouds"]["kumo"]
    return openstack.connect(auth=cloud["auth"], region_name=cloud.get("region_name"))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--groups", type=int, default=10, help="five resources per group")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--poll", type=float, default=0.1, help="stack status poll interval (s)")
    args = ap.parse_args()
    stack: list[Timing] = []
    sdk: list[Timing] = []
    with kumo_server() as srv, httpx.Client(base_url=srv.base, timeout=60) as c:
        c.headers["X-Auth-Token"] = srv.token()
        project = _project(c)
        c.put(
            f"/networking/v2.0/quotas/{project}",
            json={"quota": {"network": -1, "subnet": -1, "port": -1, "security_group": -1,
                            "security_group_rule": -1}},
        )  # fmt: skip
        conn = _sdk(srv)
        for k in range(args.repeats):  # alternate, so load from others falls on both
            stack.append(_stack_once(srv, c, project, f"bench{k}", args.groups, args.poll))
            sdk.append(_sdk_once(srv, conn, args.groups))
    n = args.groups * 5
    print(f"# bench/stacks.py  {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC  {machine()}")
    print(f"{n} resources, {args.repeats} rounds, poll {args.poll} s, medians")
    for i, what in enumerate(("create", "delete")):
        s = percentile([r[i] for r in stack], 50)
        o = percentile([r[i] for r in sdk], 50)
        sc = percentile([r[i + 2] for r in stack], 50)
        oc = percentile([r[i + 2] for r in sdk], 50)
        print(
            f"  {what}: stack {s:.2f} s | openstacksdk one by one {o:.2f} s"
            f" | stack / one-by-one {s / o:.2f}"
            f"   (server CPU: stack {sc:.2f} s | one by one {oc:.2f} s | {sc / oc:.2f})"
        )


if __name__ == "__main__":
    main()
