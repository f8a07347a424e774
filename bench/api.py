"""API benchmark: port creation throughput and latency, list latency, network/subnet create,
and the server's CPU time per request for each (steady on a loaded machine).

    .venv/bin/python -m bench.api [--engines sqlite,postgresql] [--ports 500]

Starts a throwaway ``kumo serve`` per engine (PostgreSQL: a throwaway cluster
via scripts/pg.sh unless KUMO_BENCH_PG_URL names a database to use), drives
it with one httpx client per worker, and prints one table for all engines.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import datetime as dt
import multiprocessing as mp
import os
import subprocess
import tempfile
import time

import httpx

from bench.common import ROOT, Server, kumo_server, machine, percentile, summary_ms


def _create_ports(
    base: str, token: str, net: str, count: int, workers: int
) -> tuple[float, list[float]]:
    per_worker = [count // workers + (1 if i < count % workers else 0) for i in range(workers)]

    def run(n: int) -> list[float]:
        lat = []
        with httpx.Client(base_url=base, headers={"X-Auth-Token": token}, timeout=60) as c:
            for _ in range(n):
                t0 = time.perf_counter()
                r = c.post("/networking/v2.0/ports", json={"port": {"network_id": net}})
                lat.append(time.perf_counter() - t0)
                if r.status_code != 201:
                    raise RuntimeError(f"port create failed: {r.status_code} {r.text}")
        return lat

    t0 = time.perf_counter()
    with cf.ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(run, per_worker))
    elapsed = time.perf_counter() - t0
    return count / elapsed, [x for lat in results for x in lat]


def _list_ports(base: str, token: str, repeats: int) -> list[float]:
    lat = []
    with httpx.Client(base_url=base, headers={"X-Auth-Token": token}, timeout=60) as c:
        for _ in range(repeats):
            t0 = time.perf_counter()
            r = c.get("/networking/v2.0/ports")
            r.raise_for_status()
            r.json()
            lat.append(time.perf_counter() - t0)
    return lat


def run_engine(
    label: str, url: str | None, ports: int, workers: int = 1, metrics: bool = True
) -> dict[str, str]:
    out: dict[str, str] = {}
    load_at_start = os.getloadavg()[0]
    extra = () if metrics else ("--no-metrics",)
    with kumo_server(url, workers=workers, extra=extra) as srv:
        token = srv.token()
        with httpx.Client(base_url=srv.base, headers={"X-Auth-Token": token}, timeout=60) as c:
            c.put(
                "/networking/v2.0/quotas/" + _project_id(c),
                json={"quota": {"port": -1, "network": -1, "subnet": -1}},
            )
            net_lat, sub_lat = [], []
            nets = []
            cpu = srv.cpu_seconds()
            for i in range(20):
                t0 = time.perf_counter()
                n = c.post("/networking/v2.0/networks", json={"network": {"name": f"b{i}"}})
                net_lat.append(time.perf_counter() - t0)
                n.raise_for_status()
                nid = n.json()["network"]["id"]
                t0 = time.perf_counter()
                s = c.post(
                    "/networking/v2.0/subnets",
                    json={"subnet": {"network_id": nid, "ip_version": 4, "cidr": "10.0.0.0/16"}},
                )
                sub_lat.append(time.perf_counter() - t0)
                s.raise_for_status()
                nets.append(nid)
            cpu_ms = {"network + subnet": _per_request(srv, cpu, 20)}
        cpu = srv.cpu_seconds()
        seq_rate, seq_lat = _create_ports(srv.base, token, nets[0], ports, 1)
        cpu_ms["port seq"] = _per_request(srv, cpu, ports)
        cpu = srv.cpu_seconds()
        par_rate, par_lat = _create_ports(srv.base, token, nets[1], ports, 8)
        cpu_ms["port 8-way"] = _per_request(srv, cpu, ports)
        _list_ports(srv.base, token, 5)  # warm-up
        # nets[0] holds the sequentially created ports: a list of that many.
        cpu = srv.cpu_seconds()
        list_500, client_cpu = _list_ports_filtered(srv.base, token, nets[0], 30)
        cpu_ms["list 500"] = _per_request(srv, cpu, 30)
        client_ms = {"list 500": client_cpu * 1000 / 30}
        cpu = srv.cpu_seconds()
        list_500_8, client_cpu = _list_parallel(srv.base, token, nets[0], 8, 10)
        cpu_ms["list 500 8-way"] = _per_request(srv, cpu, 80)
        client_ms["list 500 8-way"] = client_cpu * 1000 / 80
        if ports * 2 < 2000:
            _create_ports(srv.base, token, nets[2], 2000 - 2 * ports, 8)
        cpu = srv.cpu_seconds()
        list_2000 = _list_ports(srv.base, token, 30)
        cpu_ms["list 2000"] = _per_request(srv, cpu, 30)
        out["engine"] = f"{label} ({workers} worker{'s' if workers > 1 else ''})" + (
            "" if metrics else ", metrics off"
        )
        out["network create"] = summary_ms(net_lat)
        out["subnet create"] = summary_ms(sub_lat)
        out["ports/s sequential"] = f"{seq_rate:.0f} ({summary_ms(seq_lat)})"
        out["ports/s 8-way"] = f"{par_rate:.0f} ({summary_ms(par_lat)})"
        out["list 500 ports"] = summary_ms(list_500)
        seq_p50 = percentile(list_500, 50)
        ratio = percentile(list_500_8, 50) / seq_p50
        out["list 500, 8-way"] = f"{summary_ms(list_500_8)} — p50 {ratio:.1f}x sequential"
        cores = os.cpu_count() or 1
        floor = cpu_floor_ms(client_ms["list 500 8-way"], cpu_ms["list 500 8-way"], 8, cores)
        out["8-way CPU floor"] = (
            f"{floor:.1f} ms = {floor / 1000 / seq_p50:.1f}x sequential (per list: client "
            f"{client_ms['list 500 8-way']:.2f} + server {cpu_ms['list 500 8-way']:.2f} ms CPU,"
            f" x8 over {cores} cores; sequential: client {client_ms['list 500']:.2f} ms)"
        )
        out["list 2000 ports"] = summary_ms(list_2000)
        out["server CPU ms/req"] = ", ".join(f"{k} {v:.2f}" for k, v in cpu_ms.items())
        # the 8-way ratio moves with what else runs: the 1-minute load, at start and end
        out["load average"] = f"{load_at_start:.1f} -> {os.getloadavg()[0]:.1f}"
        for k, v in cpu_ms.items():
            out[f"_cpu_{k}"] = f"{v:.4f}"
        out["_p50_list2000"] = f"{percentile(list_2000, 50):.4f}"
        out["_p50_list500"] = f"{percentile(list_500, 50):.4f}"
        out["_p50_network"] = f"{percentile(net_lat, 50):.4f}"
        out["_p50_port_seq"] = f"{percentile(seq_lat, 50):.4f}"
        out["_p50_port_par"] = f"{percentile(par_lat, 50):.4f}"
    return out


def _per_request(srv: Server, since: float, requests: int) -> float:
    """Milliseconds of server CPU per request since ``since`` (``Server.cpu_seconds``)."""
    return (srv.cpu_seconds() - since) * 1000 / requests


def _list_ports_filtered(
    base: str, token: str, net: str, repeats: int
) -> tuple[list[float], float]:
    """The latencies of ``repeats`` lists of the network's ports, and the
    CPU seconds this client spent on them (sending, receiving, parsing)."""
    lat = []
    with httpx.Client(base_url=base, headers={"X-Auth-Token": token}, timeout=60) as c:
        cpu = time.process_time()
        for _ in range(repeats):
            t0 = time.perf_counter()
            r = c.get("/networking/v2.0/ports", params={"network_id": net})
            r.raise_for_status()
            assert len(r.json()["ports"]) >= 500
            lat.append(time.perf_counter() - t0)
        cpu = time.process_time() - cpu
    return lat, cpu


def _list_parallel(
    base: str, token: str, net: str, workers: int, repeats: int
) -> tuple[list[float], float]:
    """``_list_ports_filtered`` from ``workers`` client processes at once
    (threads of one client process would queue on its own interpreter lock
    parsing the answers, and count that as the server's latency); the
    clients' CPU seconds summed."""
    ctx = mp.get_context("fork")
    with cf.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        jobs = [
            pool.submit(_list_ports_filtered, base, token, net, repeats) for _ in range(workers)
        ]
        done = [job.result() for job in jobs]
    return [x for lat, _ in done for x in lat], sum(cpu for _, cpu in done)


def cpu_floor_ms(client_ms: float, server_ms: float, clients: int, cores: int) -> float:
    """The least a list can take with ``clients`` lists always in flight when
    each costs ``client_ms`` of a client's CPU and ``server_ms`` of the
    server's, all on the same ``cores``: a round of one list per client
    needs ``clients * (client_ms + server_ms)`` of CPU, at most ``cores`` at
    a time (the client's own parse is in the latency, as in the sequential
    figure)."""
    return clients * (client_ms + server_ms) / max(1, min(cores, clients))


def _project_id(c: httpx.Client) -> str:
    r = c.get("/identity/v3/auth/projects")
    r.raise_for_status()
    return next(p["id"] for p in r.json()["projects"] if p["name"] == "admin")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engines", default="sqlite,postgresql")
    ap.add_argument("--ports", type=int, default=500)
    ap.add_argument("--workers", type=int, default=1, help="API worker processes")
    ap.add_argument(
        "--metrics-off-too",
        action="store_true",
        help="run each engine with metrics off, then on (the cost of /metrics, same run)",
    )
    args = ap.parse_args()
    modes = (False, True) if args.metrics_off_too else (True,)
    results = []
    pgdir = None
    try:
        for engine in args.engines.split(","):
            if engine == "sqlite":
                for on in modes:
                    results.append(run_engine("sqlite", None, args.ports, args.workers, on))
            else:
                url = os.environ.get("KUMO_BENCH_PG_URL")
                if not url:
                    pgdir = tempfile.mkdtemp(prefix="kumo-bench-pg-")
                    url = subprocess.check_output(
                        ["bash", str(ROOT / "scripts/pg.sh"), "start", pgdir, "54391"], text=True
                    ).strip()
                for on in modes:
                    results.append(run_engine("postgresql", url, args.ports, args.workers, on))
    finally:
        if pgdir:
            subprocess.run(["bash", str(ROOT / "scripts/pg.sh"), "stop", pgdir], check=False)
    print(f"# bench/api.py  {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC  {machine()}")
    keys = [k for k in results[0] if not k.startswith("_")]
    for k in keys:
        print(f"{k:20s} " + " | ".join(r[k] for r in results))
    if args.metrics_off_too:
        print("metrics on / off, p50 latency (> 1: slower with metrics):")
        for off, on in zip(results[::2], results[1::2], strict=True):
            cells = ", ".join(
                f"{k[5:]} {float(on[k]) / float(off[k]):.3f}" for k in off if k.startswith("_p50_")
            )
            print(f"  {off['engine'].split(' (')[0]:12s} {cells}")
        print("metrics on / off, server CPU per request (steadier on a loaded machine):")
        for off, on in zip(results[::2], results[1::2], strict=True):
            cells = ", ".join(
                f"{k[5:]} {float(on[k]) / float(off[k]):.3f}" for k in off if k.startswith("_cpu_")
            )
            print(f"  {off['engine'].split(' (')[0]:12s} {cells}")


if __name__ == "__main__":
    main()
