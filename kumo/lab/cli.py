"""``kumo up``, ``kumo down``, ``kumo lab ...`` and ``kumo exec``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rich.console import Console
from rich.table import Table

from kumo.cli.serve import add_l3_options

DEFAULT_DIR = os.environ.get("KUMO_LAB_DIR", "/var/lib/kumo/lab")


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("up", help="start the API and a lab of hosts (foreground; Ctrl-C stops)")
    p.add_argument("--hosts", type=int, default=3)
    p.add_argument("--state-dir", default=DEFAULT_DIR)
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--database-url", default=None)
    p.add_argument("--detach", action="store_true", help="return once the lab is up")
    p.add_argument(
        "--gateways", type=int, default=1, help="how many hosts (the last ones) are gateway hosts"
    )
    p.add_argument("--prefix", default="klab-", help=argparse.SUPPRESS)
    add_l3_options(p)
    p.add_argument("--ha-interval", type=float, default=None,
                   help="agents: seconds between liveness beats (HA routers)")  # fmt: skip
    p.add_argument("--ha-hold", type=float, default=None,
                   help="agents: a host is dead after this many seconds without a beat")  # fmt: skip
    p.add_argument("--no-ha-state-sync", action="store_true",
                   help="agents: do not sync HA routers' connections (loose TCP pickup)")  # fmt: skip
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("down", help="stop the lab and remove everything it created")
    p.add_argument("--state-dir", default=DEFAULT_DIR)
    p.set_defaults(func=cmd_down)

    lab = sub.add_parser("lab", help="lab status and instances")
    lab_sub = lab.add_subparsers(dest="lab_command", metavar="COMMAND")
    st = lab_sub.add_parser("status", help="hosts, agents and instances")
    st.add_argument("--state-dir", default=DEFAULT_DIR)
    st.set_defaults(func=cmd_status)
    inst = lab_sub.add_parser("instance", help="create, delete, list lab instances")
    inst_sub = inst.add_subparsers(dest="instance_command", metavar="COMMAND")
    c = inst_sub.add_parser("create", help="create an instance (a port bound to a host)")
    c.add_argument("name")
    c.add_argument("--network", required=True)
    c.add_argument("--host", default=None)
    c.add_argument("--ip", default=None)
    c.add_argument("--subnet", default=None)
    c.add_argument(
        "--security-group",
        action="append",
        default=None,
        dest="security_groups",
        help="name or id (repeatable; default: the project's default group)",
    )
    c.add_argument("--disable-port-security", action="store_true")
    c.add_argument("--state-dir", default=DEFAULT_DIR)
    c.set_defaults(func=cmd_instance_create)
    d = inst_sub.add_parser("delete", help="delete an instance")
    d.add_argument("name")
    d.add_argument("--state-dir", default=DEFAULT_DIR)
    d.set_defaults(func=cmd_instance_delete)
    ls = inst_sub.add_parser("list", help="list instances")
    ls.add_argument("--state-dir", default=DEFAULT_DIR)
    ls.set_defaults(func=cmd_instance_list)

    ex = sub.add_parser("exec", help="run a command inside an instance: kumo exec NAME -- CMD")
    ex.add_argument("name")
    ex.add_argument("--state-dir", default=DEFAULT_DIR)
    ex.set_defaults(func=cmd_exec)


def _agent_args(args: argparse.Namespace) -> list[str]:
    out: list[str] = []
    if args.ha_interval is not None:
        out += ["--ha-interval", str(args.ha_interval)]
    if args.ha_hold is not None:
        out += ["--ha-hold", str(args.ha_hold)]
    if args.no_ha_state_sync:
        out.append("--no-ha-state-sync")
    return out


def cmd_up(args: argparse.Namespace) -> int:
    from kumo.lab import supervisor

    console = Console()
    state_dir = Path(args.state_dir)
    try:
        supervisor.up(
            state_dir,
            hosts=args.hosts,
            port=args.port,
            prefix=args.prefix,
            database_url=args.database_url,
            gateways=args.gateways,
            l3_ha=bool(args.l3_ha),
            max_l3_agents_per_router=args.max_l3_agents_per_router,
            agent_args=_agent_args(args),
            console=console,
        )
    except BaseException:
        supervisor.down(state_dir, console=console, quiet=True)
        raise
    if not args.detach:
        supervisor.wait_forever(state_dir, console)
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from kumo.lab import supervisor

    supervisor.down(Path(args.state_dir))
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from kumo.lab import supervisor
    from kumo.lab.instances import LabClient

    state_dir = Path(args.state_dir)
    client = LabClient(state_dir)
    console = Console()
    table = Table(title=f"kumo lab ({client.url})")
    for col in ("host", "agent", "heartbeat", "instances"):
        table.add_column(col)
    instances = client.instances()
    for agent in supervisor.agents(state_dir.resolve(), client.url):
        mine = [p["name"] for p in instances if p["binding:host_id"] == agent["host"]]
        table.add_row(
            str(agent["host"]),
            "alive" if agent["alive"] else "DEAD",
            str(agent["heartbeat_timestamp"]),
            ", ".join(mine),
        )
    console.print(table)
    return 0


def cmd_instance_create(args: argparse.Namespace) -> int:
    from kumo.lab.instances import LabClient

    port = LabClient(Path(args.state_dir)).create(
        args.name,
        args.network,
        args.host,
        args.ip,
        args.subnet,
        security_groups=args.security_groups,
        port_security=not args.disable_port_security,
    )
    ips = ", ".join(f["ip_address"] for f in port["fixed_ips"])
    Console().print(
        f"{args.name}: {ips} on {port['binding:host_id']} (port {port['id']}, {port['status']})"
    )
    return 0


def cmd_instance_delete(args: argparse.Namespace) -> int:
    from kumo.lab.instances import LabClient

    LabClient(Path(args.state_dir)).delete(args.name)
    return 0


def cmd_instance_list(args: argparse.Namespace) -> int:
    from kumo.lab.instances import LabClient

    table = Table()
    for col in ("name", "host", "addresses", "status", "port"):
        table.add_column(col)
    for p in LabClient(Path(args.state_dir)).instances():
        ips = ", ".join(f["ip_address"] for f in p["fixed_ips"])
        table.add_row(p["name"], p["binding:host_id"], ips, p["status"], p["id"])
    Console().print(table)
    return 0


def cmd_exec(args: argparse.Namespace) -> int:
    from kumo.compiler import names
    from kumo.dataplane import uts
    from kumo.lab.instances import LabClient

    cmd = args.tail
    if not cmd:
        raise SystemExit("usage: kumo exec NAME -- CMD [ARGS...]")
    port = LabClient(Path(args.state_dir)).find(args.name)
    netns = names.instance_netns(port["binding:host_id"], port["id"])
    os.execvp("ip", ["ip", "netns", "exec", netns, *uts.command(netns, cmd)])
