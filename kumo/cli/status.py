"""``kumo status``: the state of any kumo deployment, through its APIs.

With admin credentials (clouds.yaml: ``--os-cloud``/``OS_CLOUD``,
``OS_CLIENT_CONFIG_FILE``; or ``OS_AUTH_URL``, ``OS_USERNAME``,
``OS_PASSWORD``, ``OS_PROJECT_NAME``) it asks the API server the
credentials point at: its version and readiness (database, schema),
the agents (host, alive, ready, gateway), the HA state of each HA
router's gateway hosts, and recent errors (server errors by route from
the API's ``/metrics``, agents down or not ready). Exits 1 when anything
is unhealthy. Several API servers behind a load balancer answer for one
another: the one reached is reported.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from rich.console import Console
from rich.table import Table


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("status", help="hosts, agents, HA states, database and errors of a cloud")
    p.add_argument("--os-cloud", default=os.environ.get("OS_CLOUD", "kumo"))
    p.add_argument("--clouds-yaml", default=os.environ.get("OS_CLIENT_CONFIG_FILE"))
    p.add_argument("--api", default=None, help="API base URL (default: from the auth URL)")
    p.set_defaults(func=cmd_status)


def collect(api: str, token: str) -> dict[str, Any]:
    """Everything ``kumo status`` shows, as data."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    headers = {"X-Auth-Token": token}
    with httpx.Client(base_url=api, headers=headers, timeout=30) as http:
        ready = http.get("/readyz")
        landing = http.get("/").json()
        agents = http.get("/networking/v2.0/agents").json().get("agents", [])
        routers = http.get("/networking/v2.0/routers").json().get("routers", [])
        ha: list[dict[str, Any]] = []
        for router in routers:
            if not router.get("ha"):
                continue
            hosted = http.get(f"/networking/v2.0/routers/{router['id']}/l3-agents").json()
            for agent in hosted.get("agents", []):
                ha.append({"router": router.get("name") or router["id"], "router_id": router["id"],
                           "host": agent.get("host"), "state": agent.get("ha_state")})  # fmt: skip
        errors: list[dict[str, Any]] = []
        metrics = http.get("/metrics")
        if metrics.status_code == 200:
            for family in text_string_to_metric_families(metrics.text):
                for s in family.samples:
                    if (s.name == "kumo_api_request_duration_seconds_count"
                            and s.labels.get("status", "").startswith("5") and s.value):  # fmt: skip
                        errors.append({"what": f"{s.labels['method']} {s.labels['route']}",
                                       "count": int(s.value), "status": s.labels["status"]})  # fmt: skip
    for agent in agents:
        config = agent.get("configurations") or {}
        if not agent.get("alive"):
            errors.append({"what": f"agent of {agent.get('host')} is down", "count": 1,
                           "status": "down"})  # fmt: skip
        elif config.get("ready") is False:
            errors.append({"what": f"agent of {agent.get('host')} is not ready", "count": 1,
                           "status": "not ready"})  # fmt: skip
    readiness = (
        ready.json() if ready.headers.get("content-type", "").startswith("application/json") else {}
    )
    return {
        "api": api,
        "version": landing.get("version"),
        "ready": ready.status_code == 200,
        "checks": readiness.get("checks", {}),
        "agents": agents,
        "ha": ha,
        "errors": errors,
    }


def cmd_status(args: argparse.Namespace) -> int:
    import httpx

    from kumo.agent.cli import openstack_credentials
    from kumo.identity.authbody import password_auth

    creds = openstack_credentials(
        argparse.Namespace(clouds_yaml=args.clouds_yaml, cloud=args.os_cloud)
    )
    api = args.api or creds.auth_url.rstrip("/").removesuffix("/v3").removesuffix("/identity")
    body = password_auth(creds.username, creds.password, project_name=creds.project_name,
                         user_domain_id=creds.user_domain_id,
                         project_domain_id=creds.project_domain_id)  # fmt: skip
    r = httpx.post(creds.auth_url.rstrip("/") + "/auth/tokens?nocatalog", json=body, timeout=30)
    if r.status_code != 201:
        raise SystemExit(f"kumo status: authentication failed: {r.status_code} {r.text}")
    state = collect(api.rstrip("/"), r.headers["X-Subject-Token"])
    show(state, Console())
    healthy = state["ready"] and not state["errors"]
    return 0 if healthy else 1


def _yes_no(value: Any) -> str:
    return "yes" if value is True else "[red]no[/]" if value is False else "?"


def show(state: dict[str, Any], console: Console) -> None:
    checks = state["checks"]
    db = checks.get("database", {})
    mig = checks.get("migrations", {})
    console.print(f"API server [bold]{state['api']}[/]  version {state['version']}  "
                  f"{'[green]ready[/]' if state['ready'] else '[red]not ready[/]'}")  # fmt: skip
    console.print(f"database: {'[green]reachable[/]' if db.get('ok') else '[red]' + str(db.get('error', 'unreachable')) + '[/]'}"
                  f"  schema {mig.get('current')} (head {mig.get('head')})")  # fmt: skip
    table = Table(title="hosts and agents")
    for col in ("host", "alive", "ready", "gateway", "tunnel IP", "last heartbeat"):
        table.add_column(col)
    for a in sorted(state["agents"], key=lambda a: str(a.get("host"))):
        config = a.get("configurations") or {}
        table.add_row(str(a.get("host")), "yes" if a.get("alive") else "[red]no[/]",
                      _yes_no(config.get("ready")),
                      "yes" if config.get("gateway") else "", str(config.get("tunnel_ip") or ""),
                      str(a.get("heartbeat_timestamp") or ""))  # fmt: skip
    console.print(table)
    if state["ha"]:
        ha = Table(title="HA routers")
        for col in ("router", "host", "state"):
            ha.add_column(col)
        for row in state["ha"]:
            ha.add_row(row["router"], str(row["host"]), str(row["state"]))
        console.print(ha)
    if state["errors"]:
        errors = Table(title="recent errors")
        for col in ("what", "status", "count"):
            errors.add_column(col)
        for e in state["errors"]:
            errors.add_row(e["what"], str(e["status"]), str(e["count"]))
        console.print(errors)
    else:
        console.print("no recent errors")
