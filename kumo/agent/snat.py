"""The agent's side of distributed SNAT's leases: ask, return.

After each pass the agent compares what its host needs with the blocks it
holds (``kumo.compiler.snat.demand``): a distributed-SNAT router with more
instances here than blocks gets one more block asked for (the next pass,
when the lease has come back on the watch feed, asks for the next); a
router with no instance here for ``idle`` seconds gets its blocks
returned. Until its first block arrives, a host's traffic leaves through
the router's gateway, so asking is never urgent: a refusal (the host's
share is full, no block is free) or an error waits ``retry`` seconds.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import httpx

from kumo.compiler.model import ClusterView
from kumo.compiler.snat import demand

log = logging.getLogger(__name__)


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
    ) -> None:
        self.client = client
        self.host = host
        self.idle = idle
        self.retry = retry
        self.clock = clock
        self._idle_since: dict[str, float] = {}
        self._not_before: dict[str, float] = {}
        self._granted: dict[str, tuple[int, float]] = {}
        """Router → (blocks held once the last grant shows on the feed, when):
        not asked again before the feed shows it (or ``retry`` passes)."""

    def update(self, view: ClusterView) -> None:
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
            if len(held) >= instances or now < self._not_before.get(rid, 0.0):
                continue
            count, at = self._granted.get(rid, (0, 0.0))
            if count > len(held) and now - at < self.retry:
                continue  # granted, not on the feed yet
            self._ask(rid, len(held), now)

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
