"""Lab instances: a port bound to a host; the host's agent builds the namespace."""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from kumo.compiler import names
from kumo.lab.naming import host_alias
from kumo.lab.supervisor import LabState, _admin_token

OWNER = "compute:lab"


class LabClient:
    def __init__(self, state_dir: Path) -> None:
        state = LabState.load(state_dir.resolve())
        if state is None:
            raise SystemExit(f"no lab in {state_dir} (start one with `kumo up`)")
        self.state = state
        self.url = state.api_url
        try:
            token = _admin_token(state_dir.resolve(), self.url)
        except httpx.TransportError as exc:
            raise SystemExit(
                f"the API of lab {state.name!r} at {self.url} does not answer ({exc}); "
                f"see {state.state_dir}/logs/api.log"
            ) from None
        self.http = httpx.Client(
            base_url=f"{self.url}/networking/v2.0", headers={"X-Auth-Token": token}, timeout=30
        )

    def network(self, ref: str) -> dict[str, Any]:
        r = self.http.get(f"/networks/{ref}")
        if r.status_code == 200:
            return dict(r.json()["network"])
        found = self.http.get("/networks", params={"name": ref}).json()["networks"]
        if len(found) != 1:
            raise SystemExit(f"network {ref!r}: {'not found' if not found else 'ambiguous'}")
        return dict(found[0])

    def security_group(self, ref: str, project_id: str) -> str:
        """A group id from an id or a name (in the instance's project)."""
        r = self.http.get(f"/security-groups/{ref}")
        if r.status_code == 200:
            return str(r.json()["security_group"]["id"])
        found = self.http.get(
            "/security-groups", params={"name": ref, "project_id": project_id}
        ).json()["security_groups"]
        if len(found) != 1:
            raise SystemExit(f"security group {ref!r}: {'not found' if not found else 'ambiguous'}")
        return str(found[0]["id"])

    def instances(self) -> list[dict[str, Any]]:
        return list(self.http.get("/ports", params={"device_owner": OWNER}).json()["ports"])

    def find(self, name: str, network: str | None = None) -> dict[str, Any]:
        """A lab instance's port, or a server's bound port, by name or id; a
        name that two of them share is refused with both listed. A server
        with ports on several networks is one instance namespace per port:
        the one on ``network`` (a name or id) if given, else its first
        interface in the server's own order (that of ``--network`` at
        create, as ``os-interface`` lists them)."""
        ports = [p for p in self.instances() if p["name"] == name or p["id"] == name]
        servers = self._servers(name)
        if len(ports) + len(servers) > 1:
            lines = [f"  lab instance {p['id']} on {p['binding:host_id']}" for p in ports]
            lines += [f"  server {s['id']} ({s.get('status', '?')})" for s in servers]
            raise SystemExit(
                f"{len(lines)} instances are named {name!r}; give one by its id:\n"
                + "\n".join(lines)
            )
        net_id = self.network(network)["id"] if network is not None else None
        if ports:
            if net_id is not None and ports[0]["network_id"] != net_id:
                raise SystemExit(f"lab instance {name!r} has no port on network {network!r}")
            return ports[0]
        if not servers:
            raise SystemExit(f"no lab instance or server named {name!r}")
        found = self.http.get("/ports", params={"device_id": servers[0]["id"]})
        bound = {p["id"]: p for p in found.json()["ports"] if p.get("binding:host_id")}
        # not by the ports' created_at: shown to the second, it ties for the
        # ports one server create makes
        order = [i for i in self._interface_order(servers[0]["id"]) if i in bound]
        order += sorted((i for i in bound if i not in order),
                        key=lambda i: (bound[i]["created_at"], i))  # fmt: skip
        ordered = [bound[i] for i in order]
        if net_id is not None:
            ordered = [p for p in ordered if p["network_id"] == net_id]
            if not ordered:
                raise SystemExit(f"server {name!r} has no port bound on network {network!r}")
        if ordered:
            return dict(ordered[0])
        raise SystemExit(f"server {name!r} has no port bound to a host yet")

    def _interface_order(self, server_id: str) -> list[str]:
        """A server's port ids in its own order (Nova's ``os-interface``)."""
        r = httpx.get(f"{self.url}/compute/v2.1/servers/{server_id}/os-interface",
                      headers=dict(self.http.headers), timeout=30)  # fmt: skip
        if r.status_code != 200:
            return []
        return [str(a["port_id"]) for a in r.json().get("interfaceAttachments") or []]

    def _servers(self, name: str) -> list[dict[str, Any]]:
        """Servers with this id, or else with this exact name (any project)."""
        compute = f"{self.url}/compute/v2.1/servers"
        headers = dict(self.http.headers)
        r = httpx.get(f"{compute}/{name}", headers=headers, timeout=30)
        if r.status_code == 200:
            return [dict(r.json()["server"])]
        r = httpx.get(f"{compute}/detail",
                      params={"name": f"^{re.escape(name)}$", "all_tenants": "1"},
                      headers=headers, timeout=30)  # fmt: skip
        if r.status_code != 200:
            return []
        return [dict(s) for s in r.json().get("servers") or [] if s.get("name") == name]

    def create(
        self,
        name: str,
        network: str,
        host: str | None,
        ip: str | None,
        subnet: str | None,
        timeout: float = 30,
        security_groups: list[str] | None = None,
        port_security: bool = True,
    ) -> dict[str, Any]:
        if any(p["name"] == name for p in self.instances()):
            raise SystemExit(f"a lab instance named {name!r} exists already")
        net = self.network(network)
        hosts = [h.name for h in self.state.topology().hosts]
        if host is not None:
            host = host_alias(host, hosts)
        else:
            counts = dict.fromkeys(hosts, 0)
            for port in self.instances():
                counts[port["binding:host_id"]] = counts.get(port["binding:host_id"], 0) + 1
            host = min(sorted(counts), key=lambda h: counts[h])
        body: dict[str, Any] = {
            "network_id": net["id"],
            "name": name,
            "device_owner": OWNER,
            "device_id": str(uuid.uuid4()),
            "binding:host_id": host,
            "project_id": net["project_id"],
        }
        if not port_security:
            body["port_security_enabled"] = False
        elif security_groups is not None:
            body["security_groups"] = [
                self.security_group(g, net["project_id"]) for g in security_groups
            ]
        if ip or subnet:
            fixed: dict[str, str] = {}
            if ip:
                fixed["ip_address"] = ip
            if subnet:
                fixed["subnet_id"] = subnet
            body["fixed_ips"] = [fixed]
        r = self.http.post("/ports", json={"port": body})
        if r.status_code != 201:
            raise SystemExit(f"port create failed: {r.status_code} {r.text}")
        port = dict(r.json()["port"])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            port = dict(self.http.get(f"/ports/{port['id']}").json()["port"])
            if port["status"] == "ACTIVE" and self._configured(port):
                return port
            time.sleep(0.05)
        raise SystemExit(
            f"instance {name} did not become ACTIVE in {timeout:.0f}s (port {port['id']})"
        )

    def wait_ready(self, port: dict[str, Any], timeout: float = 20) -> dict[str, Any]:
        """``port`` once ACTIVE with its instance holding its IPv4 addresses
        (a server just created may still be wiring, or asking DHCP); as it
        is after ``timeout`` otherwise, for the command to say what fails."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if port["status"] == "ACTIVE" and self._configured(port):
                break
            time.sleep(0.1)
            r = self.http.get(f"/ports/{port['id']}")
            if r.status_code == 200:
                port = dict(r.json()["port"])
        return port

    def _configured(self, port: dict[str, Any]) -> bool:
        """Whether the instance holds its IPv4 addresses (its DHCP client may
        still be asking just after the port turned ACTIVE)."""
        wanted = [f["ip_address"] for f in port["fixed_ips"] if ":" not in f["ip_address"]]
        if not wanted:
            return True
        ns = names.instance_netns(port["binding:host_id"], port["id"])
        shown = subprocess.run(
            ["ip", "-n", ns, "-4", "-o", "addr", "show", "dev", "eth0"],
            capture_output=True,
            text=True,
        ).stdout
        return all(f"inet {ip}/" in shown for ip in wanted)

    def delete(self, name: str) -> None:
        port = self.find(name)
        r = self.http.delete(f"/ports/{port['id']}")
        if r.status_code != 204:
            raise SystemExit(f"port delete failed: {r.status_code} {r.text}")
