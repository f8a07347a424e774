"""``kumo serve``: the API server alone (identity, networking, compute, internal)."""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any

from rich.console import Console

from kumo.config import Settings

log = logging.getLogger(__name__)


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("serve", help="run the API server")
    add_server_options(p)
    p.set_defaults(func=cmd_serve)


def add_server_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--state-dir", default="/var/lib/kumo", help="SQLite database, clouds.yaml")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--database-url", default=None, help="SQLAlchemy URL (default: SQLite)")
    p.add_argument("--public-url", default=None, help="base URL clients should use")
    p.add_argument("--workers", type=int, default=1, help="API worker processes")
    p.add_argument(
        "--log-format", choices=("text", "json"), default=None, help="log lines (default text)"
    )
    p.add_argument(
        "--no-metrics",
        action="store_true",
        help="do not count requests for /metrics (also KUMO_METRICS=0)",
    )
    p.add_argument(
        "--physical-network", action="append", default=[], metavar="NAME",
        help="a further physical network flat and VLAN networks may name, beside "
        "$KUMO_PHYSICAL_NETWORKS (default physnet1,external); repeatable",
    )  # fmt: skip
    add_l3_options(p)


def add_l3_options(p: argparse.ArgumentParser) -> None:
    """Router options, shared with ``kumo up`` (which passes them on to serve)."""
    p.add_argument(
        "--router-distributed",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="routers created without 'distributed' are distributed (the default; "
        "--no-router-distributed: centralized, as Neutron's default)",
    )
    p.add_argument(
        "--l3-ha",
        action="store_true",
        default=None,
        help="routers created without 'ha' are highly available",
    )
    p.add_argument(
        "--distributed-snat",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="routers created distributed and not HA translate on their instances' hosts "
        "(leased port blocks, stateless gateways); kumo up turns it on",
    )
    p.add_argument(
        "--max-l3-agents-per-router",
        type=_count,
        default=None,
        metavar="N",
        help="gateway agents per HA router (default 3; 0: every gateway agent)",
    )


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative")
    return value


def l3_arguments(
    l3_ha: bool | None,
    max_agents: int | None,
    distributed_snat: bool = False,
    router_distributed: bool | None = None,
) -> list[str]:
    """The serve options for these router settings (None: the default)."""
    out = ["--l3-ha"] if l3_ha else []
    if router_distributed is not None:
        out.append("--router-distributed" if router_distributed else "--no-router-distributed")
    if distributed_snat:
        out.append("--distributed-snat")
    if max_agents is not None:
        out += ["--max-l3-agents-per-router", str(max_agents)]
    return out


def settings_from_args(args: argparse.Namespace) -> Settings:
    l3: dict[str, Any] = {}
    if getattr(args, "no_metrics", False):
        l3["metrics"] = False
    if getattr(args, "router_distributed", None) is not None:
        l3["router_distributed"] = bool(args.router_distributed)
    if args.l3_ha:
        l3["l3_ha"] = True
    if getattr(args, "distributed_snat", None) is not None:
        l3["distributed_snat"] = bool(args.distributed_snat)
    if args.max_l3_agents_per_router is not None:
        l3["max_l3_agents_per_router"] = args.max_l3_agents_per_router
    more = [p for p in getattr(args, "physical_network", None) or () if p]
    if more:
        known = Settings().physical_networks
        l3["physical_networks"] = (*known, *(p for p in dict.fromkeys(more) if p not in known))
    return Settings(
        state_dir=Path(args.state_dir).resolve(),
        database_url=args.database_url or os.environ.get("KUMO_DATABASE_URL") or None,
        host=args.host,
        port=args.port,
        public_url=args.public_url,
        **l3,
    )


def settings_json(settings: Settings) -> str:
    """The settings the uvicorn workers read (``KUMO_SETTINGS_JSON``, ``kumo.api.asgi``)."""
    return json.dumps(
        {
            "state_dir": str(settings.state_dir),
            "database_url": settings.database_url,
            "host": settings.host,
            "port": settings.port,
            "public_url": settings.public_url,
            "router_distributed": settings.router_distributed,
            "l3_ha": settings.l3_ha,
            "distributed_snat": settings.distributed_snat,
            "max_l3_agents_per_router": settings.max_l3_agents_per_router,
            "metrics": settings.metrics,
            "physical_networks": list(settings.physical_networks),
        }
    )


NO_CLOUDS_YAML = (
    "the admin user already exists in this database and this server did not "
    "create it, so it does not know the admin password: no clouds.yaml written in {dir} "
    "(the password is left as it is). Use the clouds.yaml of the API server that "
    "bootstrapped the database, or another admin's credentials."
)


def prepare(settings: Settings, console: Console | None = None) -> Path | None:
    """Secure the state directory, migrate the database, bootstrap identity,
    write clouds.yaml; the clouds.yaml to use, or None when there is none.

    Safe to run on every start and on any number of API servers sharing a
    database: only the start that creates the admin user knows its password
    and writes clouds.yaml. Any other keeps the clouds.yaml it finds, or
    says why it has none; the admin password is never changed.
    """
    from kumo.identity.clouds import write_clouds_yaml
    from kumo.runtime import Runtime
    from kumo.statedir import secure

    console = console or Console(stderr=True)
    secure(settings)
    clouds = settings.state_dir / "clouds.yaml"
    runtime = Runtime.open(settings)
    try:
        password = runtime.identity.bootstrap()
        runtime.compute.bootstrap()
        runtime.image.bootstrap()
        runtime.volume.bootstrap()
    finally:
        runtime.close()
    if password is not None:
        write_clouds_yaml(clouds, f"{settings.base_url}/identity/v3", "admin", password)
        return clouds
    if clouds.exists():
        return clouds
    message = NO_CLOUDS_YAML.format(dir=settings.state_dir)
    log.warning(message)
    console.print(f"[yellow]{message}[/]")
    return None


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from kumo.telemetry import exposition, logs

    if args.log_format:
        os.environ[logs.ENV] = args.log_format
    logs.configure()
    settings = settings_from_args(args)
    if settings.metrics and args.workers > 1:
        # Before anything imports prometheus_client: the workers share this run's files.
        run_dir = exposition.prepare_directory(settings.state_dir / "metrics")
        os.environ[exposition.MULTIPROC_ENV] = str(run_dir)
    console = Console(stderr=True)
    clouds = prepare(settings, console)
    console.print(f"kumo API on [bold]{settings.base_url}[/]  (database: {_safe_url(settings)})")
    if clouds is not None:
        console.print(
            f"credentials: [bold]{clouds}[/]  ->  "
            f"export OS_CLIENT_CONFIG_FILE={clouds} OS_CLOUD=kumo"
        )
    else:
        console.print("credentials: [bold]none here[/] (see above)")
    os.environ["KUMO_SETTINGS_JSON"] = settings_json(settings)
    json_logs: dict[str, Any] = {"log_config": None} if os.environ.get(logs.ENV) == "json" else {}
    uvicorn.run(
        "kumo.api.asgi:app",
        host=settings.host,
        port=settings.port,
        workers=args.workers,
        log_level="warning",
        # JSON: uvicorn's own loggers go through the root logger's format.
        **json_logs,
        access_log=False,
        loop="uvloop",
        http="httptools",
    )
    return 0


def _safe_url(settings: Settings) -> str:
    url = settings.resolved_database_url
    if "@" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
