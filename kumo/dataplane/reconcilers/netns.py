"""Instance namespaces of this host: create the desired, remove leftovers.

Only namespaces named ``ki-``/``kr-``/``ks-``/``km-<this host's tag>-...`` are ever removed, so
agents of several lab hosts sharing one ``/run/netns`` never touch each
other's instances (nor anything else there).
"""

from __future__ import annotations

from functools import partial

from kumo.compiler import names
from kumo.compiler.plan import Netns
from kumo.dataplane.port import DataplaneError
from kumo.dataplane.reconcilers.base import Reconciler


class NetnsReconciler(Reconciler):
    name = "netns"
    desired: frozenset[Netns] = frozenset()

    _names: frozenset[str] = frozenset()
    """Names of the desired namespaces."""
    _delta: frozenset[str] = frozenset()
    """Namespaces that came into or left the plan since the last successful
    pass: what an event pass checks."""

    def update_desired(self, netns: frozenset[Netns]) -> None:
        if self._set_desired(self.desired, netns):
            gone, came = self.desired - netns, netns - self.desired
            self._names = (self._names - {n.name for n in gone}) | {n.name for n in came}
            self._delta |= {n.name for n in gone} | {n.name for n in came}
            self.desired = netns

    doomed: frozenset[str] = frozenset()
    """Leftover namespaces found by the last update phase (removed next)."""

    removed: frozenset[str] = frozenset()
    """Leftover namespaces the last pass removed."""

    def apply_removals(self) -> bool:
        ok = super().apply_removals()
        if ok:
            self._delta = frozenset()
        self.removed = frozenset(n for n in self.doomed if ("netns", n) not in self.errors)
        return ok

    def updates(self) -> None:
        self.doomed = frozenset()
        self.removed = frozenset()
        try:
            actual = self.port.list_netns()
        except DataplaneError as exc:
            self.read_failed("", (ns.key for ns in self.desired), exc)
            return
        wanted = self._names
        # An event pass checks the namespaces that came or went (and those a
        # resync's slice reads); the others keep the last pass's verdict.
        check = None if self.scope is None else self._delta | self.scope.fresh
        missing = []
        for name in sorted(wanted if check is None else wanted & check):
            if name in actual:
                self.in_place.add(("netns", name))
            else:
                missing.append(name)
        for name in missing:
            self.attempt(("netns", name), partial(self.port.add_netns, name))
        extra = actual - wanted if check is None else (actual & check) - wanted
        if check is not None:
            self.in_place.difference_update(("netns", n) for n in check - wanted)
        doomed = sorted(
            n
            for n in extra
            if names.is_instance_netns(n, self.host)
            or names.is_router_netns(n, self.host)
            or names.is_metadata_netns(n, self.host)
        )
        for name in doomed:
            self.leftover(("netns", name), partial(self.port.del_netns, name))
        self.doomed = frozenset(doomed)
