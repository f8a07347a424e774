"""The agent's side of distributed SNAT's leases: ask, return.

After each pass the agent compares what its host needs with the blocks it
holds (``kumo.compiler.snat.demand``): a distributed-SNAT router with more
instances here than blocks gets one more block asked for (the next pass,
when the lease has come back on the watch feed, asks for the next); a
router with no instance here for ``idle`` seconds gets its blocks
returned. A host whose translated connections of a router fill three
quarters of its blocks' ports (``conntrack_usage``, read again on every
heartbeat) asks for one more, up to the API's per-instance bound, so port
exhaustion leases a block instead of dropping. Until its first block arrives, a host's traffic leaves through
the router's gateway, so asking is never urgent: a refusal (the host's
share is full, no block is free) or an error waits ``retry`` seconds.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import httpx

from kumo.compiler import names
from kumo.compiler.model import ClusterView, SnatLeaseView
from kumo.compiler.snat import demand

log = logging.getLogger(__name__)
SHORT = 0.75
"""A host asks for one more block of a router once its translated
connections hold this share of its blocks' ports."""
Usage = Callable[[str, str], int]
"""(router id, external IP) → connections translated to it on this host."""


def conntrack_usage(host: str) -> Usage:
    """Counts the router namespace's conntrack entries whose replies go to
    the external IP (its translated connections), with ``conntrack``."""

    def count(router_id: str, external_ip: str) -> int:
        ns = names.router_netns(host, router_id)
        argv = ["ip", "netns", "exec", ns, "conntrack", "-L", "-q", external_ip]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return 0
        return len(done.stdout.splitlines()) if done.returncode == 0 else 0

    return count


class LeaseClient(Protocol):
    def lease_snat_block(self, router_id: str) -> dict[str, Any]: ...

    def release_snat_block(self, lease_id: str) -> None: ...


class SnatLeaser:
    def __init__(
        self,
        client: LeaseClient,
        host: str,
        *,
        idle: float = 60.0,
        retry: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        usage: Usage | None = None,
    ) -> None:
        self.client = client
        self.host = host
        self.usage = usage
        """Connections translated to a router's address here (None: not read)."""
        self._lock = threading.Lock()
        """``update`` runs after each pass and on every heartbeat."""
        self.idle = idle
        self.retry = retry
        self.clock = clock
        self._idle_since: dict[str, float] = {}
        self._not_before: dict[str, float] = {}
        self._granted: dict[str, tuple[int, float]] = {}
        """Router → (blocks held once the last grant shows on the feed, when):
        not asked again before the feed shows it (or ``retry`` passes)."""

    def update(self, view: ClusterView, *, read_usage: bool = False) -> None:
        """After a pass; on a heartbeat with ``read_usage`` (the conntrack
        counts are read then only, away from the passes)."""
        with self._lock:
            self._update(view, read_usage)

    def _update(self, view: ClusterView, read_usage: bool) -> None:
        now = self.clock()
        wanted = demand(self.host, view)
        for rid in set(self._idle_since) - set(wanted):
            del self._idle_since[rid]
        for rid, (instances, held) in wanted.items():
            if instances == 0:
                since = self._idle_since.setdefault(rid, now)
                if now - since >= self.idle:
                    self._return(rid, [x.id for x in held if x.id])
                continue
            self._idle_since.pop(rid, None)
            if len(held) >= instances and not (read_usage and self._short(rid, held)):
                continue
            if now < self._not_before.get(rid, 0.0):
                continue
            count, at = self._granted.get(rid, (0, 0.0))
            if count > len(held) and now - at < self.retry:
                continue  # granted, not on the feed yet
            self._ask(rid, len(held), now)

    def _short(self, router_id: str, held: tuple[SnatLeaseView, ...]) -> bool:
        """Whether the host's connections of the router fill ``SHORT`` of
        its blocks' ports."""
        if self.usage is None or not held:
            return False
        ports = sum(x.port_max - x.port_min + 1 for x in held)
        return self.usage(router_id, held[0].external_ip) >= SHORT * ports

    def _ask(self, router_id: str, held: int, now: float) -> None:
        try:
            lease = self.client.lease_snat_block(router_id)
        except httpx.HTTPError as exc:
            self._not_before[router_id] = now + self.retry
            log.info("no SNAT port block for router %s (%s); retrying later", router_id, exc)
            return
        self._granted[router_id] = (held + 1, now)
        log.info("leased SNAT ports %s of %s for router %s",
                 lease.get("port_range"), lease.get("external_ip"), router_id)  # fmt: skip

    def _return(self, router_id: str, lease_ids: list[str]) -> None:
        for lease_id in lease_ids:
            try:
                self.client.release_snat_block(lease_id)
            except httpx.HTTPError as exc:
                log.warning("returning SNAT block %s failed (%s); will retry", lease_id, exc)
                return
        self._granted.pop(router_id, None)
