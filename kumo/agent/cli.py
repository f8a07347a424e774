"""``kumo agent``: run the host agent; ``kumo agent enroll``: give a host's agent its credential."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from kumo.agent import credentials as agent_credentials
from kumo.agent import memory
from kumo.agent.config import VM_ROOT, AgentConfig, Credentials
from kumo.ha.liveness import LivenessSettings

if TYPE_CHECKING:
    from collections.abc import Callable

    from kumo.agent.client import ApiClient
    from kumo.agent.console_server import ConsoleServer
    from kumo.ha.seal import ClusterKey
    from kumo.telemetry.agent import AgentMetrics, MetricsServer

log = logging.getLogger("kumo.agent")


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("agent", help="run the agent of one hypervisor host")
    p.add_argument("--host", help="host name (binding:host_id of its ports); required")
    p.add_argument(
        "--api",
        help="API base URL, e.g. http://127.0.0.1:8080, or several of one cloud, comma-separated"
        " (the agent moves to the next when one fails); required",
    )
    p.add_argument(
        "--credentials",
        type=Path,
        default=None,
        help="the host's credential from `kumo agent enroll` (default: HOST.credentials.json "
        "in the state directory when there is one, else --clouds-yaml or OS_* variables)",
    )
    p.add_argument("--netns", default=None, help="namespace that is this host (lab)")
    p.add_argument("--tunnel-ip", default=None, help="VTEP address on the underlay")
    p.add_argument("--underlay-dev", default=None, help="underlay interface for VXLAN")
    p.add_argument(
        "--bridge-mapping",
        action="append",
        default=[],
        metavar="PHYSNET:DEV",
        help="physical network to interface (repeatable)",
    )
    p.add_argument(
        "--bandwidth",
        action="append",
        default=[],
        metavar="PHYSNET:KBPS[:KBPS]",
        help="bandwidth a physical network offers to ports' minimum bandwidth rules, egress "
        "and ingress (one figure: both), in kilobits per second (repeatable)",
    )
    p.add_argument(
        "--packet-rate",
        default=None,
        metavar="KPPS|EGR:IGR",
        help="packet rate the host's switch offers to ports' minimum packet rate rules, in "
        "thousands of packets per second: one figure for both directions together (rules "
        "with direction any), or egress:ingress (rules with a direction)",
    )
    p.add_argument("--clouds-yaml", default=os.environ.get("OS_CLIENT_CONFIG_FILE"))
    p.add_argument("--cloud", default=os.environ.get("OS_CLOUD", "kumo-agent"))
    p.add_argument("--resync-interval", type=float, default=60.0)
    p.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="where the agent keeps what it remembers across restarts (default /run/kumo/agents)",
    )
    p.add_argument(
        "--slow-pass",
        type=float,
        default=float(os.environ.get("KUMO_AGENT_SLOW_PASS", "0.2")),
        help="log the time breakdown of passes slower than this many seconds",
    )
    p.add_argument(
        "--no-dhcp",
        action="store_true",
        help="do not answer DHCP for this host's ports",
    )
    p.add_argument(
        "--no-metadata",
        action="store_true",
        help="do not answer 169.254.169.254 and fe80::a9fe:a9fe for this host's instances",
    )
    p.add_argument(
        "--no-dns",
        action="store_true",
        help="do not answer DNS on 169.254.169.254 and fe80::a9fe:a9fe for this host's instances",
    )
    p.add_argument(
        "--vm-dir",
        default=None,
        help="where this host's VMs keep their state (default /run/kumo/vms/HOST when "
        "qemu-system-x86_64 is installed; 'none': no QEMU driver)",
    )
    p.add_argument(
        "--image-cache",
        type=Path,
        default=Path("/var/cache/kumo/images"),
        help="image bundles for VMs, by hash (default /var/cache/kumo/images)",
    )
    p.add_argument(
        "--vm-memory-mb",
        type=int,
        default=None,
        help="RAM given to a VM at most, whatever its flavor says (default: the flavor's)",
    )
    p.add_argument("--vcpus", type=int, default=None, help="vCPUs offered (default: the host's)")
    p.add_argument(
        "--memory-mb", type=int, default=None, help="RAM offered in MB (default: the host's)"
    )
    p.add_argument(
        "--gateway",
        action="store_true",
        help="this host may hold routers' external gateways and SNAT",
    )
    p.add_argument(
        "--ha-interval",
        type=float,
        default=LivenessSettings.interval,
        help="seconds between liveness beats to the other hosts",
    )
    p.add_argument(
        "--ha-hold",
        type=float,
        default=LivenessSettings.hold,
        help="a host is dead after this many seconds without a beat",
    )
    p.add_argument(
        "--ha-lease",
        type=float,
        default=None,
        help="seconds a gateway stays open after its last beat (default: 0.8 x hold)",
    )
    p.add_argument("--ha-port", type=int, default=LivenessSettings.port, help="UDP port of beats")
    p.add_argument(
        "--ha-preempt",
        action="store_true",
        help="take HA routers back when this host returns (default: no preemption)",
    )
    p.add_argument(
        "--no-ha-state-sync",
        action="store_true",
        help="do not sync HA routers' connections to standbys (rely on loose TCP pickup)",
    )
    p.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        metavar="PORT",
        help="serve /metrics and /readyz on this port (default: off; 0: any free port, "
        "written to STATE_DIR/HOST.metrics)",
    )
    p.add_argument(
        "--metrics-address",
        default="127.0.0.1",
        help="address of the metrics port (default 127.0.0.1)",
    )
    p.add_argument(
        "--console-port",
        type=int,
        default=0,
        metavar="PORT",
        help="serve this host's instances' console logs and consoles to API servers on this "
        "port (default 0: any free port; every request needs a one-time credential an API "
        "server made for this host)",
    )
    p.add_argument(
        "--console-address",
        default="127.0.0.1",
        help="address of the console port (default 127.0.0.1: API servers on this machine; "
        "give the management address when they run elsewhere)",
    )
    p.add_argument(
        "--console-url",
        default=None,
        help="the console endpoint's URL as API servers reach it (default: "
        "http://ADDRESS:PORT, with --tunnel-ip for a wildcard --console-address)",
    )
    p.add_argument("--no-console", action="store_true", help="serve no console endpoint")
    p.add_argument(
        "--log-format", choices=("text", "json"), default=None, help="log lines (default text)"
    )
    p.set_defaults(func=cmd_agent)
    agent_sub = p.add_subparsers(dest="agent_command", metavar="{enroll}")
    e = agent_sub.add_parser(
        "enroll",
        help="make (or reset) a host's agent credential; run with admin credentials",
        description="Creates user agent-HOST (project service, role service only) as the "
        "agent of HOST and writes its credential, readable by root only, where `kumo agent` "
        "finds it. Admin credentials come from clouds.yaml (OS_CLIENT_CONFIG_FILE, OS_CLOUD) "
        "or OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME.",
    )
    e.add_argument("--host", required=True, help="the host whose agent this credential is for")
    e.add_argument("--api", default=None, help="API base URL (default: from the auth URL)")
    e.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="the agent's state directory, where HOST.credentials.json is written "
        "(default /run/kumo/agents)",
    )
    e.add_argument("--credentials", type=Path, default=None, help="write here instead")
    e.add_argument("--clouds-yaml", default=os.environ.get("OS_CLIENT_CONFIG_FILE"))
    e.add_argument("--cloud", default=os.environ.get("OS_CLOUD", "kumo"))
    e.set_defaults(func=cmd_enroll)


def credentials(args: argparse.Namespace) -> Credentials:
    """The agent's credential: ``--credentials``, else the one enrolled in its
    state directory, else ``--clouds-yaml`` / ``OS_*`` (an operator's)."""
    path = args.credentials
    if path is None and args.host:
        found = agent_credentials.path_for(args.host, args.state_dir)
        path = found if found.exists() else None
    if path is not None:
        host, creds = agent_credentials.read(Path(path))
        if host and host != args.host:
            raise SystemExit(f"{path} is the credential of host {host}, not of {args.host}")
        return creds
    return openstack_credentials(args)


def openstack_credentials(args: argparse.Namespace) -> Credentials:
    """From clouds.yaml (``--clouds-yaml``, ``--cloud``) or ``OS_*`` variables."""
    if args.clouds_yaml:
        clouds: dict[str, Any] = yaml.safe_load(Path(args.clouds_yaml).read_text())["clouds"]
        auth = clouds[args.cloud]["auth"]
        return Credentials(
            auth_url=auth["auth_url"],
            username=auth["username"],
            password=auth["password"],
            project_name=auth.get("project_name", "service"),
        )
    env = os.environ
    return Credentials(
        auth_url=env["OS_AUTH_URL"],
        username=env["OS_USERNAME"],
        password=env["OS_PASSWORD"],
        project_name=env.get("OS_PROJECT_NAME", "service"),
    )


def packet_rates(given: str | None) -> dict[str, int]:
    """``--packet-rate``: ``KPPS`` (without direction) or ``EGR:IGR``."""
    if given is None:
        return {}
    try:
        figures = [int(x) for x in given.split(":")]
    except ValueError:
        figures = []
    if len(figures) not in (1, 2) or min(figures) < 0:
        raise SystemExit(f"--packet-rate wants KPPS or EGR:IGR (kpps), not {given!r}")
    if len(figures) == 1:
        return {"any": figures[0]}
    return {"egress": figures[0], "ingress": figures[1]}


def config_from_args(args: argparse.Namespace) -> AgentConfig:
    if not args.host or not args.api:
        raise SystemExit("kumo agent: --host and --api are required")
    mappings = {}
    for item in args.bridge_mapping:
        physnet, _, dev = item.partition(":")
        if not physnet or not dev:
            raise SystemExit(f"--bridge-mapping wants PHYSNET:DEV, not {item!r}")
        mappings[physnet] = dev
    bandwidths = {}
    for item in args.bandwidth:
        parts = item.split(":")
        try:
            figures = [int(x) for x in parts[1:]]
        except ValueError:
            figures = []
        if not parts[0] or len(figures) not in (1, 2) or min(figures) < 0:
            raise SystemExit(f"--bandwidth wants PHYSNET:KBPS[:KBPS], not {item!r}")
        bandwidths[parts[0]] = (figures[0], figures[-1])
    return AgentConfig(
        host=args.host,
        packet_rates=packet_rates(args.packet_rate),
        api_url=args.api,
        credentials=credentials(args),
        netns=args.netns,
        tunnel_ip=args.tunnel_ip,
        underlay_device=args.underlay_dev,
        bridge_mappings=mappings,
        bandwidths=bandwidths,
        resync_interval=args.resync_interval,
        slow_pass=args.slow_pass,
        state_dir=args.state_dir,
        gateway=args.gateway,
        liveness=liveness_from_args(args),
        state_sync=not args.no_ha_state_sync,
        vm_dir=vm_dir(args),
        image_cache=args.image_cache,
        vm_memory_mb=args.vm_memory_mb,
        vcpus=args.vcpus,
        memory_mb=args.memory_mb,
    )


def vm_dir(args: argparse.Namespace) -> Path | None:
    """The VMs' run directory, or None without the QEMU driver."""
    import shutil

    if args.vm_dir == "none":
        return None
    if args.vm_dir:
        return Path(str(args.vm_dir))
    if shutil.which("qemu-system-x86_64") is None or shutil.which("qemu-img") is None:
        return None
    return VM_ROOT / str(args.host)


def liveness_from_args(args: argparse.Namespace) -> LivenessSettings:
    if args.ha_interval <= 0 or args.ha_hold <= args.ha_interval:
        raise SystemExit("--ha-hold must be longer than --ha-interval, both positive")
    lease = args.ha_lease if args.ha_lease is not None else 0.8 * args.ha_hold
    if not args.ha_interval < lease < args.ha_hold:
        raise SystemExit("--ha-lease must be between --ha-interval and --ha-hold")
    return LivenessSettings(
        interval=args.ha_interval,
        hold=args.ha_hold,
        lease=lease,
        port=args.ha_port,
        preempt=args.ha_preempt,
    )


def fetch_cluster_key(client: ApiClient) -> ClusterKey:
    """The cluster key, once the API answers (retrying while it does not);
    SystemExit when the API refuses it to these credentials."""
    import httpx

    delay = 0.2
    while True:
        try:
            key = client.cluster_key()
            log.info("sealing HA beats and state sync with cluster key %s", key.id.hex())
            return key
        except httpx.HTTPStatusError as exc:
            if exc.response.status_code in (403, 404):
                raise SystemExit(f"cannot read the cluster key: {exc}") from None
            log.warning("reading the cluster key failed (%s); retrying in %.1fs", exc, delay)
        except (httpx.HTTPError, KeyError, ValueError) as exc:
            log.warning("reading the cluster key failed (%s); retrying in %.1fs", exc, delay)
        time.sleep(delay)
        delay = min(delay * 2, 5.0)


def cmd_agent(args: argparse.Namespace) -> int:
    from kumo.agent.client import ApiClient
    from kumo.agent.loop import Agent
    from kumo.dataplane import Dataplane
    from kumo.dataplane.kernel import vlan_devices_supported
    from kumo.dhcp.responder import Responder
    from kumo.dns.server import Resolver
    from kumo.ha.liveness import Liveness
    from kumo.ha.statesync import StateSync
    from kumo.metadata.server import MetadataServer
    from kumo.metadata.source import ApiSource
    from kumo.telemetry import logs
    from kumo.telemetry.agent import AgentMetrics

    logs.configure(args.log_format)
    config = config_from_args(args)
    if config.vlan_devices is None:
        known = memory.recall_vlan_devices(config.state_dir)
        try:
            supported = vlan_devices_supported() if known is None else known
        except OSError as exc:
            log.warning("could not probe for 802.1Q VLAN devices, assuming them: %s", exc)
        else:
            if known is None:
                memory.remember_vlan_devices(supported, config.state_dir)
            config = replace(config, vlan_devices=supported)
            carried = "VLAN devices" if supported else "tc programs (no 802.1Q devices)"
            probed = "probed" if known is None else "as probed earlier in this boot"
            log.info("VLAN networks carried by %s (%s)", carried, probed)
    console = None if args.no_console else start_console(args, config, lambda: client)
    if console is not None:
        config = replace(config, console_url=console.url)
    client = ApiClient(config)
    vms = None
    if config.vm_dir is not None:
        from kumo.dataplane.vms import QemuHost

        vms = QemuHost(
            config.vm_dir,
            config.image_cache,
            client.download_image,
            netns=config.netns,
            memory_cap_mb=config.vm_memory_mb,
            snapshots=client,
        )
        log.info("QEMU driver: VMs in %s, images cached in %s", config.vm_dir, config.image_cache)
    dataplane = Dataplane.for_host(config.host, host_netns=config.netns, vms=vms)
    responder = None if args.no_dhcp else Responder(config.netns)
    if responder is not None:
        responder.start()
    metadata = None if args.no_metadata else MetadataServer(ApiSource(client))
    if metadata is not None:
        metadata.start()
    resolver = None if args.no_dns else Resolver()
    if resolver is not None:
        resolver.start()
    liveness = statesync = None
    if config.tunnel_ip:
        key = fetch_cluster_key(client)
        liveness = Liveness(
            config.host, config.tunnel_ip, config.liveness, key=key, host_netns=config.netns
        )
        if config.state_sync:
            statesync = StateSync(config.host, config.tunnel_ip, config.liveness.port + 1,
                                  key=key, host_netns=config.netns)  # fmt: skip
    metrics = None if args.metrics_port is None else AgentMetrics(config.host)
    agent = Agent(
        config,
        dataplane,
        client=client,
        dhcp=responder,
        metadata=metadata,
        resolver=resolver,
        liveness=liveness,
        statesync=statesync,
        metrics=metrics,
    )
    attacher = start_volume_attacher(config, client)
    server = None
    if metrics is not None:
        server = start_metrics(args, config, agent, metrics, dataplane, responder, metadata)
    signal.signal(signal.SIGTERM, lambda *_: agent.stop_event.set())
    try:
        agent.run_forever()
    except KeyboardInterrupt:
        agent.stop_event.set()
    finally:
        if server is not None:
            server.stop()
        if console is not None:
            console.stop()
        if responder is not None:
            responder.stop()
        if metadata is not None:
            metadata.stop()
        if resolver is not None:
            resolver.stop()
        attacher.stop_event.set()
        dataplane.close()
    return 0


def start_console(
    args: argparse.Namespace, config: AgentConfig, client: Callable[[], ApiClient]
) -> ConsoleServer:
    """The host's console endpoint (``kumo.agent.console_server``); its key
    is fetched from the API on first use."""
    from kumo.agent.console_server import ConsoleServer

    console = ConsoleServer(
        config.host,
        lambda: client().console_key(),
        config.vm_dir,
        args.console_address,
        args.console_port,
        advertise=args.console_url,
    )
    if not args.console_url and args.console_address in ("0.0.0.0", "::"):
        if not config.tunnel_ip:
            raise SystemExit("--console-address on every interface needs --console-url")
        console.advertise = f"http://{config.tunnel_ip}:{console.server.server_address[1]}"
    console.start()
    return console


def start_volume_attacher(config: AgentConfig, client: Any) -> Any:
    """The thread that plugs the volumes attached to this host's servers into them."""
    from kumo.agent.volumes import VolumeAttacher
    from kumo.vm.argv import VmPaths

    root = (config.state_dir or Path("/var/lib/kumo/agent")) / "volumes" / config.host
    vm_dir = config.vm_dir
    vm_qmp = (lambda sid: VmPaths(vm_dir / "vms" / sid).qmp) if vm_dir is not None else None
    attacher = VolumeAttacher(config.host, client, root, config.netns, vm_qmp)
    attacher.start()
    return attacher


def start_metrics(
    args: argparse.Namespace,
    config: AgentConfig,
    agent: Any,
    metrics: AgentMetrics,
    dataplane: Any,
    responder: Any,
    metadata: Any,
) -> MetricsServer:
    """The agent's metrics port, with its traffic counters and its DHCP and
    metadata tallies; the address it got is written to ``HOST.metrics`` in
    the state directory (for ``--metrics-port 0``)."""
    from kumo.telemetry.agent import MetricsServer
    from kumo.telemetry.traffic import TrafficCollector

    metrics.registry.register(
        TrafficCollector(
            config.host,
            dataplane.read_counters,
            lambda: dataplane.plan,
            agent.cache.body,
            agent.cache.bodies,
        )  # fmt: skip
    )
    from kumo.telemetry.metering import MeteringCollector

    metrics.registry.register(
        MeteringCollector(config.host, agent.meter_totals.snapshot, agent.cache.body)
    )
    if responder is not None:
        metrics.follow_stats("kumo_agent_dhcp_packets", "DHCP and router advertisement "
                             "packets by outcome", lambda: dict(responder.stats),
                             ("received", "answered", "ignored", "malformed", "adverts"))  # fmt: skip
    if metadata is not None:
        metrics.follow_stats("kumo_agent_metadata_requests", "Metadata requests by outcome",
                             lambda: dict(metadata.stats),
                             ("requests", "answered", "not_found", "errors"))  # fmt: skip
    server = MetricsServer(metrics.registry, agent.readiness, args.metrics_address,
                           args.metrics_port)  # fmt: skip
    server.start()
    state_dir = agent_credentials.path_for(config.host, config.state_dir).parent
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        (state_dir / f"{config.host}.metrics").write_text(server.url + "\n")
    except OSError as exc:
        log.warning("could not record the metrics address in %s: %s", state_dir, exc)
    return server


def cmd_enroll(args: argparse.Namespace) -> int:
    """Ask the API (as an admin) for ``--host``'s agent credential and write it."""
    import httpx

    from kumo.identity.authbody import password_auth

    admin = openstack_credentials(args)
    api = args.api or admin.auth_url.rstrip("/").removesuffix("/v3").removesuffix("/identity")
    api = api.rstrip("/")
    auth = password_auth(
        admin.username,
        admin.password,
        project_name=admin.project_name,
        user_domain_id=admin.user_domain_id,
        project_domain_id=admin.project_domain_id,
    )
    with httpx.Client(timeout=30) as http:
        r = http.post(admin.auth_url.rstrip("/") + "/auth/tokens?nocatalog", json=auth)
        if r.status_code != 201:
            raise SystemExit(f"kumo agent enroll: authentication failed: {r.status_code} {r.text}")
        r = http.post(
            f"{api}/internal/v1/agent-credentials",
            json={"agent_credential": {"host": args.host}},
            headers={"X-Auth-Token": r.headers["X-Subject-Token"]},
        )
    if r.status_code != 201:
        raise SystemExit(f"kumo agent enroll: refused: {r.status_code} {r.text}")
    made = r.json()["agent_credential"]
    creds = Credentials(
        auth_url=f"{api}/identity/v3",
        username=made["username"],
        password=made["password"],
        project_name=made["project_name"],
        user_domain_id=made["user_domain_id"],
        project_domain_id=made["project_domain_id"],
    )
    path = args.credentials or agent_credentials.path_for(args.host, args.state_dir)
    agent_credentials.write(path, args.host, creds)
    print(f"host {args.host}: user {creds.username}, credential in {path} (mode 0600)")
    return 0
