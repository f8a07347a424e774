"""An idle API server's CPU with agents watching (outbox tailing's cost).

    .venv/bin/python -m bench.idle [--engines sqlite,postgresql] [--watchers 2] [--seconds 20]

Starts a throwaway ``kumo serve`` per engine (PostgreSQL: a throwaway
cluster via scripts/pg.sh unless KUMO_BENCH_PG_URL names a database to
use; each run gets a database of its own), opens ``--watchers`` watch
streams as agents do, lets it settle, then reports the server's CPU over
``--seconds`` in which nothing is written (per cent of one core), and how
long a write takes to reach a watcher.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import tempfile
import threading
import time
import uuid

import httpx
from sqlalchemy import create_engine, text

from bench.common import ROOT, kumo_server, machine

INTERNAL = "/internal/v1"


def _watch(base: str, token: str, since: int, seen: list[float], stop: threading.Event) -> None:
    params = {"since": str(since), "topics": "agents"}
    headers = {"X-Auth-Token": token}
    try:
        with httpx.stream(
            "GET", f"{base}{INTERNAL}/watch", params=params, headers=headers, timeout=None
        ) as r:
            for line in r.iter_lines():
                if stop.is_set():
                    return
                if line and json.loads(line).get("type") != "bookmark":
                    seen.append(time.monotonic())
    except httpx.HTTPError:
        return


def run(label: str, url: str | None, watchers: int, seconds: float) -> dict[str, str]:
    with kumo_server(url) as srv:
        token = srv.token()
        h = {"X-Auth-Token": token}
        revision = httpx.get(
            f"{srv.base}{INTERNAL}/list", params={"topics": "agents"}, headers=h, timeout=30
        ).json()["revision"]
        stop = threading.Event()
        seen: list[float] = []
        threads = [
            threading.Thread(
                target=_watch, args=(srv.base, token, revision, seen, stop), daemon=True
            )
            for _ in range(watchers)
        ]
        for t in threads:
            t.start()
        time.sleep(5)  # connected and settled
        cpu = srv.cpu_seconds()
        time.sleep(seconds)
        idle = (srv.cpu_seconds() - cpu) / seconds * 100
        seen.clear()
        t0 = time.monotonic()
        body = {"agent": {"host": f"idle-{uuid.uuid4().hex[:6]}", "configurations": {}}}
        httpx.post(f"{srv.base}{INTERNAL}/agents", json=body, headers=h, timeout=30)
        deadline = time.monotonic() + 10
        while len(seen) < watchers and time.monotonic() < deadline:
            time.sleep(0.002)
        reached = (max(seen) - t0) * 1000 if len(seen) >= watchers else float("nan")
        stop.set()
    return {
        "engine": label,
        "idle CPU": f"{idle:.2f}% of a core ({watchers} watchers, {seconds:.0f} s)",
        "write to every watcher": f"{reached:.0f} ms",
    }


def _fresh_database(admin_url: str) -> str:
    name = f"kumo_idle_{uuid.uuid4().hex[:8]}"
    eng = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    eng.dispose()
    return admin_url.rsplit("/", 1)[0] + "/" + name


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engines", default="sqlite,postgresql")
    ap.add_argument("--watchers", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=20.0)
    args = ap.parse_args()
    results = []
    pgdir = None
    try:
        for engine in args.engines.split(","):
            if engine == "sqlite":
                results.append(run("sqlite", None, args.watchers, args.seconds))
                continue
            admin = os.environ.get("KUMO_BENCH_PG_URL")
            if not admin:
                pgdir = tempfile.mkdtemp(prefix="kumo-bench-pg-")
                admin = subprocess.check_output(
                    ["bash", str(ROOT / "scripts/pg.sh"), "start", pgdir, "54392"], text=True
                ).strip()
            url = _fresh_database(admin)
            results.append(run("postgresql", url, args.watchers, args.seconds))
    finally:
        if pgdir:
            subprocess.run(["bash", str(ROOT / "scripts/pg.sh"), "stop", pgdir], check=False)
    print(f"# bench/idle.py  {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC  {machine()}")
    for r in results:
        print("  ".join(f"{k}: {v}" for k, v in r.items()))


if __name__ == "__main__":
    main()
