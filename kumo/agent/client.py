"""HTTP client of the agent: token, registration, heartbeats, list and watch."""

from __future__ import annotations

import base64
import hashlib
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import orjson

from kumo.agent import tls
from kumo.agent.config import AgentConfig
from kumo.ha.seal import ClusterKey
from kumo.identity.authbody import password_auth


class Gone(Exception):
    """The watch revision is no longer retained: relist."""


class Busy(httpx.HTTPError):
    """The server has too many lists waiting (``503``): ask again after
    ``retry_after`` seconds, or another server now (an ``HTTPError``, so
    that a caller that only knows those retries as after any other)."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"the API server is busy; retry after {retry_after:.0f} s")
        self.retry_after = retry_after


BUSY_SPREAD = 10.0
"""Seconds over which agents refused together come back."""


def busy_delay(
    retry_after: float, refusals: int, servers: int, rand: Callable[[], float] = random.random
) -> float:
    """Seconds to wait after the ``refusals``-th ``503`` in a row, the next
    list going to the next server: none after the first refusal when there
    is another server (it may have room), else ``retry_after`` and up to
    ``BUSY_SPREAD`` more at random, so that agents refused together do not
    come back together (the server names a time at which it still has
    more than that much work queued: it does not sit idle meanwhile)."""
    if refusals <= 1 and servers > 1:
        return 0.0
    after = max(0.0, retry_after)
    return after + rand() * min(after, BUSY_SPREAD)


class Listing(NamedTuple):
    """A list's answer: its revision, objects and (where asked for a host's
    whole interest) the topics the server took it to."""

    revision: int
    objects: list[dict[str, Any]]
    topics: frozenset[str] | None = None

    @classmethod
    def parse(cls, data: dict[str, Any]) -> Listing:
        topics = data.get("topics")
        return cls(
            int(data["revision"]),
            list(data["objects"]),
            frozenset(str(t) for t in topics) if isinstance(topics, list) else None,
        )


LIST_READ_TIMEOUT = 120.0
"""Seconds a list may take to answer (a watch's ``read_timeout`` is how long
a stream may show nothing). A list is a whole snapshot: a loaded server
takes long to render it, and an agent that gave up and listed again on the
next server only added to the pile, the first server rendering the
abandoned list all the same (100 simulated hosts: lists of 8-190 s, each
agent listing again every 20 s)."""


AGENT_TYPE = "kumo agent"
"""The agent type a host's agent registers with."""
GATEWAY_AGENT_TYPE = "L3 agent"
"""A gateway host's agent (``--gateway``) registers as what Neutron calls an
L3 agent in ``dvr_snat`` mode (``configurations.agent_mode``): the agent the
router scheduler places routers' gateways and SNAT on, listed by
``openstack network agent list --agent-type l3``. It does the work of every
host's agent too."""


class UploadRefused(Exception):
    """The API refused an upload (4xx): trying again would not help."""


class ApiClient:
    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.bases = [u.strip().rstrip("/") for u in config.api_url.split(",") if u.strip()]
        """The API servers, in the order tried; ``base`` is the one in use."""
        self._at = 0
        self._http = httpx.Client(
            timeout=httpx.Timeout(30.0, read=config.read_timeout), verify=tls.context()
        )
        self._token: str | None = None
        self._expires = 0.0
        self._lock = threading.Lock()

    @property
    def base(self) -> str:
        return self.bases[self._at % len(self.bases)]

    def failover(self) -> str:
        """Use the next API server (after a failure of this one); its URL."""
        with self._lock:
            self._at = (self._at + 1) % len(self.bases)
            return self.base

    def _auth_url(self) -> str:
        """The identity endpoint, on the server in use when it is one of ours."""
        auth = self.config.credentials.auth_url.rstrip("/")
        for other in self.bases:
            if auth.startswith(other + "/"):
                return self.base + auth[len(other) :]
        return auth

    def close(self) -> None:
        self._http.close()

    def token(self) -> str:
        with self._lock:
            if self._token and time.time() < self._expires - 120:
                return self._token
            c = self.config.credentials
            body = password_auth(
                c.username,
                c.password,
                project_name=c.project_name,
                user_domain_id=c.user_domain_id,
                project_domain_id=c.project_domain_id,
            )
            r = self._http.post(self._auth_url() + "/auth/tokens?nocatalog", json=body)
            r.raise_for_status()
            self._token = r.headers["X-Subject-Token"]
            expires = r.json()["token"]["expires_at"]
            self._expires = (
                time.mktime(time.strptime(expires[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
            )
            return self._token

    def _headers(self) -> dict[str, str]:
        return {"X-Auth-Token": self.token()}

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            r = self._http.post(self.base + path, json=body, headers=self._headers())
        except httpx.TransportError:
            if len(self.bases) == 1:
                raise
            self.failover()  # once: the caller retries later if that one fails too
            r = self._http.post(self.base + path, json=body, headers=self._headers())
        if r.status_code == 401:
            self._token = None
            r = self._http.post(self.base + path, json=body, headers=self._headers())
        r.raise_for_status()
        result: dict[str, Any] = r.json()
        return result

    def server(self, server_id: str, port_id: str) -> dict[str, Any] | None:
        """A server of this host that ``port_id`` is an interface of, for its
        metadata service: ``{"server": ..., "public_key": ...}``; None on 404."""
        url = f"{self.base}/internal/v1/servers/{server_id}"
        params = {"port_id": port_id}
        r = self._http.get(url, headers=self._headers(), params=params)
        if r.status_code == 401:
            self._token = None
            r = self._http.get(url, headers=self._headers(), params=params)
        if r.status_code == 404:
            return None
        r.raise_for_status()
        result: dict[str, Any] = r.json()
        return result

    def download_image(self, image_id: str, image_hash: str, dest: Path) -> None:
        """An image's data (for a VM's disk) into ``dest``, checked against
        its hash (sha512, or md5 for 32 hex digits); written beside it first
        and renamed, so ``dest`` is whole or absent."""
        url = f"{self.base}/internal/v1/images/{image_id}/file"
        algo = hashlib.md5(usedforsecurity=False) if len(image_hash) == 32 else hashlib.sha512()
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{threading.get_ident()}.part")
        try:
            for attempt in (0, 1):
                with self._http.stream("GET", url, headers=self._headers(), timeout=300) as r:
                    if r.status_code == 401 and attempt == 0:
                        self._token = None
                        continue
                    r.raise_for_status()
                    with tmp.open("wb") as f:
                        for piece in r.iter_bytes(1 << 20):
                            algo.update(piece)
                            f.write(piece)
                break
            if algo.hexdigest() != image_hash:
                raise ValueError(f"image {image_id}: data does not match its hash")
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)

    def _put_file(self, url: str, path: Path) -> httpx.Response:
        """``path`` streamed as the body of a PUT, a MiB at a time (never
        whole in memory); once more with a fresh token after a 401."""

        def pieces() -> Iterator[bytes]:
            with path.open("rb") as f:
                while piece := f.read(1 << 20):
                    yield piece

        for attempt in (0, 1):
            headers = {
                **self._headers(),
                "Content-Type": "application/octet-stream",
                "Content-Length": str(path.stat().st_size),
            }
            r = self._http.put(url, content=pieces(), headers=headers, timeout=600)
            if r.status_code == 401 and attempt == 0:
                self._token = None
                continue
            break
        return r

    def upload_snapshot(self, image_id: str, path: Path) -> None:
        """A VM snapshot's data (``kumo.compute.snapshots``), streamed from
        ``path``. A 4xx answer is final (``SnapshotRefused``); anything else
        may be tried again (``VmFailure``)."""
        from kumo.dataplane.vms import SnapshotRefused, VmFailure

        url = f"{self.base}/internal/v1/snapshots/{image_id}/file"
        try:
            r = self._put_file(url, path)
        except httpx.HTTPError as exc:
            raise VmFailure(f"snapshot {image_id}: {exc}") from exc
        if 400 <= r.status_code < 500:
            raise SnapshotRefused(f"snapshot {image_id}: {r.status_code} {r.text[:300]}")
        if r.status_code >= 300:
            raise VmFailure(f"snapshot {image_id}: {r.status_code} {r.text[:300]}")

    def upload_volume_image(self, image_id: str, path: Path) -> None:
        """A volume's data converted for its image (``kumo.volume.uploads``),
        streamed from ``path``; ``UploadRefused`` for a 4xx answer (the API
        ended the upload), ``httpx.HTTPError`` otherwise."""
        r = self._put_file(f"{self.base}/internal/v1/volume-uploads/{image_id}/file", path)
        if 400 <= r.status_code < 500:
            raise UploadRefused(f"image {image_id}: {r.status_code} {r.text[:300]}")
        r.raise_for_status()

    def abandon_volume_upload(self, image_id: str, error: str) -> None:
        """The volume's data could not be read: its image is killed, the
        volume goes back to its status with ``error`` as its user message."""
        r = self._http.delete(f"{self.base}/internal/v1/volume-uploads/{image_id}",
                              params={"error": error[:1000]}, headers=self._headers())  # fmt: skip
        if r.status_code not in (204, 404):
            r.raise_for_status()

    def abandon_snapshot(self, image_id: str) -> None:
        """The snapshot's data could not be made: its image is killed."""
        r = self._http.delete(
            f"{self.base}/internal/v1/snapshots/{image_id}", headers=self._headers()
        )
        if r.status_code not in (204, 404):
            r.raise_for_status()

    def report_power(self, servers: list[dict[str, Any]]) -> None:
        """The power state of this host's VMs whose state changed."""
        self._post("/internal/v1/servers/power-states", {"servers": servers})

    def cluster_key(self) -> ClusterKey:
        """The key that seals HA beats and state sync (``kumo.ha.seal``)."""
        url = self.base + "/internal/v1/cluster-key"
        r = self._http.get(url, headers=self._headers())
        if r.status_code == 401:
            self._token = None
            r = self._http.get(url, headers=self._headers())
        r.raise_for_status()
        return ClusterKey.from_text(r.json()["cluster_key"]["key"])

    def console_key(self) -> bytes:
        """This host's console endpoint key (``kumo.agent.console_credential``)."""
        url = self.base + "/internal/v1/console-key"
        params = {"host": self.config.host}
        r = self._http.get(url, params=params, headers=self._headers())
        if r.status_code == 401:
            self._token = None
            r = self._http.get(url, params=params, headers=self._headers())
        r.raise_for_status()
        return base64.b64decode(r.json()["console_key"]["key"])

    def configurations(self) -> dict[str, Any]:
        cfg = self.config
        out = {
            "tunnel_ip": cfg.tunnel_ip,
            "underlay_device": cfg.underlay_device,
            "bridge_mappings": dict(cfg.bridge_mappings),
            "bandwidths": {
                physnet: {"egress": egress, "ingress": ingress}
                for physnet, (egress, ingress) in cfg.bandwidths.items()
            },
            "packet_rates": dict(cfg.packet_rates),
            "vlan_devices": cfg.vlan_devices is not False,
            "gateway": cfg.gateway,
            **({"agent_mode": "dvr_snat"} if cfg.gateway else {}),
            "netns": cfg.netns,
            **capacity(cfg),
        }
        if cfg.console_url:
            out["console_url"] = cfg.console_url
        return out

    def register(self) -> str:
        cfg = self.config
        configurations = self.configurations()
        body = {
            "agent": {
                "host": cfg.host,
                "binary": "kumo-agent",
                "agent_type": GATEWAY_AGENT_TYPE if cfg.gateway else AGENT_TYPE,
                "availability_zone": cfg.availability_zone,
                "configurations": configurations,
            }
        }
        return str(self._post("/internal/v1/agents", body)["agent"]["id"])

    def heartbeat(self, agent_id: str, status: dict[str, Any] | None = None) -> None:
        """Beat; ``status`` (readiness) is reported in the agent's configurations."""
        body = {"configurations": {**self.configurations(), **status}} if status else {}
        self._post(f"/internal/v1/agents/{agent_id}/heartbeat", body)

    def report(self, active: list[str], down: list[str]) -> None:
        self._post(
            "/internal/v1/ports/status", {"host": self.config.host, "active": active, "down": down}
        )

    def report_ha(self, agent_id: str, states: dict[str, str]) -> None:
        """The HA state of this host's gateway for each router: ``active`` or ``standby``."""
        self._post(f"/internal/v1/agents/{agent_id}/ha-states", {"ha_states": states})

    def report_metering(self, agent_id: str, totals: dict[str, tuple[int, int]]) -> None:
        """This host's metering totals: label id → (bytes, packets)."""
        body = {"counts": {k: [b, p] for k, (b, p) in totals.items()}}
        self._post(f"/internal/v1/agents/{agent_id}/metering", body)

    def lease_snat_block(self, router_id: str) -> dict[str, Any]:
        """A new port block of the router's external address for this host."""
        body = {"snat_lease": {"router_id": router_id, "host": self.config.host}}
        return dict(self._post("/internal/v1/snat-leases", body)["snat_lease"])

    def release_snat_block(self, lease_id: str) -> None:
        r = self._http.delete(
            f"{self.base}/internal/v1/snat-leases/{lease_id}", headers=self._headers()
        )
        if r.status_code != 404:  # gone already: reclaimed, or the router went
            r.raise_for_status()

    def list(self, topics: frozenset[str], host: str | None = None) -> Listing:
        """A snapshot of ``topics``; with ``host``, of every topic that host
        needs given what they hold (the answer's ``topics``, where the
        server works them out; ``None`` from a server that does not)."""
        return Listing.parse(orjson.loads(self.list_answer(topics, host).content))

    def list_answer(self, topics: frozenset[str], host: str | None = None) -> httpx.Response:
        """``list``'s answer, unparsed (``Busy`` when the server refused it at once)."""
        params = {"topics": ",".join(sorted(topics))}
        if host is not None:
            params["host"] = host
        r = self._http.get(
            self.base + "/internal/v1/list",
            params=params,
            headers=self._headers(),
            timeout=self.list_timeout,
        )
        if r.status_code == 503 and "Retry-After" in r.headers:
            raise Busy(_seconds(r.headers["Retry-After"]))
        r.raise_for_status()
        return r

    @property
    def list_timeout(self) -> httpx.Timeout:
        return httpx.Timeout(30.0, read=max(LIST_READ_TIMEOUT, self.config.read_timeout))

    def watch(self, since: int, topics: frozenset[str]) -> Iterator[dict[str, Any]]:
        params = {"since": str(since), "topics": ",".join(sorted(topics))}
        with self._http.stream(
            "GET", self.base + "/internal/v1/watch", params=params, headers=self._headers()
        ) as r:
            if r.status_code == 410:
                raise Gone(f"revision {since} expired")
            r.raise_for_status()
            for line in r.iter_lines():
                if not line:
                    continue
                event = orjson.loads(line)
                if event.get("type") == "gone":
                    raise Gone(f"revision {event.get('revision')} expired")
                yield event


def _seconds(retry_after: str) -> float:
    """A ``Retry-After`` in seconds (1 when it is a date or unreadable)."""
    try:
        return max(0.0, float(retry_after))
    except ValueError:
        return 1.0


def capacity(cfg: AgentConfig) -> dict[str, Any]:
    """What the host offers the scheduler: its real vCPUs and RAM (or the
    configured ones), its compute drivers, and where its VMs' consoles are."""
    vcpus = cfg.vcpus or os.cpu_count() or 1
    memory = cfg.memory_mb or _memory_mb()
    out: dict[str, Any] = {"vcpus": vcpus, "memory_mb": memory, "drivers": ["namespace"]}
    if cfg.vm_dir is not None:
        out["drivers"].append("qemu")
        out["hypervisor_type"] = "QEMU"
        out["vm_dir"] = str(cfg.vm_dir)
        try:
            st = os.statvfs(cfg.vm_dir if cfg.vm_dir.exists() else "/")
            out["local_gb"] = st.f_blocks * st.f_frsize >> 30
        except OSError:
            pass
    return out


def _memory_mb() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return 1024
