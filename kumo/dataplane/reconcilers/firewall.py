"""The host firewall: kumo's two nftables tables, as one object.

Reads back kumo's fingerprint and address sets (one at a time: cheap beside
a large ruleset, unlike listing them all; a remote group's addresses and
its prefixes are two sets, see ``render``): the fingerprint set tells
which plan the tables hold, the desired one (a restarted agent finds its
predecessor's) or the one the last pass applied. From there only what
differs is changed, in one transaction (``render.changes``: set elements,
the chains and dispatch elements of ports that came, went or changed, the
zone rule). Tables holding anything else are replaced whole, in one
transaction. Between resyncs, a pass that follows a successful one does not
read the tables back: it changes them from what that pass applied, and a
failure makes the next pass read everything. A resync rewrites the tables
whole at most every ``rewrite_interval`` (rewriting 1,000 ports' chains
takes seconds). The namespace's bridge-netfilter switch is turned off on
the first pass and on every rewrite (new namespaces start with it on): the
bridges of networks with filtered ports carry their own switch (see
``Link.netfilter``), so the other networks' frames skip conntrack.
Established connections keep flowing through a rewrite: their conntrack
entries outlive the tables and the new ruleset accepts them first.

A rule that goes away (or a port that leaves the filter's protection) must
not leave connections it used to allow running: after an update, the
connections in the port's zone that the removed rule matched are deleted
from conntrack, so their next packet is judged by the rules as they are now.
This is what the API's users expect from removing a rule.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from kumo.compiler.plan import HOST_NS, FirewallPlan, FirewallRule, PortFilter
from kumo.dataplane.nftables import render
from kumo.dataplane.nftables.port import ConntrackFilter, NftPort
from kumo.dataplane.port import DataplaneError, KernelPort
from kumo.dataplane.reconcilers.base import Reconciler, log

KEY = ("firewall", HOST_NS)


class FirewallReconciler(Reconciler):
    name = "firewall"

    rewrite_interval = 600.0
    """A resync rewrites the tables whole (undoing changes made behind the
    agent's back inside them) at most this often: with 1,000 ports a rewrite
    takes seconds, and a port waiting behind it waits that long."""

    def __init__(
        self,
        port: KernelPort,
        host: str,
        nft: NftPort,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(port, host)
        self.nft = nft
        self.clock = clock
        self.rewritten_at: float | None = clock()
        """When the tables were last written whole (counted from start: a
        restarted agent that kept its predecessor's tables waits a whole
        interval before its first forced rewrite)."""
        self.desired = FirewallPlan()
        self.applied: FirewallPlan | None = None
        """What the last successful pass put in the kernel."""
        self.rewrite = False
        """Replace the tables even if the fingerprint matches (set by resync)."""
        self.switch_known = False
        """Whether the namespace's bridge-netfilter switch was turned off
        since start or resync."""
        self.rewrites = 0
        self.element_updates = 0
        """Transactions that changed set elements only."""
        self.port_updates = 0
        """Transactions that changed some ports' chains (not the whole tables)."""

    def request_rewrite(self) -> None:
        """On resync: rewrite the tables unless that was done recently."""
        at = self.rewritten_at
        if at is None or self.clock() - at >= self.rewrite_interval:
            self.rewrite = True

    def update_desired(self, plan: FirewallPlan) -> None:
        self._set_desired(self.desired, plan)
        self.desired = plan

    def updates(self) -> None:
        desired = self.desired
        if self._trusted(desired):
            return
        try:
            if desired.empty:
                if self.rewrite or not self.switch_known or self._present():
                    self.leftover(KEY, self._remove)
                return
            base = None if self.rewrite else self._held(desired)
            kernel = None if base is None else self._elements(base, desired)
        except DataplaneError as exc:
            self.fail(KEY, exc)
            return
        if base is None or kernel is None:
            if self.attempt(KEY, lambda: self._replace(desired)):
                self._forget_removed(desired)
            return
        if not self.switch_known and not self.attempt(KEY, self._switch_off, confirm=False):
            return
        self._change(base, desired, kernel)

    def _present(self) -> bool:
        return any(self.nft.has_table(f) for f in ("bridge", "inet"))

    def _held(self, desired: FirewallPlan) -> FirewallPlan | None:
        """Which plan the tables hold, by their fingerprint sets: the desired
        one (a restarted agent finds its predecessor's), the one the last
        pass applied, or neither (None). Reads single sets only: listing all
        of them makes nft fetch every chain and rule (0.16 s with 1,000 ports)."""
        for candidate in (desired, self.applied):
            if candidate is None or candidate.empty:
                continue
            fingerprint = render.FIREWALL_FINGERPRINT + candidate.structure()
            if all(self.nft.list_set(f, fingerprint) is not None for f in ("bridge", "inet")):
                return candidate
        return None

    def _elements(
        self, base: FirewallPlan, desired: FirewallPlan
    ) -> dict[str, frozenset[str]] | None:
        """The kernel's elements of the sets both plans have; None when one
        is missing (the tables are not what their fingerprint says)."""
        wanted = {s.name for s in desired.sets}
        out: dict[str, frozenset[str]] = {}
        for s in base.sets:
            if s.name not in wanted:
                continue
            members: set[str] = set()
            for name in (s.name, render.prefix_set(s.name)):
                body = self.nft.list_set("inet", name)
                if body is None:
                    return None
                members.update(render.parse_element(e) for e in body.get("elem", []))
            out[s.name] = frozenset(members)
        return out

    def _trusted(self, desired: FirewallPlan) -> bool:
        """An event pass after a successful one: the kernel holds ``applied``
        (a full pass checks that), so the change is made without reading the
        tables back. True when handled so."""
        applied = self.applied
        if self.scope is None or self.rewrite or not self.switch_known or applied is None:
            return False
        if desired == applied:
            self.in_place.add(KEY)
            return True
        if desired.empty or applied.empty:
            return False
        self._change(applied, desired, {s.name: s.elements for s in applied.sets})
        return True

    def _change(
        self, base: FirewallPlan, desired: FirewallPlan, elements: dict[str, frozenset[str]]
    ) -> None:
        """Bring tables holding ``base`` (with ``elements`` in its sets) to
        ``desired`` in one transaction of what differs."""
        commands = render.changes(base, desired, elements)
        if not commands:
            self.in_place.add(KEY)
            self.applied = desired
        elif self.attempt(KEY, lambda: self._update(commands, base, desired)):
            self._forget_removed(desired)

    def _replace(self, plan: FirewallPlan) -> None:
        self.nft.set_bridge_netfilter(False)
        self.nft.apply(render.ruleset(plan))
        self.rewritten_at = self.clock()
        self.rewrite = False
        self.switch_known = True
        self.rewrites += 1

    def _switch_off(self) -> None:
        self.nft.set_bridge_netfilter(False)
        self.switch_known = True

    def _update(
        self, commands: list[render.Json], base: FirewallPlan, desired: FirewallPlan
    ) -> None:
        self.nft.apply(commands)
        if base.structure() == desired.structure():
            self.element_updates += 1
        else:
            self.port_updates += 1

    def _remove(self) -> None:
        """Without filtered ports nothing needs bridged traffic in conntrack
        (new namespaces start with the switch on: it costs throughput)."""
        self.nft.apply(render.remove_tables())
        self.nft.set_bridge_netfilter(False)
        self.rewrite = False
        self.switch_known = True
        self.applied = FirewallPlan()

    def _forget_removed(self, plan: FirewallPlan) -> None:
        """Delete conntrack entries that rules removed since the last pass allowed."""
        previous, self.applied = self.applied, plan
        if previous is None:
            return
        before = previous.by_port
        shrunk = _shrunk_sets(previous, plan)
        # Without a set that lost members, only ports whose filter changed
        # (not the same object as before) can have lost a rule.
        ports = plan.ports if shrunk else plan.changed_ports(previous)[1]
        for port in ports:
            old = before.get(port.port_id)
            if old is None:
                continue
            gone = set(old.rules) - set(port.rules) if old.rules != port.rules else set()
            if shrunk:
                gone |= {r for r in port.rules if r.remote and r.remote[1:] in shrunk}
            if not gone:
                continue
            for flt in connection_filters(port, gone, old.zone):
                try:
                    self.nft.forget_connections(flt)
                except DataplaneError as exc:  # stale state only: never fails the pass
                    log.warning("firewall: forgetting connections of %s: %s", port.port_id, exc)

    def reads(self, netns: str) -> bool:
        return True


def _shrunk_sets(before: FirewallPlan, after: FirewallPlan) -> frozenset[str]:
    """Remote-group sets that lost members (connections their rules allowed
    from those members go too). Computed once per pass, not per port."""
    if before.sets == after.sets:
        return frozenset()
    new_sets = {s.name: s.elements for s in after.sets}
    return frozenset(s.name for s in before.sets if s.elements - new_sets.get(s.name, frozenset()))


def connection_filters(
    port: PortFilter, rules: Iterable[FirewallRule], zone: int
) -> list[ConntrackFilter]:
    """Conntrack deletions for connections of ``port`` that ``rules`` matched.

    Matching is by the port's own addresses, protocol and (for a single
    port) destination port; a wider match may drop the state of a
    connection that another rule still allows, whose next packet then
    creates it again through the rules."""
    out: list[ConntrackFilter] = []
    own = [p.cidr.split("/")[0] for p in port.pairs if p.mac == port.mac]
    own = [a for a in own if not a.startswith("fe80:")]
    for rule in sorted(rules):
        single_port = rule.port_min if rule.port_min == rule.port_max else None
        for addr in own:
            if (":" in addr) != (rule.family == 6):
                continue
            ingress = rule.direction == "ingress"
            out.append(
                ConntrackFilter(
                    zone=zone,
                    family=rule.family,
                    protocol=rule.protocol,
                    src=None if ingress else addr,
                    dst=addr if ingress else None,
                    dport=single_port,
                )
            )
    return sorted(set(out), key=repr)
