"""DHCP benchmarks (needs root).

    .venv/bin/python -m bench.dhcp [--clients 50] [--seconds 5] [--samples 20]

Rate: one host namespace with ``--clients`` instance ports on one DHCP
subnet; a load generator sends, from inside every instance namespace at
once (raw sockets on their ``eth0``), DISCOVER then REQUEST, as fast as the
answers come, and counts completed DISCOVER/OFFER/REQUEST/ACK exchanges per
second; first against kumo's responder (the agent's, no per-network
process), then against dnsmasq from Debian on the same bridge serving the
same fixed leases, in the same run.

Start to address: instances are started one at a time (plan applied with
one more port) and timed until their DHCP client has configured eth0
(p50/p99).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import select
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import machine, summary_ms
from kumo.compiler import ClusterView, HostPlan, compile_host
from kumo.compiler import names as n
from kumo.dataplane import netns
from kumo.dataplane.driver import Dataplane
from kumo.dhcp import codec
from kumo.dhcp.responder import Responder
from tests.compiler import states as s
from tests.dataplane.rootlab import RootLab, sh


def _port(i: int, host: str) -> dict[str, object]:
    pid = f"d{i:07d}-0000-4000-8000-000000000000"
    return s.port(pid, s.NET1, f"fa:16:3e:10:{i // 256:02x}:{i % 256:02x}", host,
                  [("s1", f"10.0.{i // 200}.{i % 200 + 10}")])  # fmt: skip


def _view(lab: RootLab, ports: list[dict[str, object]]) -> ClusterView:
    return ClusterView.from_bodies(
        [s.network(s.NET1, seg=101)],
        [s.subnet("s1", s.NET1, "10.0.0.0/16", "10.0.0.1", enable_dhcp=True,
                  dns_nameservers=["192.0.2.53"])],
        ports,
        lab.agent_bodies(),
    )  # fmt: skip


class Load:
    """One raw socket per instance; DISCOVER/REQUEST round trips."""

    def __init__(self, host: str, ports: list[dict[str, object]]) -> None:
        self.clients = []
        for p in ports:
            sock = netns.socket_in(n.instance_netns(host, str(p["id"])), socket.AF_PACKET,
                                   socket.SOCK_RAW, socket.htons(0x0800))  # fmt: skip
            sock.bind(("eth0", 0))
            sock.setblocking(False)
            ip = p["fixed_ips"][0]["ip_address"]  # type: ignore[index]
            self.clients.append((sock, str(p["mac_address"]), ip))

    def run(self, seconds: float) -> float:
        """Completed exchanges per second."""
        state = {i: 0 for i in range(len(self.clients))}  # 0 sent discover, 1 sent request
        server: dict[int, str] = {}
        done = 0
        xid = 1
        by_fd = {c[0].fileno(): i for i, c in enumerate(self.clients)}
        for i, (sock, mac, _) in enumerate(self.clients):
            sock.send(codec.request_frame(mac, codec.DISCOVER, xid + i))
        deadline = time.monotonic() + seconds
        started = time.monotonic()
        last_sent = {i: started for i in state}
        while time.monotonic() < deadline:
            ready, _, _ = select.select([c[0] for c in self.clients], [], [], 0.2)
            now = time.monotonic()
            for sock in ready:
                i = by_fd[sock.fileno()]
                _, mac, ip = self.clients[i]
                while True:
                    try:
                        data = sock.recv(2048)
                    except BlockingIOError:
                        break
                    if len(data) < 282 or data[12:14] != b"\x08\x00" or data[23] != 17:
                        continue
                    try:
                        kind, yiaddr, options = codec.parse_reply(data)
                    except (ValueError, IndexError):
                        continue
                    if kind == codec.OFFER and state[i] == 0:
                        server[i] = str(socket.inet_ntoa(options[codec.OPT_SERVER_ID]))
                        sock.send(codec.request_frame(mac, codec.REQUEST, xid, requested=yiaddr,
                                                      server_id=server[i]))  # fmt: skip
                        state[i], last_sent[i] = 1, now
                    elif kind == codec.ACK and state[i] == 1:
                        done += 1
                        sock.send(codec.request_frame(mac, codec.DISCOVER, xid))
                        state[i], last_sent[i] = 0, now
            for i, sent in last_sent.items():  # a lost packet: start over
                if now - sent > 1.0:
                    _, mac, _ = self.clients[i]
                    self.clients[i][0].send(codec.request_frame(mac, codec.DISCOVER, xid))
                    state[i], last_sent[i] = 0, now
        return done / (time.monotonic() - started)

    def close(self) -> None:
        for sock, _, _ in self.clients:
            sock.close()


def bench_rate(clients: int, seconds: float) -> list[str]:
    lab = RootLab().start(1)
    (host, ns), = lab.hosts.items()  # fmt: skip
    dp = Dataplane.for_host(host, ns)
    responder = Responder(ns)
    responder.start()
    dnsmasq: subprocess.Popen[bytes] | None = None
    workdir = Path(tempfile.mkdtemp(prefix="kumo-bench-dhcp."))
    out: list[str] = []
    try:
        ports = [_port(i, host) for i in range(clients)]
        plan = compile_host(host, _view(lab, ports))
        # the load generator is the only client: no guest processes
        plan = HostPlan(**{**plan.__dict__, "guests": frozenset()})
        assert dp.apply(plan).ok
        load = Load(host, ports)
        rates: dict[str, list[float]] = {"kumo": [], "dnsmasq": []}
        bridge = n.bridge_name(s.NET1)
        hosts_file = workdir / "hosts"
        hosts_file.write_text(
            "".join(f"{p['mac_address']},{p['fixed_ips'][0]['ip_address']}\n" for p in ports)  # type: ignore[index]
        )
        for _ in range(2):
            responder.update(plan.dhcp)
            rates["kumo"].append(load.run(seconds))
            responder.update(())
            sh("ip", "-n", ns, "addr", "replace", "10.0.0.1/16", "dev", bridge)
            dnsmasq = subprocess.Popen(
                ["ip", "netns", "exec", ns, "dnsmasq", "--no-daemon", "--port=0",
                 f"--interface={bridge}", "--bind-interfaces", "--dhcp-authoritative",
                 "--dhcp-range=10.0.0.0,static,255.255.0.0,24h", f"--dhcp-hostsfile={hosts_file}",
                 f"--dhcp-leasefile={workdir / 'leases'}", "--dhcp-option=6,192.0.2.53",
                 "--log-facility=/dev/null", f"--pid-file={workdir / 'pid'}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            time.sleep(0.5)
            rates["dnsmasq"].append(load.run(seconds))
            dnsmasq.kill()
            dnsmasq.wait()
            dnsmasq = None
            sh("ip", "-n", ns, "addr", "del", "10.0.0.1/16", "dev", bridge, check=False)
        load.close()
        mean = {k: sum(v) / len(v) for k, v in rates.items()}
        out.append(
            f"{clients} clients, {seconds:.0f} s x2 each, alternating: kumo responder"
            f" {mean['kumo']:.0f} exchanges/s ({', '.join(f'{v:.0f}' for v in rates['kumo'])}),"
            f" dnsmasq {mean['dnsmasq']:.0f} ({', '.join(f'{v:.0f}' for v in rates['dnsmasq'])});"
            f" ratio {mean['kumo'] / mean['dnsmasq']:.2f}"
        )
    finally:
        if dnsmasq is not None:
            dnsmasq.kill()
        responder.stop()
        dp.apply(HostPlan(host=host))
        dp.close()
        lab.close()
    return out


def bench_start(samples: int) -> list[str]:
    lab = RootLab().start(1)
    (host, ns), = lab.hosts.items()  # fmt: skip
    dp = Dataplane.for_host(host, ns)
    responder = Responder(ns)
    responder.start()
    times: list[float] = []
    try:
        ports: list[dict[str, object]] = []
        for i in range(samples):
            ports.append(_port(i, host))
            plan = compile_host(host, _view(lab, ports))
            responder.update(plan.dhcp)
            started = time.monotonic()
            assert dp.apply(plan).ok
            inst = n.instance_netns(host, str(ports[-1]["id"]))
            ip = ports[-1]["fixed_ips"][0]["ip_address"]  # type: ignore[index]
            while f"inet {ip}/" not in sh("ip", "-n", inst, "-4", "-o", "addr").stdout:
                if time.monotonic() - started > 30:
                    raise RuntimeError("no lease in 30 s")
                time.sleep(0.01)
            times.append(time.monotonic() - started)
    finally:
        responder.stop()
        dp.apply(HostPlan(host=host))
        dp.close()
        lab.close()
    return [f"instance start (plan applied) -> eth0 configured by DHCP: {summary_ms(times)}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--samples", type=int, default=20)
    args = parser.parse_args()
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(f"# bench/dhcp.py {stamp}, {machine()}, pid {os.getpid()}")
    for line in bench_rate(args.clients, args.seconds):
        print(line)
    for line in bench_start(args.samples):
        print(line)


if __name__ == "__main__":
    main()
