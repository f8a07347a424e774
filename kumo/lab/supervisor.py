"""``kumo up`` / ``kumo down``: build the lab, run the API and one agent per
host, keep them running (``watchdog``), and remove everything the lab made.

``run`` is the lab's supervisor: it claims the lab's name in the registry
of running labs, builds the namespaces, starts the children and watches
them until SIGTERM or SIGINT (``kumo down`` from any shell, or Ctrl-C),
then stops them and removes what belongs to the lab: the namespaces
recorded in its state, its hosts' instance, router and metadata
namespaces, and its instances' guest files.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn
from rich.table import Table

from kumo.cli.serve import l3_arguments
from kumo.config import Settings
from kumo.identity.authbody import password_auth
from kumo.lab import naming, registry
from kumo.lab.topology import EXTERNAL_CIDR, UPSTREAM_IP, Topology, make
from kumo.lab.watchdog import Watchdog, spawn

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
    distributed_snat: bool = False
    max_l3_agents_per_router: int | None = None
    router_distributed: bool | None = None
    """Router settings passed to ``kumo serve`` (None: its default)."""
    agent_args: list[str] = field(default_factory=list)
    """Further arguments of every agent (HA beat timing, say)."""
    name: str = naming.DEFAULT_NAME
    host_names: list[str] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    """What ``kumo down`` removes: the lab's own namespaces, and those its
    hosts' agents made (recorded here so no other lab's are ever taken)."""
    supervisor_pid: int | None = None
    storage_hosts: int = 1
    """The first ``storage_hosts`` hosts also run a storage agent (one pool each)."""
    port_picked: bool = False
    """The port was picked by ``kumo up`` rather than asked for: a lab
    starting at the same moment may have picked it too, so the supervisor
    picks again if so when it registers."""
    api_servers: int = 1
    """API servers on the lab's database; more than one needs PostgreSQL
    (the lab starts its own when no ``database_url`` is given)."""
    more_api_urls: list[str] = field(default_factory=list)
    """The URLs of the API servers after the first (ports picked at start)."""
    own_postgres: bool = False
    """The lab started its own PostgreSQL (``kumo.lab.postgres``)."""
    physnets: dict[str, list[int]] = field(default_factory=dict)
    """Further physical networks (``kumo up --physnet``): the numbers of the
    hosts on each, which map it to a device of their own."""

    @property
    def api_urls(self) -> list[str]:
        """Every API server of the lab, the first one first."""
        return [self.api_url, *self.more_api_urls]

    def save(self) -> None:
        path = Path(self.state_dir) / STATE_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        os.replace(tmp, path)

    @property
    def port(self) -> int:
        return int(self.api_url.rsplit(":", 1)[1])

    def topology(self) -> Topology:
        stem = naming.host_stem(self.name, self.prefix)
        return make(self.hosts, self.prefix, stem, self.physnets)

    @classmethod
    def load(cls, state_dir: Path) -> LabState | None:
        path = state_dir / STATE_FILE
        if not path.exists():
            return None
        return cls(**json.loads(path.read_text()))


def kumo_command() -> list[str]:
    exe = Path(sys.executable).parent / "kumo"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "kumo.cli.main"]


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
    from kumo.runtime import Runtime

    runtime = Runtime.open(Settings(state_dir=state_dir, database_url=database_url), migrate=False)
    try:
        for host in hosts:
            made = runtime.identity.enroll_agent(host)
            creds = Credentials(f"{url}/identity/v3", made.user_name, made.password)
            credentials.write(credentials.path_for(host, state_dir / "agents"), host, creds)
    finally:
        runtime.close()


def new_state(
    name: str,
    state_dir: Path,
    *,
    hosts: int = 3,
    port: int | None = None,
    prefix: str | None = None,
    database_url: str | None = None,
    gateways: int = 1,
    l3_ha: bool = False,
    distributed_snat: bool = False,
    max_l3_agents_per_router: int | None = None,
    router_distributed: bool | None = None,
    agent_args: list[str] | None = None,
    storage_hosts: int = 1,
    api_servers: int = 1,
    physnets: dict[str, list[int]] | None = None,
) -> LabState:
    """What ``kumo up`` was asked for, with the names the lab's name decides."""
    prefix = prefix or naming.prefix_for(name)
    picked = port is None and name != naming.DEFAULT_NAME
    if port is None:
        port = naming.DEFAULT_PORT if name == naming.DEFAULT_NAME else free_port()
    state = LabState(
        prefix=prefix,
        hosts=hosts,
        api_url=f"http://127.0.0.1:{port}",
        port_picked=picked,
        state_dir=str(state_dir.resolve()),
        database_url=database_url,
        gateways=max(0, min(gateways, hosts)),
        l3_ha=l3_ha,
        distributed_snat=distributed_snat,
        max_l3_agents_per_router=max_l3_agents_per_router,
        router_distributed=router_distributed,
        agent_args=list(agent_args or ()),
        name=name,
        storage_hosts=max(0, min(storage_hosts, hosts)),
        api_servers=max(1, api_servers),
        physnets={k: list(v) for k, v in (physnets or {}).items()},
    )
    topo = state.topology()
    state.host_names = [h.name for h in topo.hosts]
    state.namespaces = list(topo.namespaces)
    return state


def port_free(port: int) -> bool:
    """Whether the API could listen on ``port`` (as uvicorn binds it)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(mine: str | None = None) -> int:
    """The first port from 8081 that no running lab (other than ``mine``)
    holds and nothing listens on."""
    taken = {e.api_url.rsplit(":", 1)[-1] for e in registry.running() if e.name != mine}
    for port in range(naming.FIRST_PORT, naming.FIRST_PORT + 1000):
        if str(port) not in taken and port_free(port):
            return port
    raise SystemExit(f"no free port from {naming.FIRST_PORT}: choose one with --port")


def preflight(state: LabState) -> None:
    """Refuse, before anything is built, a lab that would collide with a
    running one or find its port taken."""
    held = registry.get(state.name)
    if held is not None:
        raise SystemExit(
            f"a lab named {state.name!r} is running already: {held.describe()}.\n"
            f"Stop it with `kumo down --name {state.name}`, or start another with --name NAME."
        )
    other = registry.by_state_dir(Path(state.state_dir))
    if other is not None:
        raise SystemExit(
            f"state directory {state.state_dir} belongs to the running {other.describe()}"
        )
    if not port_free(state.port):
        by = registry.by_port(state.port)
        holder = f" by the running {by.describe()}" if by else ""
        raise SystemExit(
            f"port {state.port} is in use{holder}: choose another with --port P "
            f"(or start the lab under another --name, which picks a free port)"
        )


class _Interrupted(BaseException):
    """SIGTERM or SIGINT while the lab is being built."""


class _StopSignals:
    """SIGTERM, SIGINT and SIGHUP (the lab's terminal closed): abort the
    build (raise) or end the watch (flag); ignored once the lab is being
    taken down, so clean-up always finishes."""

    def __init__(self) -> None:
        self.mode = "raise"
        self.flag = False
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._handler)

    def _handler(self, signum: int, _frame: object) -> None:
        if self.mode == "ignore":
            return
        self.flag = True
        if self.mode == "raise":
            raise _Interrupted(signum)

    def requested(self) -> bool:
        return self.flag


def _notifier(state: LabState, console: Console) -> Callable[[str], None]:
    log = Path(state.state_dir) / "logs" / "supervisor.log"
    log.parent.mkdir(parents=True, exist_ok=True)

    def note(message: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        with open(log, "a") as f:
            f.write(f"{stamp} {message}\n")
        try:
            console.print(f"[dim]{stamp[11:]}[/] {message}", highlight=False)
        except OSError:
            pass  # the lab's terminal is gone; the log has it

    return note


def register(state: LabState) -> registry.Entry:
    """Enter the lab in the machine's registry under this process, first
    picking its port again if ``kumo up`` picked one that a lab starting at
    the same moment has registered since."""
    with registry.locked():
        if state.port_picked:
            state.api_url = f"http://127.0.0.1:{free_port(state.name)}"
        entry = registry.Entry(
            state.name, os.getpid(), state.state_dir, state.prefix, state.api_url
        )
        held = registry.claim(entry)
    if held is not None:
        raise SystemExit(f"a lab named {state.name!r} is running already: {held.describe()}")
    return entry


def run(state: LabState, console: Console, *, print_summary: bool = True) -> None:
    """The lab's supervisor: build the lab, start and watch its processes
    until SIGTERM or SIGINT, then remove everything it made."""
    if os.geteuid() != 0:
        raise SystemExit("kumo up builds network namespaces and needs root")
    state_dir = Path(state.state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    state.supervisor_pid = os.getpid()
    entry = register(state)
    signals = _StopSignals()
    note = _notifier(state, console)

    def recorded(pids: dict[str, int]) -> None:
        state.pids.update(pids)
        state.save()

    watchdog = Watchdog(note=note, on_change=recorded)
    try:
        old = LabState.load(state_dir)
        if old is not None:
            cleanup(old)  # a lab that ended without cleaning up
        state.save()
        up(state, console, watchdog)
        watchdog.listen(registry.control_socket(state.name))
        registry.write(replace(entry, ready=True))
        if print_summary:
            summary(state, state.topology(), console)
        console.print(
            "[dim]The supervisor restarts a crashed agent or API server. Ctrl-C, or "
            f"`kumo down{_name_option(state)}` from any shell, stops the lab and removes "
            "everything it created.[/]"
        )
        signals.mode = "flag"
        if not signals.flag:
            watchdog.run(signals.requested)
    except _Interrupted:
        pass
    finally:
        signals.mode = "ignore"
        began = time.monotonic()
        watchdog.stop_all()
        stopped = time.monotonic() - began
        processes, removed = cleanup(state)
        registry.remove(state.name, os.getpid())
        note(
            f"lab {state.name} down: stopped {len(watchdog.children) + processes} processes "
            f"({stopped:.1f} s), removed {len(removed)} namespaces "
            f"({time.monotonic() - began:.1f} s in all)"
        )


def _name_option(state: LabState) -> str:
    return "" if state.name == naming.default_name() else f" --name {state.name}"


def run_detached(state: LabState, console: Console, timeout: float = 300) -> None:
    """``kumo up --detach``: the supervisor goes on in a process of its own
    (its output in logs/supervisor.out); return once the lab is up."""
    out = Path(state.state_dir) / "logs" / "supervisor.out"
    out.parent.mkdir(parents=True, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the forked supervisor
        code = 1
        try:
            os.setsid()
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            null = os.open(os.devnull, os.O_RDONLY)
            os.dup2(null, 0)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            run(state, Console(file=sys.stdout, width=120), print_summary=False)
            code = 0
        except SystemExit as exc:
            print(exc, flush=True)
        except BaseException:
            import traceback

            traceback.print_exc()
        finally:
            sys.stdout.flush()
            os._exit(code)
    try:
        _wait_started(state, child, out, timeout)
    except KeyboardInterrupt:
        os.kill(child, signal.SIGTERM)  # the supervisor takes down what it built
        raise SystemExit("interrupted: the lab is being taken down") from None
    loaded = LabState.load(Path(state.state_dir)) or state
    summary(loaded, loaded.topology(), console)
    console.print(
        f"[dim]supervisor pid {child} (log {out}); `kumo down{_name_option(state)}` stops the lab.[/]"
    )


def _wait_started(state: LabState, child: int, out: Path, timeout: float) -> None:
    """Until the detached supervisor ``child`` registers its lab as ready."""
    deadline = time.monotonic() + timeout
    while True:
        done, _status = os.waitpid(child, os.WNOHANG)
        if done:
            tail = out.read_text(errors="replace")[-3000:] if out.exists() else ""
            raise SystemExit(f"the lab did not start; see {out}:\n{tail}")
        entry = registry.get(state.name)
        if entry is not None and entry.pid == child and entry.ready:
            break
        if time.monotonic() > deadline:
            os.kill(child, signal.SIGTERM)
            raise SystemExit(f"the lab did not start in {timeout:.0f} s; see {out}")
        time.sleep(0.1)


def up(state: LabState, console: Console, watchdog: Watchdog) -> None:
    """Build the namespaces, start the API and the agents (handed to
    ``watchdog``), create the agents' credentials and the network ``public``."""
    state_dir = Path(state.state_dir)
    topo = state.topology()
    url = state.api_url
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), console=console, transient=True
    ) as progress:
        task = progress.add_task("building namespaces")
        from kumo.lab import build  # the data plane's names: imported when used

        build.create(topo)
        if state.api_servers > 1 and not state.database_url:
            progress.update(task, description="starting PostgreSQL")
            from kumo.lab import postgres

            state.own_postgres = True
            state.database_url = postgres.start(state.name, _any_free_port())
            state.save()
        progress.update(task, description="starting the API")
        api = start_api_process(state)
        watchdog.adopt(
            "api", lambda: api_command(state), api_log(state), api,
            ready=lambda proc: _wait_healthy(state.api_url, proc, api_log(state)),
        )  # fmt: skip
        state.more_api_urls = []
        for n in range(2, state.api_servers + 1):
            progress.update(task, description=f"starting API server {n}")
            state.more_api_urls.append(f"http://127.0.0.1:{_any_free_port()}")
            key, more = f"api{n}", state.api_urls[n - 1]
            proc = spawn(api_command(state, n - 1), api_log(state, n - 1))
            state.pids[key] = proc.pid
            state.save()
            _wait_healthy(more, proc, api_log(state, n - 1))
            watchdog.adopt(
                key, lambda i=n - 1: api_command(state, i), api_log(state, n - 1), proc,  # type: ignore[misc]
                ready=lambda p, u=more, i=n - 1: _wait_healthy(u, p, api_log(state, i)),  # type: ignore[misc]
            )  # fmt: skip
        _update_clouds_url(state_dir, url)
        progress.update(task, description="creating agent credentials")
        _agent_credentials(state_dir, url, state.database_url, [h.name for h in topo.hosts])
        for host in topo.hosts:
            progress.update(task, description=f"starting the agent of {host.name}")
            proc = spawn(agent_command(state, host.name), agent_log(state, host.name))
            watchdog.adopt(
                host.name,
                lambda h=host.name: agent_command(state, h),  # type: ignore[misc]
                agent_log(state, host.name),
                proc,
            )
            state.pids[host.name] = proc.pid
            state.save()
        for host in topo.hosts[: state.storage_hosts]:
            key = storage_key(host.name)
            progress.update(task, description=f"starting the storage agent of {host.name}")
            proc = spawn(storage_agent_command(state, host.name), agent_log(state, key))
            watchdog.adopt(
                key,
                lambda h=host.name: storage_agent_command(state, h),  # type: ignore[misc]
                agent_log(state, key),
                proc,
            )
            state.pids[key] = proc.pid
            state.save()
        progress.update(task, description="waiting for agents to report")
        _wait_agents(state_dir, url, {h.name for h in topo.hosts})
        progress.update(task, description="creating the external network public")
        _public_network(state_dir, url)


def _update_clouds_url(state_dir: Path, url: str) -> None:
    """Point every cloud of the lab's clouds.yaml at this start's port (a
    lab kept in its state directory may come back on another one)."""
    import yaml

    path = state_dir / "clouds.yaml"
    if not path.exists():
        return
    data = yaml.safe_load(path.read_text()) or {}
    changed = False
    for cloud in (data.get("clouds") or {}).values():
        auth = cloud.get("auth") or {}
        want = f"{url}/identity/v3"
        if auth.get("auth_url") not in (None, want):
            auth["auth_url"] = want
            changed = True
    if changed:
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            yaml.safe_dump(data, f, sort_keys=False)
        os.replace(tmp, path)


def api_log(state: LabState, index: int = 0) -> Path:
    """The log of the lab's first API server, or of the one at ``index``."""
    return Path(state.state_dir) / "logs" / ("api.log" if index == 0 else f"api{index + 1}.log")


def _any_free_port() -> int:
    """A port nothing listens on, as the kernel picks it (the lab's extra servers, PostgreSQL)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def agent_log(state: LabState, host_name: str) -> Path:
    return Path(state.state_dir) / "logs" / f"agent-{host_name}.log"


def api_command(state: LabState, index: int = 0) -> list[str]:
    """The command line of the lab's API server at ``index`` (all share the
    state directory: the images, and the first one's clouds.yaml)."""
    port = state.api_urls[index].rsplit(":", 1)[1]
    cmd = [*kumo_command(), "serve", "--state-dir", state.state_dir, "--port", port]
    if state.database_url:
        cmd += ["--database-url", state.database_url]
    for physnet in state.physnets:
        cmd += ["--physical-network", physnet]
    return cmd + l3_arguments(
        state.l3_ha,
        state.max_l3_agents_per_router,
        state.distributed_snat,
        state.router_distributed,
    )


def start_api_process(state: LabState) -> subprocess.Popen[bytes]:
    """Start the lab's API server and wait until it answers."""
    api = spawn(api_command(state), api_log(state))
    state.pids["api"] = api.pid
    state.save()
    _wait_healthy(state.api_url, api, api_log(state))
    return api


def agent_command(state: LabState, host_name: str) -> list[str]:
    """The command line of the agent of one lab host."""
    topo = state.topology()
    host = next(h for h in topo.hosts if h.name == host_name)
    cmd = [
        *kumo_command(), "agent", "--host", host.name, "--netns", host.netns,
        "--api", ",".join(state.api_urls), "--tunnel-ip", host.tunnel_ip,
        "--underlay-dev", host.underlay_dev,
        "--state-dir", str(Path(state.state_dir) / "agents"),
    ]  # fmt: skip
    if Settings().metrics:  # KUMO_METRICS=0 in the lab's environment: no metrics port
        cmd += ["--metrics-port", "0"]  # any free port; its address in agents/HOST.metrics
    for physnet, dev in host.bridge_mappings.items():
        cmd += ["--bridge-mapping", f"{physnet}:{dev}"]
    if host.index > state.hosts - state.gateways:
        cmd.append("--gateway")
    return cmd + state.agent_args


STORAGE_POOL_GB = 100
"""The capacity of each lab storage host's pool (thin: it takes only what is written)."""


def storage_key(host_name: str) -> str:
    """The supervisor's name for the storage agent of a host."""
    return f"storage-{host_name}"


def storage_agent_command(state: LabState, host_name: str) -> list[str]:
    """The command line of a lab host's storage agent: one pool, ``pool1``,
    in the state directory (its host's agent credential speaks for it)."""
    pool = Path(state.state_dir) / "storage" / host_name / "pool1"
    host = next(h for h in state.topology().hosts if h.name == host_name)
    return [
        *kumo_command(), "storage-agent", "--host", host_name, "--api", state.api_url,
        "--pool", f"pool1:{pool}:{STORAGE_POOL_GB}",
        "--state-dir", str(Path(state.state_dir) / "agents"),
        "--netns", host.netns, "--export-address", host.tunnel_ip,
        "--run-dir", str(Path(state.state_dir) / "storage" / host_name / "run"),
    ]  # fmt: skip


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
    table = Table(title=f"kumo lab {state.name}")
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
    for i, more in enumerate(state.more_api_urls, start=1):
        console.print(
            f"API server {i + 1}: [bold]{more}[/] (pid {state.pids.get(f'api{i + 1}')}, log "
            f"{api_log(state, i)}); the agents name every server, database {state.database_url}",
            highlight=False,
            soft_wrap=True,
        )
    console.print(
        f"dashboard: [bold]{state.api_url.rstrip('/')}/dashboard[/] (log in as the admin of "
        f"{clouds}, or any user: username, password, project)",
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"upstream: namespace {topo.upstream} at 203.0.113.1 on the external segment")
    for seg in topo.physnets:
        on = [h for h in topo.hosts if h.index in seg.hosts]
        devs = ", ".join(f"{h.name} {dict(h.more_physnets)[seg.name]}" for h in on)
        console.print(f"physical network {seg.name}: namespace {seg.netns} ({devs})")
    console.print(
        f"export OS_CLIENT_CONFIG_FILE={clouds} OS_CLOUD=kumo", highlight=False, soft_wrap=True
    )


def lab_processes(state_dir: Path) -> list[int]:
    """Every running ``kumo serve``, ``kumo agent`` or ``kumo storage-agent`` of the lab whose state
    is in ``state_dir``: those the supervisor started, and any started by
    hand with the lab's arguments (they would keep its port or its hosts)."""
    root = str(state_dir.resolve())
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if not any(a.endswith("kumo") or "kumo.cli.main" in a for a in argv[:3]):
            continue
        if "serve" not in argv and "agent" not in argv and "storage-agent" not in argv:
            continue
        if any(a == root or a.startswith(root + "/") for a in argv):
            found.append(int(entry))
    return found


def stop_lab_processes(state_dir: Path) -> int:
    """SIGTERM every process of ``lab_processes``; SIGKILL what is left after 2 s."""
    pids = lab_processes(state_dir)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 2
    left = pids
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if registry.alive(p)]
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return len(pids)


def stop_volume_daemons(state_dir: Path) -> int:
    """The lab's volume plugs unmounted and their daemons stopped, then its
    storage hosts' daemons (they outlive their agents); how many."""
    from kumo.agent.volumes import cleanup_under
    from kumo.storage.daemon import StorageDaemon

    done = cleanup_under(state_dir / "agents" / "volumes")
    storage = state_dir / "storage"
    for run in storage.glob("*/run") if storage.is_dir() else []:
        daemon = StorageDaemon(run, "")
        if daemon.pid() is not None:
            daemon.stop()
            done += 1
    return done


def cleanup(state: LabState) -> tuple[int, list[str]]:
    """Remove what belongs to the lab of ``state``: its processes, its
    recorded namespaces and those of its hosts, its instances' guest files;
    then its ``lab.json``. The state directory itself stays."""
    state_dir = Path(state.state_dir)
    processes = stop_lab_processes(state_dir)
    processes += stop_volume_daemons(state_dir)
    if state.own_postgres:
        from kumo.lab import postgres

        postgres.stop(state.name)
    topo = state.topology()
    namespaces = state.namespaces or list(topo.namespaces)
    host_names = state.host_names or [h.name for h in topo.hosts]
    from kumo.lab import build

    removed = build.destroy_named(namespaces, host_names)
    build.remove_guest_files(host_names)
    (state_dir / STATE_FILE).unlink(missing_ok=True)
    return processes, removed


def purge(state_dir: Path) -> bool:
    """Remove a lab's state directory (database, admin password, logs)."""
    state_dir = state_dir.resolve()
    if not state_dir.is_dir():
        return False
    known = {"clouds.yaml", "logs", "agents", STATE_FILE, "kumo.db"}
    if state_dir == Path("/") or not known & {p.name for p in state_dir.iterdir()}:
        raise SystemExit(f"{state_dir} does not look like a lab's state directory; not removed")
    shutil.rmtree(state_dir)
    return True


def down(
    state_dir: Path | None = None,
    *,
    name: str | None = None,
    purge_state: bool = False,
    console: Console | None = None,
    quiet: bool = False,
    timeout: float = 10,
) -> None:
    """Stop a lab from any shell: signal its supervisor (which stops its
    processes and removes its namespaces) and wait for it; clean up
    whatever a lab without a live supervisor left."""
    console = console or Console()
    if state_dir is not None:
        state_dir = state_dir.resolve()
        entry = registry.by_state_dir(state_dir)
    else:
        name = name or naming.default_name()
        entry = registry.get(name)
        state_dir = (Path(entry.state_dir) if entry else naming.state_dir_for(name)).resolve()
    supervised = 0
    before = LabState.load(state_dir)  # the supervisor removes it as it ends
    if entry is not None:
        try:
            os.kill(entry.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + timeout
        while registry.alive(entry.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        if registry.alive(entry.pid):
            console.print(
                f"the supervisor (pid {entry.pid}) did not stop in {timeout:.0f} s: killed"
            )
            os.kill(entry.pid, signal.SIGKILL)
        registry.remove(entry.name, entry.pid)
        supervised = 1
    state = LabState.load(state_dir)
    processes, removed = 0, list[str]()
    if state is not None:
        processes, removed = cleanup(state)
    else:
        processes = stop_lab_processes(state_dir)
        if entry is None and name is not None:
            from kumo.lab import build

            removed = build.destroy_leftovers(naming.prefix_for(name), name)
    own = [s for s in (before, state) if s is not None and s.own_postgres]
    if purge_state and own:
        from kumo.lab import postgres

        postgres.remove(own[0].name)
    purged = purge_state and purge(state_dir)
    if quiet:
        return
    what = [f"lab {entry.name if entry else name or state_dir} down"]
    if supervised:
        what.append(f"supervisor {entry.pid if entry else ''} stopped")
    if processes:
        what.append(f"stopped {processes} processes")
    if removed:
        what.append(f"removed {len(removed)} namespaces")
    if purged:
        what.append(f"removed {state_dir}")
    elif state_dir.is_dir():
        what.append(f"state kept in {state_dir} (--purge removes it)")
    console.print(
        what[0] + (": " + ", ".join(what[1:]) if what[1:] else ""), highlight=False, soft_wrap=True
    )


def control(state_dir: Path, op: str, target: str, sig: str = "TERM") -> str:
    """Ask the supervisor of the lab in ``state_dir`` to ``stop``, ``start``
    or ``restart`` one of its processes (``api`` or a host's name)."""
    from kumo.lab.watchdog import request

    entry = registry.by_state_dir(state_dir)
    if entry is None:
        raise RuntimeError(f"the lab in {state_dir} has no running supervisor")
    reply = request(entry.control_socket, {"op": op, "target": target, "signal": sig})
    if not reply.get("ok"):
        raise RuntimeError(str(reply.get("message")))
    return str(reply.get("message"))


def wait_restarted(state_dir: Path, key: str, old_pid: int, timeout: float = 30) -> int:
    """The pid of ``key`` once the supervisor has replaced ``old_pid``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = LabState.load(state_dir)
        pid = state.pids.get(key) if state else None
        if pid and pid != old_pid and registry.alive(pid):
            return pid
        time.sleep(0.05)
    raise RuntimeError(f"{key} was not restarted in {timeout:.0f} s")
