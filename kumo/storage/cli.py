"""``kumo storage-agent``: serve a storage host's pools of qcow2 volumes."""

from __future__ import annotations

import argparse
import logging
import os
import signal
from pathlib import Path

log = logging.getLogger("kumo.storage")


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "storage-agent",
        help="run the storage agent of one storage host (qcow2 volumes in pool directories)",
    )
    p.add_argument("--host", required=True, help="the storage host this agent speaks for")
    p.add_argument("--api", required=True, help="API base URL, e.g. http://127.0.0.1:8080")
    p.add_argument(
        "--pool",
        action="append",
        default=[],
        metavar="NAME:DIR:CAPACITY_GB",
        help="a pool: its name, its directory and its capacity in GiB (repeatable; one at least)",
    )
    p.add_argument("--availability-zone", default="nova")
    p.add_argument("--backend-name", default="file", help="volume_backend_name of the pools")
    p.add_argument("--max-over-subscription-ratio", type=float, default=20.0)
    p.add_argument("--reserved-percentage", type=int, default=0)
    p.add_argument(
        "--capability",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an extra capability of the pools, matched against volume types' extra specs",
    )
    p.add_argument(
        "--credentials",
        type=Path,
        default=None,
        help="the host's credential from `kumo agent enroll` (default: HOST.credentials.json "
        "in the state directory when there is one, else --clouds-yaml or OS_* variables)",
    )
    p.add_argument("--state-dir", type=Path, default=None)
    p.add_argument("--clouds-yaml", default=os.environ.get("OS_CLIENT_CONFIG_FILE"))
    p.add_argument("--cloud", default=os.environ.get("OS_CLOUD", "kumo-agent"))
    p.add_argument("--heartbeat-interval", type=float, default=10.0)
    p.add_argument(
        "--export-address",
        default=None,
        help="the underlay address its qemu-storage-daemon serves attached volumes on over "
        "NBD (without it, volumes are made and removed but never attached)",
    )
    p.add_argument("--export-port", type=int, default=10809)
    p.add_argument(
        "--no-export-firewall",
        action="store_true",
        help="do not program the nftables table that lets only attached compute hosts reach "
        "the NBD port (only where that port is closed to others already, e.g. on loopback)",
    )
    p.add_argument("--netns", default=None, help="the host's network namespace (lab hosts)")
    p.add_argument(
        "--run-dir",
        type=Path,
        default=None,
        help="the storage daemon's socket and pid file (default /run/kumo/storage/HOST)",
    )
    p.set_defaults(func=cmd_storage_agent)


def cmd_storage_agent(args: argparse.Namespace) -> int:
    from kumo.agent.cli import credentials
    from kumo.agent.client import ApiClient
    from kumo.agent.config import AgentConfig
    from kumo.storage.agent import StorageAgent, StorageConfig
    from kumo.storage.pool import FilePool

    if not args.pool:
        raise SystemExit("kumo storage-agent: give at least one --pool NAME:DIR:CAPACITY_GB")
    try:
        pools = tuple(FilePool.parse(p) for p in args.pool)
    except ValueError as exc:
        raise SystemExit(f"kumo storage-agent: {exc}") from None
    if len({p.name for p in pools}) != len(pools):
        raise SystemExit("kumo storage-agent: pool names must be unique")
    caps = {}
    for item in args.capability:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--capability wants KEY=VALUE, not {item!r}")
        caps[key] = value
    caps.setdefault("volume_backend_name", args.backend_name)
    config = StorageConfig(
        host=args.host,
        pools=pools,
        availability_zone=args.availability_zone,
        backend=args.backend_name,
        max_over_subscription_ratio=args.max_over_subscription_ratio,
        reserved_percentage=args.reserved_percentage,
        heartbeat_interval=args.heartbeat_interval,
        capabilities=caps,
        export_address=args.export_address,
        export_port=args.export_port,
        netns=args.netns,
        run_dir=args.run_dir,
        export_firewall=not args.no_export_firewall,
    )
    client = ApiClient(AgentConfig(host=args.host, api_url=args.api, credentials=credentials(args)))
    agent = StorageAgent(config, client)
    signal.signal(signal.SIGTERM, lambda *_: agent.stop_event.set())
    try:
        agent.run_forever()
    except KeyboardInterrupt:
        agent.stop_event.set()
    finally:
        client.close()
    return 0
