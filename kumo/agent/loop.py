"""The agent's threads: watch (cache), worker (compile + reconcile + status), heartbeat.

The watch thread keeps the cache current with list-then-watch and relists
when its topic set changes (a network gained or lost its last local port)
or the feed says its revision expired. The worker waits for a change;
after a quiet spell it starts at once (a single change is not delayed),
while changes keep coming it waits ``debounce`` so a burst coalesces into
one pass. It compiles the whole view, runs the dataplane and reports port
status only where it changed. It also runs a resync every
``resync_interval`` (spread over passes, a slice of the host's namespaces
each) and retries failed passes after the dataplane's back-off. Network
errors never stop the kernel: what is wired stays wired while the agent
retries.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

import httpx

from kumo.agent import memory
from kumo.agent.cache import Cache
from kumo.agent.client import ApiClient, Busy, Gone, busy_delay
from kumo.agent.config import AgentConfig
from kumo.agent.gctime import GcMeter
from kumo.agent.metering import MeterTotals
from kumo.agent.repeats import RepeatLimiter
from kumo.agent.snat import SnatLeaser, conntrack_usage
from kumo.compiler import ClusterView, compile_host
from kumo.compiler.ha import ha_routers
from kumo.compiler.plan import (
    Dhcp6Lease,
    DhcpLease,
    DnsZone,
    HostPlan,
    MetadataEndpoint,
    RouterAdvert,
)
from kumo.dataplane.backoff import Backoff
from kumo.ha.liveness import Liveness
from kumo.ha.statesync import StateSync, roles
from kumo.telemetry.agent import AgentMetrics

log = logging.getLogger("kumo.agent")

PASS_CRASH_BACKOFF = Backoff(initial=0.5, multiplier=2.0, cap=30.0, jitter=0.2)
"""Wait before the pass after one that raised (a bug, not the kernel's
refusal, which the dataplane's own backoff paces)."""


def _held_back(held: int) -> str:
    return f" ({held} identical reports held back)" if held else ""


class Applier(Protocol):
    """What the worker needs from a dataplane (kumo.dataplane.Dataplane fits)."""

    def apply(self, plan: HostPlan) -> Any: ...

    def retry(self) -> Any: ...

    def resync(self, rolling: bool = False) -> None: ...

    @property
    def rolling(self) -> bool: ...

    def close(self) -> None: ...

    before_guests: Callable[[frozenset[str]], None] | None
    """Set by the worker: called within a pass with the ports wired so far,
    before guest processes start (see ``Dataplane.before_guests``)."""


class LeaseSink(Protocol):
    """What the worker hands each plan's DHCP leases to (kumo.dhcp.Responder fits)."""

    def update(
        self,
        leases: Iterable[DhcpLease],
        adverts: Iterable[RouterAdvert] = (),
        leases6: Iterable[Dhcp6Lease] = (),
    ) -> None: ...


class MetadataSink(Protocol):
    """What the worker hands each plan's metadata endpoints to
    (kumo.metadata.server.MetadataServer fits): ``update`` before the
    dataplane runs (endpoints that left are closed before their namespaces
    go), ``ensure`` after it (new namespaces exist now)."""

    def update(self, endpoints: Iterable[MetadataEndpoint], view: ClusterView) -> None: ...

    def ensure(self) -> None: ...


class ResolverSink(Protocol):
    """What the worker hands each plan's DNS zones to (kumo.dns.server.Resolver
    fits): ``update`` before the dataplane runs (sockets of zones that left
    close before their namespaces go), ``ensure`` after it."""

    def update(self, zones: Iterable[DnsZone]) -> None: ...

    def ensure(self) -> None: ...


class Agent:
    def __init__(
        self,
        config: AgentConfig,
        applier: Applier,
        client: ApiClient | None = None,
        dhcp: LeaseSink | None = None,
        metadata: MetadataSink | None = None,
        resolver: ResolverSink | None = None,
        liveness: Liveness | None = None,
        statesync: StateSync | None = None,
        metrics: AgentMetrics | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics
        """Pass times, errors, HA states for ``/metrics`` (None: not kept)."""
        self.applier = applier
        # Ports are reported ACTIVE as soon as their host side is wired,
        # before their guests start.
        applier.before_guests = self._report_wired
        self.dhcp = dhcp
        self.metadata = metadata
        self.resolver = resolver
        self.liveness = liveness
        """Beats with the other hosts: the active gateway of HA routers."""
        if liveness is not None:
            liveness.on_change = self._urgent
        self.statesync = statesync
        """Carries HA routers' connection state to their standby hosts."""
        self._compiled: tuple[object, HostPlan] | None = None
        """(compiler inputs, plan) of the last compile."""
        self.compiles = 0
        """Plans compiled (a pass with nothing new reuses the last)."""
        self.urgent = threading.Event()
        """The liveness view changed: compile without waiting for a debounce."""
        self._ha_reported: dict[str, str] | None = None
        self.client = client or ApiClient(config)
        self.meter_totals = MeterTotals()
        """What this host's router namespaces counted per metering label."""
        self.snat = SnatLeaser(self.client, config.host, usage=conntrack_usage(config.host))
        """Asks for and returns distributed SNAT's port blocks."""
        self.cache = Cache(config.host)
        self.agent_id: str | None = None
        self.stop_event = threading.Event()
        self.dirty = threading.Event()
        vms = getattr(applier, "vms", None)
        if vms is not None:
            vms.wake = self.dirty.set  # a VM's job ended: read it back
        self._vm_reported: dict[str, Any] = {}
        self.synced = threading.Event()
        self.cache_ready = threading.Event()
        """Set once a list covered every topic the cache then asked for: before
        that the cache may hold ports without their networks, and a pass would
        remove what is already right."""
        self.stats: dict[str, float] = {
            "applies": 0,
            "last_apply_seconds": 0.0,
            "relists": 0,
            "errors": 0,
            "busy": 0,
        }
        self._threads: list[threading.Thread] = []
        self.gc = GcMeter().install()
        self._settled_ports = 0
        """Ports wired at the last ``_settle_memory``."""
        self._settled_at = time.monotonic()
        self._repeats = RepeatLimiter()
        """Identical failures are logged at most once a minute."""
        self._failed_passes = 0
        """Consecutive passes that left work undone."""
        self._crashes = 0
        """Consecutive passes that raised."""
        self.settle_interval = 600.0
        """A resync ends with ``_settle_memory`` at most this often: it
        holds the worker ~0.1-0.2 s with 1,000 ports."""

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        self._register()
        if self.liveness is not None:
            self.liveness.start()
        if self.statesync is not None:
            self.statesync.start()
        for name, target in (
            ("watch", self._watch_loop),
            ("worker", self._work_loop),
            ("heartbeat", self._beat_loop),
        ):
            t = threading.Thread(target=target, name=f"kumo-agent-{name}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self.stop_event.set()
        self.dirty.set()
        if self.liveness is not None:
            self.liveness.stop(leaving=True)
            self._close_gates()
        for t in self._threads:
            t.join(timeout=5)
        if self.statesync is not None:
            self.statesync.stop()
        self.client.close()
        self.gc.uninstall()

    def _close_gates(self) -> None:
        """After the last beat: close this host's gates now rather than when
        the lease runs out (the peers take over at once on a leaving beat)."""
        close = getattr(self.applier, "close_gates", None)
        if close is not None:
            try:
                close()
            except Exception:  # noqa: BLE001 - the lease closes them anyway
                log.exception("closing the gates failed")

    def _urgent(self) -> None:
        self.urgent.set()
        self.dirty.set()

    def run_forever(self) -> None:
        self.start()
        try:
            while not self.stop_event.wait(1.0):
                pass
        finally:
            self.stop()

    def _register(self) -> None:
        delay = 0.2
        while not self.stop_event.is_set():
            try:
                self.agent_id = self.client.register()
                log.info("registered as agent %s for host %s", self.agent_id, self.config.host)
                return
            except (httpx.HTTPError, KeyError) as exc:
                log.warning("registration failed (%s); retrying in %.1fs", exc, delay)
                self.stop_event.wait(delay)
                delay = min(delay * 2, 5.0)

    # -- watch ---------------------------------------------------------------------------

    def _watch_loop(self) -> None:
        delay = 0.2
        recalled = memory.recall(self.config.host, self.config.state_dir)
        saved = recalled
        resume: tuple[int, frozenset[str]] | None = None
        """(revision, topics) a broken watch goes on from, on the next server."""
        watching: frozenset[str] | None = None
        refusals = 0
        """Lists answered ``503`` (the server saturated) in a row."""
        while not self.stop_event.is_set():
            try:
                if resume is not None and resume[1] == self.cache.topics():
                    # The cache is whole up to this revision: watch on from it
                    # (the server answers 410 when it is no longer retained).
                    revision, topics = resume
                    resume = None
                else:
                    resume = None
                    topics = self.cache.topics() | recalled
                    revision, objects, whole = self.client.list(topics, host=self.config.host)
                    topics = whole or topics
                    recalled = frozenset()
                    refusals = 0
                    self.cache.replace(revision, objects)
                    self.stats["relists"] += 1
                    # The snapshot may have revealed local ports on new networks
                    # (or the recalled topics held some no longer needed).
                    if self.cache.topics() != topics:
                        continue
                    if topics != saved:
                        memory.remember(self.config.host, topics, self.config.state_dir)
                        saved = topics
                    self.cache_ready.set()
                    self.dirty.set()
                delay = 0.2
                changed = False
                watching = topics
                for event in self.client.watch(revision, topics):
                    if self.stop_event.is_set():
                        return
                    if event.get("type") == "bookmark":
                        continue
                    if self.cache.apply(event):
                        self.dirty.set()
                    if self.cache.topics() != topics:
                        changed = True
                        break
                watching = None
                if not changed:  # the server ended the stream (it is stopping)
                    resume = (self.cache.revision, topics)
                    self.client.failover()
            except Gone:
                watching = None
                log.info("watch revision expired; relisting")
            except Busy as exc:  # the list was refused at once: ask later, or another server
                self.stats["busy"] += 1
                refusals += 1
                server = self.client.failover()
                wait = busy_delay(exc.retry_after, refusals, len(self.client.bases))
                log.info("list refused (%s); asking %s in %.1fs", exc, server, wait)
                self.stop_event.wait(wait)
            except (httpx.HTTPError, ValueError, KeyError) as exc:
                self.stats["errors"] += 1
                if watching is not None:  # broke mid-stream: the cache is whole up to here
                    resume = (self.cache.revision, watching)
                    watching = None
                server = self.client.failover()
                log.warning("watch failed (%s); retrying on %s in %.1fs", exc, server, delay)
                self.stop_event.wait(delay)
                delay = min(delay * 2, 5.0)

    # -- worker --------------------------------------------------------------------------

    def _work_loop(self) -> None:
        last_resync = time.monotonic()
        last_change = 0.0  # when the last pass that compiled a new plan ended
        retry_at: float | None = None
        while not self.stop_event.is_set():
            timeout = self.config.resync_interval
            if retry_at is not None:
                timeout = max(0.0, min(timeout, retry_at - time.monotonic()))
            if self.applier.rolling:
                # The next slice after a pause; a change meanwhile goes first.
                timeout = min(timeout, self.config.debounce)
            woke = self.dirty.wait(timeout)
            if self.stop_event.is_set():
                return
            if not self.cache_ready.is_set():
                self.dirty.clear()
                continue
            # A change right after a pass that applied changes waits out the
            # rest of the debounce (measured from that pass), so what follows
            # lands in one pass. A resync's slice or a retry (the same plan)
            # holds nothing back: what comes after it is not part of a burst.
            wait = self.config.debounce - (time.monotonic() - last_change)
            if woke and wait > 0 and not self.urgent.is_set():
                time.sleep(wait)
            self.urgent.clear()
            self.dirty.clear()
            if time.monotonic() - last_resync >= self.config.resync_interval:
                # Spread over passes: changes meanwhile wait for a slice, not the whole host.
                self.applier.resync(rolling=True)
                last_resync = time.monotonic()
            rolling = self.applier.rolling
            compiles = self.compiles
            try:
                result = self._first_pass() if not self.synced.is_set() else self._pass()
                if self.compiles != compiles:
                    last_change = time.monotonic()
                settle_due = time.monotonic() - self._settled_at >= self.settle_interval
                if not self.applier.rolling and rolling and settle_due:
                    self._settle_memory(len(getattr(result, "wired_ports", ())))
                retry_at = (
                    time.monotonic() + float(result.retry_after)
                    if getattr(result, "retry_after", None) is not None
                    else None
                )
                self._note_result(result)
            except Exception as exc:  # noqa: BLE001 - keep the agent alive; the next pass retries
                self.stats["errors"] += 1
                if self.metrics is not None:
                    self.metrics.pass_crashes.inc()
                self._crashes += 1
                delay = PASS_CRASH_BACKOFF.delay(self._crashes)
                held = self._repeats.check(f"{type(exc).__name__}: {exc}")
                if held is not None:
                    log.exception(
                        "dataplane pass failed; retrying in %.1fs%s", delay, _held_back(held)
                    )
                retry_at = time.monotonic() + delay
                last_change = time.monotonic()

    def _note_result(self, result: Any) -> None:
        """Log a pass that left work undone (the same errors at most once a
        minute) and the first complete pass after failures."""
        self._crashes = 0
        errors = getattr(result, "errors", None) or {}
        if getattr(result, "ok", True):
            if self._failed_passes:
                log.info("dataplane in order again after %d failed passes", self._failed_passes)
            self._failed_passes = 0
            self._repeats.reset()
            return
        self._failed_passes += 1
        if not errors:
            return
        summary = "; ".join(f"{key}: {message}" for key, message in sorted(errors.items())[:3])
        if len(errors) > 3:
            summary += f"; and {len(errors) - 3} more"
        held = self._repeats.check(summary)
        if held is not None:
            log.warning(
                "dataplane pass incomplete (%d failed, retrying in %.1fs): %s%s",
                len(errors),
                float(getattr(result, "retry_after", None) or 0.0),
                summary,
                _held_back(held),
            )

    def _first_pass(self) -> Any:
        """A pass before the agent is in sync, with the cyclic collector
        paused: building the first view, plan and kernel reads of a loaded
        host allocates enough to set off several full collections (~0.1-0.2
        s with 1,000 ports, walking everything built so far), and the settle
        that ends the first complete pass collects once anyway."""
        paused = gc.isenabled()
        gc.disable()
        try:
            return self._pass()
        finally:
            if paused:
                gc.enable()

    def _pass(self) -> Any:
        started = time.monotonic()
        on_cpu = time.thread_time()
        collecting = self.gc.total
        generation, view = self.cache.view_at()
        active = self._liveness_view(view)
        # The compiler is pure: the same view (and liveness) gives the same
        # plan, so passes with nothing new (a resync's slices, retries) reuse it.
        inputs = (generation, None if active is None else tuple(sorted(active.items())))
        if self._compiled is not None and self._compiled[0] == inputs:
            plan = self._compiled[1]
        else:
            plan = compile_host(
                self.config.host,
                view,
                underlay_device=self.config.underlay_device,
                vlan_devices=self.config.vlan_devices,
                ha_active=active,
                beat_port=self.config.liveness.port,
                lease_ms=round(self.config.liveness.lease * 1000),
                ha_state_sync=self.config.state_sync,
            )
            self._compiled = (inputs, plan)
            self.compiles += 1
        compiled = time.monotonic()
        if self.dhcp is not None:
            self.dhcp.update(plan.dhcp, plan.adverts, plan.dhcp6)
        if self.metadata is not None:
            self.metadata.update(plan.metadata, view)
        if self.resolver is not None:
            self.resolver.update(plan.dns)
        applying = time.monotonic()
        result = self.applier.apply(plan)
        applied = time.monotonic()
        if self.metadata is not None:
            self.metadata.ensure()
        if self.resolver is not None:
            self.resolver.ensure()
        if self.statesync is not None and active is not None:
            self.statesync.update(*roles(self.config.host, view, active))
        took = time.monotonic() - started
        self.stats["applies"] += 1
        self.stats["last_apply_seconds"] = took
        wired = set(getattr(result, "wired_ports", ()))
        log.debug(
            "apply: %s changes in %.1f ms, %d ports wired",
            getattr(result, "changes", "?"),
            took * 1000,
            len(wired),
        )
        reporting = time.monotonic()
        self._report(wired)
        self._report_ha()
        self._report_vms()
        self.snat.update(view)
        total = time.monotonic() - started
        if self.metrics is not None:
            spent = {"compile": compiled - started, "sinks": applying - compiled,
                     "report": time.monotonic() - reporting}  # fmt: skip
            self.metrics.observe_pass(result, spent, total)
        if total >= self.config.slow_pass:
            steps = ", ".join(
                f"{name} {spent * 1000:.0f}" for name, spent in getattr(result, "timings", ())
            )
            log.info(
                "slow pass: %.0f ms, %.0f of them on the CPU (compile %.0f, sinks %.0f,"
                " dataplane %.0f [%s], report %.0f; garbage collection %.0f)",
                total * 1000,
                (time.thread_time() - on_cpu) * 1000,
                (compiled - started) * 1000,
                (applying - compiled) * 1000,
                (applied - applying) * 1000,
                steps,
                (time.monotonic() - applied) * 1000,
                (self.gc.total - collecting) * 1000,
            )
        if getattr(result, "ok", True) and not self.synced.is_set():
            # In sync (and ready) once the pass is done; the settle after it
            # (~0.1-0.2 s with 1,000 ports) delays only the next pass.
            self.synced.set()
            log.info(
                "in sync: %d ports wired, first complete pass %.1f ms", len(wired), took * 1000
            )
            self._settle_memory(len(wired))
        elif len(wired) > self._settled_ports * 5 // 4 + 50:
            self._settle_memory(len(wired))  # the host grew by a quarter
        elif self.synced.is_set():
            # What the pass left (its plan, view and memoized parts, most of
            # which the next passes keep) goes out of the collector's reach
            # at once: collections in the passes after it would otherwise
            # walk it, the plan's sets element by element, and more of it
            # the larger the host. A pass leaves no cyclic garbage (measured
            # with 1,100 ports); any other thread's waits for the next settle.
            gc.freeze()
        return result

    def _settle_memory(self, ports: int) -> None:
        """After the first complete pass, when the host grew by a quarter,
        and after a resync at most every ``settle_interval``: one full
        collection, then what survives (cache, views, memoized plan parts,
        nearly all of which lives on) is frozen out of the collector's
        reach. Full collections otherwise walk it all (~0.1 s with 1,000
        ports) in whichever event pass they fall; here they fall between
        passes, rarely. Frozen objects are still freed when no longer
        referenced; only cyclic garbage among them waits for the next
        settle, when they are handed back and collected with the rest."""
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self._settled_ports = ports
        self._settled_at = time.monotonic()

    def _report_wired(self, wired: frozenset[str]) -> None:
        self._report(set(wired))

    def _report(self, wired: set[str]) -> None:
        active: list[str] = []
        down: list[str] = []
        for port_id, body in self.cache.local_ports().items():
            want = "ACTIVE" if port_id in wired and body.get("admin_state_up", True) else "DOWN"
            if body.get("status") != want:
                (active if want == "ACTIVE" else down).append(port_id)
        if not active and not down:
            return
        try:
            self.client.report(active, down)
            for port_id in active:
                self.cache.set_port_status(port_id, "ACTIVE")
                request_id = self.cache.request_id(port_id)
                log.info(
                    "port %s wired on %s (request %s)",
                    port_id,
                    self.config.host,
                    request_id or "-",
                    extra={"port_id": port_id, "request_id": request_id, "host": self.config.host},
                )
            for port_id in down:
                self.cache.set_port_status(port_id, "DOWN")
        except httpx.HTTPError as exc:
            log.warning("status report failed (%s); will retry", exc)
            self.dirty.set()

    def _report_vms(self) -> None:
        """Tell the API about the VMs whose power state or reboots changed."""
        vms = getattr(self.applier, "vms", None)
        reports: dict[str, Any] = dict(getattr(vms, "reports", None) or {})
        changed = [
            {
                "id": sid,
                "power": r.power,
                "reboots": r.reboots,
                "fault": r.fault,
                "image": r.image_hash,
                "size": r.size,
                "rebuilds": r.rebuilds,
            }
            for sid, r in sorted(reports.items())
            if self._vm_reported.get(sid) != r
        ]
        if not changed:
            return
        try:
            self.client.report_power(changed)
        except httpx.HTTPError as exc:
            log.warning("VM state report failed (%s); will retry", exc)
            self.dirty.set()
            return
        self._vm_reported = reports

    def _liveness_view(self, view: ClusterView) -> dict[str, str | None] | None:
        """Tell the beat thread the current hosts and HA routers; its view
        of who is active (None without liveness: the API's bindings hold)."""
        if self.liveness is None:
            return None
        peers = {h.host: h.tunnel_ip for h in view.hosts.values() if h.tunnel_ip}
        routers = {rid: r.gateway_hosts for rid, r in ha_routers(view).items()}
        gateways = {h.host for h in view.hosts.values() if h.gateway}
        self.liveness.configure(peers, routers, gateways)
        return self.liveness.active()

    def _report_ha(self) -> None:
        if self.liveness is None or self.agent_id is None:
            return
        states = self.liveness.states()
        if states == self._ha_reported:
            return
        if self.metrics is not None:
            self.metrics.set_ha(states)
        try:
            self.client.report_ha(self.agent_id, states)
            self._ha_reported = states
        except httpx.HTTPError as exc:
            log.warning("HA state report failed (%s); will retry", exc)

    def report_metering(self) -> None:
        """Read the metering counters and report the totals when they changed
        (the API keeps the last report per label and host)."""
        read = getattr(self.applier, "read_meters", None)
        if read is None or self.agent_id is None:
            return
        totals = self.meter_totals.update(read())
        if not totals or totals == self.meter_totals.reported:
            return
        try:
            self.client.report_metering(self.agent_id, totals)
            self.meter_totals.reported = totals
        except httpx.HTTPError as exc:
            log.warning("metering report failed (%s); will retry", exc)

    # -- heartbeat -----------------------------------------------------------------------

    def readiness(self) -> dict[str, Any]:
        """Ready: registered, the cache covers its topics, and one complete pass done."""
        state = {
            "registered": self.agent_id is not None,
            "cache_ready": self.cache_ready.is_set(),
            "in_sync": self.synced.is_set(),
        }
        ready = all(state.values())
        if self.metrics is not None:
            self.metrics.ready.set(1 if ready else 0)
        return {"ready": ready, "host": self.config.host, **state}

    def _beat_loop(self) -> None:
        while not self.stop_event.wait(self.config.heartbeat_interval):
            try:
                if self.agent_id is None:
                    self._register()
                else:
                    self.client.heartbeat(self.agent_id, self.readiness())
                    self.snat.update(self.cache.view(), read_usage=True)
                    self.report_metering()
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code == 404:
                    self.agent_id = None
                log.warning("heartbeat failed: %s", exc)
            except httpx.HTTPError as exc:
                log.warning("heartbeat failed: %s", exc)
