"""``kumo up`` / ``kumo down``: build the lab, run the API and one agent per host."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table

from kumo.cli.serve import l3_arguments
from kumo.identity.authbody import password_auth
from kumo.lab import build
from kumo.lab.topology import EXTERNAL_CIDR, UPSTREAM_IP, Topology, make

STATE_FILE = "lab.json"


@dataclass
class LabState:
    prefix: str
    hosts: int
    api_url: str
    state_dir: str
    pids: dict[str, int] = field(default_factory=dict)
    database_url: str | None = None
    gateways: int = 1
    """The last ``gateways`` hosts run with the gateway role."""
    l3_ha: bool = False
    max_l3_agents_per_router: int | None = None
    """Router settings passed to ``kumo serve`` (None: its default)."""
    agent_args: list[str] = field(default_factory=list)
    """Further arguments of every agent (HA beat timing, say)."""

    def save(self) -> None:
        path = Path(self.state_dir) / STATE_FILE
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, state_dir: Path) -> LabState | None:
        path = state_dir / STATE_FILE
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text()))


def kumo_command() -> list[str]:
    exe = Path(sys.executable).parent / "kumo"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "kumo.cli.main"]


def _spawn(cmd: list[str], log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    out = open(log, "ab")  # noqa: SIM115 - handed to the child
    return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the API server exited; see {log}:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the API server did not answer on {url}; see {log}")


def _agent_credentials(
    state_dir: Path, url: str, database_url: str | None, hosts: list[str]
) -> None:
    """Enrol each host: its agent's own credential (role service only) where it looks for it."""
    from kumo.agent import credentials
    from kumo.agent.config import Credentials
    from kumo.config import Settings
    from kumo.runtime import Runtime

    runtime = Runtime.open(Settings(state_dir=state_dir, database_url=database_url), migrate=False)
    try:
        for host in hosts:
            made = runtime.identity.enroll_agent(host)
            creds = Credentials(f"{url}/identity/v3", made.user_name, made.password)
            credentials.write(credentials.path_for(host, state_dir / "agents"), host, creds)
    finally:
        runtime.close()


def up(
    state_dir: Path,
    *,
    hosts: int = 3,
    port: int = 8080,
    prefix: str = "klab-",
    database_url: str | None = None,
    console: Console | None = None,
    gateways: int = 1,
    l3_ha: bool = False,
    max_l3_agents_per_router: int | None = None,
    agent_args: list[str] | None = None,
) -> LabState:
    console = console or Console()
    if os.geteuid() != 0:
        raise SystemExit("kumo up builds network namespaces and needs root")
    state_dir = state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    old = LabState.load(state_dir)
    if old is not None:
        down(state_dir, console=console, quiet=True)
    topo = make(hosts, prefix)
    url = f"http://127.0.0.1:{port}"
    state = LabState(
        prefix=prefix,
        hosts=hosts,
        api_url=url,
        state_dir=str(state_dir),
        database_url=database_url,
        gateways=max(0, min(gateways, hosts)),
        l3_ha=l3_ha,
        max_l3_agents_per_router=max_l3_agents_per_router,
        agent_args=list(agent_args or ()),
    )
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), console=console, transient=True
    ) as progress:
        task = progress.add_task("building namespaces")
        build.create(topo)
        progress.update(task, description="starting the API")
        start_api(state)
        progress.update(task, description="creating agent credentials")
        _agent_credentials(state_dir, url, database_url, [h.name for h in topo.hosts])
        for host in topo.hosts:
            progress.update(task, description=f"starting the agent of {host.name}")
            state.pids[host.name] = start_agent(state, host.name)
            state.save()
        progress.update(task, description="waiting for agents to report")
        _wait_agents(state_dir, url, {h.name for h in topo.hosts})
        progress.update(task, description="creating the external network public")
        _public_network(state_dir, url)
    summary(state, topo, console)
    return state


def start_api(state: LabState) -> int:
    """Start the lab's API server, wait until it answers, record its pid."""
    port = state.api_url.rsplit(":", 1)[1]
    cmd = [*kumo_command(), "serve", "--state-dir", state.state_dir, "--port", port]
    if state.database_url:
        cmd += ["--database-url", state.database_url]
    cmd += l3_arguments(state.l3_ha, state.max_l3_agents_per_router)
    log = Path(state.state_dir) / "logs" / "api.log"
    api = _spawn(cmd, log)
    state.pids["api"] = api.pid
    state.save()
    _wait_healthy(state.api_url, api, log)
    return api.pid


def agent_command(state: LabState, host_name: str) -> list[str]:
    """The command line of the agent of one lab host."""
    topo = make(state.hosts, state.prefix)
    host = next(h for h in topo.hosts if h.name == host_name)
    cmd = [
        *kumo_command(), "agent", "--host", host.name, "--netns", host.netns,
        "--api", state.api_url, "--tunnel-ip", host.tunnel_ip,
        "--underlay-dev", host.underlay_dev,
        "--state-dir", str(Path(state.state_dir) / "agents"),
    ]  # fmt: skip
    for physnet, dev in host.bridge_mappings.items():
        cmd += ["--bridge-mapping", f"{physnet}:{dev}"]
    if host.index > state.hosts - state.gateways:
        cmd.append("--gateway")
    return cmd + state.agent_args


def start_agent(state: LabState, host_name: str) -> int:
    log = Path(state.state_dir) / "logs" / f"agent-{host_name}.log"
    return _spawn(agent_command(state, host_name), log).pid


def _public_network(state_dir: Path, url: str) -> None:
    """The admin's external network ``public`` on the lab's external
    segment (flat, physical network ``external``), unless it exists; the
    default external network, so servers booted with ``networks: auto``
    get an auto-allocated topology routed to it."""
    token = _admin_token(state_dir, url)
    api = httpx.Client(
        base_url=f"{url}/networking/v2.0", headers={"X-Auth-Token": token}, timeout=30
    )
    if api.get("/networks", params={"name": "public"}).json()["networks"]:
        return
    net = api.post(
        "/networks",
        json={
            "network": {
                "name": "public",
                "router:external": True,
                "is_default": True,
                "provider:network_type": "flat",
                "provider:physical_network": "external",
                "mtu": 1500,
            }
        },
    )
    net.raise_for_status()
    subnet = api.post(
        "/subnets",
        json={
            "subnet": {
                "name": "public-subnet",
                "network_id": net.json()["network"]["id"],
                "ip_version": 4,
                "cidr": EXTERNAL_CIDR,
                "gateway_ip": UPSTREAM_IP,
                "enable_dhcp": False,
                "allocation_pools": [{"start": "203.0.113.10", "end": "203.0.113.250"}],
            }
        },
    )
    subnet.raise_for_status()


def _admin_token(state_dir: Path, url: str) -> str:
    import yaml

    path = state_dir / "clouds.yaml"
    clouds = yaml.safe_load(path.read_text())["clouds"] if path.exists() else {}
    if "kumo" not in clouds:
        raise RuntimeError(
            f"{path} has no admin credentials (cloud 'kumo'): the database's admin user "
            f"was made by another API server, which wrote them; see {state_dir}/logs/api.log"
        )
    auth = clouds["kumo"]["auth"]
    body = password_auth(auth["username"], auth["password"], project_name=auth["project_name"])
    r = httpx.post(f"{url}/identity/v3/auth/tokens?nocatalog", json=body, timeout=10)
    r.raise_for_status()
    return r.headers["X-Subject-Token"]


def agents(state_dir: Path, url: str) -> list[dict[str, object]]:
    token = _admin_token(state_dir, url)
    r = httpx.get(f"{url}/networking/v2.0/agents", headers={"X-Auth-Token": token}, timeout=10)
    r.raise_for_status()
    return list(r.json()["agents"])


def _wait_agents(state_dir: Path, url: str, hosts: set[str], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = {a["host"] for a in agents(state_dir, url) if a["alive"]}
        if hosts <= alive:
            return
        time.sleep(0.2)
    raise RuntimeError(f"agents did not register in {timeout:.0f}s; see {state_dir}/logs")


def summary(state: LabState, topo: Topology, console: Console) -> None:
    clouds = Path(state.state_dir) / "clouds.yaml"
    table = Table(title="kumo lab")
    for col in ("host", "namespace", "VTEP", "agent pid", "log"):
        table.add_column(col)
    for host in topo.hosts:
        table.add_row(
            host.name, host.netns, host.tunnel_ip, str(state.pids.get(host.name, "-")),
            f"{state.state_dir}/logs/agent-{host.name}.log",
        )  # fmt: skip
    console.print(table)
    console.print(
        f"API: [bold]{state.api_url}[/] (pid {state.pids.get('api')}, log {state.state_dir}/logs/api.log)"
    )
    console.print(f"upstream: namespace {topo.upstream} at 203.0.113.1 on the external segment")
    console.print(f"export OS_CLIENT_CONFIG_FILE={clouds} OS_CLOUD=kumo")


def _stop(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    except PermissionError:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def down(
    state_dir: Path, *, console: Console | None = None, quiet: bool = False, prefix: str = "klab-"
) -> None:
    console = console or Console()
    state_dir = state_dir.resolve()
    state = LabState.load(state_dir)
    hosts = state.hosts if state else 3
    prefix = state.prefix if state else prefix
    if state:
        for name, pid in state.pids.items():
            if name != "api":
                _stop(pid)
        if "api" in state.pids:
            _stop(state.pids["api"])
    topo = make(max(hosts, 1), prefix)
    removed = build.destroy(topo)
    removed += [ns for ns in build.existing_namespaces() if ns.startswith(prefix)]
    for ns in removed:
        build.ip("netns", "delete", ns, check=False)
    if state:
        (state_dir / STATE_FILE).unlink(missing_ok=True)
    if not quiet:
        console.print(
            f"lab down: stopped {len(state.pids) if state else 0} processes, removed {len(set(removed))} namespaces"
        )


def wait_forever(state_dir: Path, console: Console) -> None:
    stop = {"flag": False}

    def handler(*_: object) -> None:
        stop["flag"] = True

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    console.print("[dim]Ctrl-C stops the lab and removes everything it created.[/]")
    while not stop["flag"]:
        time.sleep(0.2)
    down(state_dir, console=console)
