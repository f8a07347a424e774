"""``kumo up``, ``kumo down``, ``kumo lab ...`` and ``kumo exec``.

Every command works on one lab, chosen by ``--name`` (or ``$KUMO_LAB``),
else the lab ``default`` if it runs, else the only running lab (see
``kumo.lab.registry``); ``--state-dir`` names a lab by its state directory
instead.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rich.console import Console
from rich.table import Table

from kumo.cli.serve import add_l3_options

EXEC_USAGE = "kumo exec [--name LAB] [--network NET] NAME -- CMD [ARGS...]"
EXEC_EPILOG = """\
Everything after `--` runs inside the instance's network namespace, e.g.
  kumo exec vm1 -- ping -c 3 10.1.0.3
  kumo exec vm5 -- busybox wget -qO- http://169.254.169.254/openstack/latest/meta_data.json
NAME is a lab instance (`kumo lab instance create`) or a server (`openstack
server create`), by name or id; a name two of them share must be given as an id.
A namespace server has one namespace per port: NAME alone runs in its first
network's (the first `--network` it was created with), --network NET in another's.
"""


def _lab_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--name", dest="lab", default=None, metavar="LAB",
        help="the lab (default: $KUMO_LAB, else 'default' if it runs, else the only running lab)",
    )  # fmt: skip
    p.add_argument("--state-dir", default=None, help="the lab whose state is in this directory")


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("up", help="start the API and a lab of hosts (foreground; Ctrl-C stops)")
    p.add_argument(
        "--name", dest="lab", default=None, metavar="LAB",
        help="the lab's name (default: $KUMO_LAB or 'default'); it decides the lab's "
        "namespaces, state directory and port",
    )  # fmt: skip
    p.add_argument("--hosts", type=int, default=3)
    p.add_argument(
        "--state-dir", default=None,
        help="default /var/lib/kumo/lab for the lab 'default', /var/lib/kumo/labs/NAME otherwise",
    )  # fmt: skip
    p.add_argument(
        "--port", type=int, default=None,
        help="API port (default 8080 for the lab 'default', a free one from 8081 otherwise)",
    )  # fmt: skip
    p.add_argument("--database-url", default=None)
    p.add_argument(
        "--api-servers", type=int, default=1, metavar="N",
        help="API servers on one database, every agent naming them all (more than one: on "
        "a PostgreSQL the lab starts unless --database-url is given)",
    )  # fmt: skip
    p.add_argument("--detach", action="store_true", help="return once the lab is up")
    p.add_argument(
        "--gateways", type=int, default=1, help="how many hosts (the last ones) are gateway hosts"
    )
    p.add_argument(
        "--storage-hosts", type=int, default=1,
        help="how many hosts (the first ones) also run a storage agent with one pool",
    )  # fmt: skip
    p.add_argument(
        "--physnet", action="append", default=[], metavar="NAME:HOST[,HOST...]",
        help="a further physical network (a segment of its own) on these hosts only, "
        "each mapping it to its next device (eth3, eth4...); repeatable",
    )  # fmt: skip
    p.add_argument("--prefix", default=None, help=argparse.SUPPRESS)
    add_l3_options(p)
    p.add_argument("--ha-interval", type=float, default=None,
                   help="agents: seconds between liveness beats (HA routers)")  # fmt: skip
    p.add_argument("--ha-hold", type=float, default=None,
                   help="agents: a host is dead after this many seconds without a beat")  # fmt: skip
    p.add_argument("--no-ha-state-sync", action="store_true",
                   help="agents: do not sync HA routers' connections (loose TCP pickup)")  # fmt: skip
    p.add_argument("--vm-memory-mb", type=int, default=128, metavar="MB",
                   help="agents: RAM given to a VM at most, whatever its flavor (default 128: "
                   "the lab's hosts share one machine; 0: the flavor's)")  # fmt: skip
    p.set_defaults(func=cmd_up)

    p = sub.add_parser("down", help="stop a lab and remove everything it created")
    p.add_argument("--name", dest="lab", default=None, metavar="LAB",
                   help="the lab (default: $KUMO_LAB or 'default')")  # fmt: skip
    p.add_argument("--state-dir", default=None, help="the lab whose state is in this directory")
    p.add_argument(
        "--purge", action="store_true",
        help="also remove the lab's state directory (database, admin password, logs)",
    )  # fmt: skip
    p.set_defaults(func=cmd_down)

    lab = sub.add_parser("lab", help="lab status, instances, and its processes")
    lab_sub = lab.add_subparsers(dest="lab_command", metavar="COMMAND")
    st = lab_sub.add_parser("status", help="hosts, agents and instances")
    _lab_options(st)
    st.set_defaults(func=cmd_status)
    ls_labs = lab_sub.add_parser("list", help="the labs running on this machine")
    ls_labs.set_defaults(func=cmd_labs)
    for op, text in (
        ("start", "start a process that was stopped with `kumo lab stop`"),
        ("stop", "stop a process; the supervisor leaves it down until `kumo lab start`"),
        ("restart", "stop a process and start it again"),
    ):
        c = lab_sub.add_parser(op, help=f"{text} (an agent, or the API server)",
                               usage=f"kumo lab {op} {{agent HOST | api [N]}} [--signal KILL]")  # fmt: skip
        c.add_argument("process", choices=("agent", "api"))
        c.add_argument("host", nargs="?", default=None)
        if op != "start":
            c.add_argument("--signal", choices=("TERM", "KILL", "INT"), default="TERM",
                           help="how to stop it (KILL: as if it crashed)")  # fmt: skip
        _lab_options(c)
        c.set_defaults(func=cmd_control, op=op)
    inst = lab_sub.add_parser("instance", help="create, delete, list lab instances")
    inst_sub = inst.add_subparsers(dest="instance_command", metavar="COMMAND")
    c = inst_sub.add_parser("create", help="create an instance (a port bound to a host)")
    c.add_argument("name")
    c.add_argument("--network", required=True)
    c.add_argument("--host", default=None, help="a host of the lab (hostN: its Nth host)")
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
    _lab_options(c)
    c.set_defaults(func=cmd_instance_create)
    d = inst_sub.add_parser("delete", help="delete an instance")
    d.add_argument("name")
    _lab_options(d)
    d.set_defaults(func=cmd_instance_delete)
    ls = inst_sub.add_parser("list", help="list instances")
    _lab_options(ls)
    ls.set_defaults(func=cmd_instance_list)

    ex = sub.add_parser(
        "exec",
        help="run a command inside an instance: kumo exec NAME -- CMD",
        usage=EXEC_USAGE,
        epilog=EXEC_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ex.add_argument("name", help="lab instance or server (name or id)")
    ex.add_argument(
        "--network",
        metavar="NET",
        help="a server on several networks: the namespace of its port on NET "
        "(default: its first network's)",
    )
    _lab_options(ex)
    ex.set_defaults(func=cmd_exec)


def lab_dir(args: argparse.Namespace) -> Path:
    """The state directory of the lab a command means."""
    from kumo.lab import naming, registry

    if args.state_dir:
        return Path(args.state_dir)
    try:
        return Path(registry.resolve(args.lab).state_dir)
    except registry.LabNotFound as exc:
        name = args.lab or naming.default_name()
        fallback = naming.state_dir_for(name)
        if (fallback / "lab.json").exists():
            return fallback  # a lab with no supervisor (started by an older kumo)
        raise SystemExit(str(exc)) from None


def _agent_args(args: argparse.Namespace) -> list[str]:
    out: list[str] = []
    if args.ha_interval is not None:
        out += ["--ha-interval", str(args.ha_interval)]
    if args.ha_hold is not None:
        out += ["--ha-hold", str(args.ha_hold)]
    if args.no_ha_state_sync:
        out.append("--no-ha-state-sync")
    if getattr(args, "vm_memory_mb", 0):
        out += ["--vm-memory-mb", str(args.vm_memory_mb)]
    return out


def _physnets(specs: list[str], count: int, name: str, prefix: str | None) -> dict[str, list[int]]:
    """``--physnet`` options as physical network → host numbers."""
    from kumo.lab import naming, topology

    prefix = prefix or naming.prefix_for(name)
    stem = naming.host_stem(name, prefix)
    host_names = [f"{stem}{i}" for i in range(1, count + 1)]
    out: dict[str, list[int]] = {}
    try:
        for spec in specs:
            physnet, numbers = topology.parse_physnet(spec, host_names)
            out.setdefault(physnet, []).extend(numbers)
        topology.make(count, prefix, stem, out)  # refuses what it cannot build
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    return out


def cmd_up(args: argparse.Namespace) -> int:
    from kumo.lab import naming, supervisor

    console = Console()
    if os.geteuid() != 0:
        raise SystemExit("kumo up builds network namespaces and needs root")
    if args.lab is None and args.prefix is not None:
        name = naming.name_for_prefix(args.prefix)
    else:
        name = args.lab or naming.default_name()
    try:
        naming.check_name(name)
    except naming.LabNameError as exc:
        raise SystemExit(str(exc)) from None
    state_dir = Path(args.state_dir) if args.state_dir else naming.state_dir_for(name)
    physnets = _physnets(args.physnet, args.hosts, name, args.prefix)
    state = supervisor.new_state(
        name,
        state_dir,
        hosts=args.hosts,
        port=args.port,
        prefix=args.prefix,
        database_url=args.database_url,
        gateways=args.gateways,
        l3_ha=bool(args.l3_ha),
        distributed_snat=args.distributed_snat is not False,
        max_l3_agents_per_router=args.max_l3_agents_per_router,
        router_distributed=args.router_distributed,
        agent_args=_agent_args(args),
        storage_hosts=args.storage_hosts,
        api_servers=args.api_servers,
        physnets=physnets,
    )
    supervisor.preflight(state)
    if args.detach:
        supervisor.run_detached(state, console)
    else:
        supervisor.run(state, console)
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    from kumo.lab import supervisor

    supervisor.down(
        Path(args.state_dir) if args.state_dir else None, name=args.lab, purge_state=args.purge
    )
    return 0


def cmd_labs(args: argparse.Namespace) -> int:
    from kumo.lab import registry

    table = Table(title="kumo labs")
    for col in ("name", "API", "supervisor", "state", "namespaces"):
        table.add_column(col)
    for e in registry.running():
        table.add_row(e.name, e.api_url, str(e.pid) + ("" if e.ready else " (starting)"),
                      e.state_dir, f"{e.prefix}*")  # fmt: skip
    Console().print(table)
    return 0


def api_target(number: str | None, servers: int) -> str:
    """The supervisor's name of API server ``number`` (1: the first, ``api``)."""
    if number is None or number == "1":
        return "api"
    if not number.isdigit() or not 1 <= int(number) <= servers:
        raise SystemExit(f"which API server? kumo lab stop api [1-{servers}]")
    return f"api{number}"


def cmd_control(args: argparse.Namespace) -> int:
    from kumo.lab import naming, registry, watchdog
    from kumo.lab.supervisor import LabState

    state_dir = lab_dir(args).resolve()
    state = LabState.load(state_dir)
    entry = registry.by_state_dir(state_dir)
    if state is None or entry is None:
        raise SystemExit(f"the lab in {state_dir} has no running supervisor")
    if args.process == "api":
        target = api_target(args.host, state.api_servers)
    else:
        if not args.host:
            raise SystemExit(
                f"which agent? kumo lab {args.op} agent HOST ({', '.join(state.host_names)})"
            )
        target = naming.host_alias(args.host, state.host_names)
    reply = watchdog.request(
        entry.control_socket,
        {"op": args.op, "target": target, "signal": getattr(args, "signal", "TERM")},
    )
    if not reply.get("ok"):
        raise SystemExit(str(reply.get("message")))
    Console().print(str(reply.get("message")), highlight=False)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from kumo.lab import supervisor
    from kumo.lab.instances import LabClient

    state_dir = lab_dir(args)
    client = LabClient(state_dir)
    console = Console()
    table = Table(title=f"kumo lab {client.state.name} ({client.url})")
    for col in ("host", "agent", "pid", "heartbeat", "instances"):
        table.add_column(col)
    instances = client.instances()
    for agent in supervisor.agents(state_dir.resolve(), client.url):
        mine = [p["name"] for p in instances if p["binding:host_id"] == agent["host"]]
        table.add_row(
            str(agent["host"]),
            "alive" if agent["alive"] else "DEAD",
            str(client.state.pids.get(str(agent["host"]), "-")),
            str(agent["heartbeat_timestamp"]),
            ", ".join(mine),
        )
    console.print(table)
    return 0


def cmd_instance_create(args: argparse.Namespace) -> int:
    from kumo.lab.instances import LabClient

    port = LabClient(lab_dir(args)).create(
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

    LabClient(lab_dir(args)).delete(args.name)
    return 0


def cmd_instance_list(args: argparse.Namespace) -> int:
    from kumo.lab.instances import LabClient

    table = Table()
    for col in ("name", "host", "addresses", "status", "port"):
        table.add_column(col)
    for p in LabClient(lab_dir(args)).instances():
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
        raise SystemExit(f"usage: {EXEC_USAGE}")
    client = LabClient(lab_dir(args))
    port = client.wait_ready(client.find(args.name, args.network))
    netns = names.instance_netns(port["binding:host_id"], port["id"])
    os.execvp("ip", ["ip", "netns", "exec", netns, *uts.command(netns, cmd)])
