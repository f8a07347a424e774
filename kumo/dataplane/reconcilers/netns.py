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

    def update_desired(self, netns: frozenset[Netns]) -> None:
        if self._set_desired(self.desired, netns):
            self.desired = netns

    doomed: frozenset[str] = frozenset()
    """Leftover namespaces found by the last update phase (removed next)."""

    removed: frozenset[str] = frozenset()
    """Leftover namespaces the last pass removed."""

    def apply_removals(self) -> bool:
        ok = super().apply_removals()
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
        missing = []
        for ns in self.desired:
            if ns.name in actual:
                self.in_place.add(ns.key)
            else:
                missing.append(ns)
        for ns in sorted(missing):
            self.attempt(ns.key, partial(self.port.add_netns, ns.name))
        wanted = {ns.name for ns in self.desired}
        doomed = sorted(
            n
            for n in actual - wanted
            if names.is_instance_netns(n, self.host)
            or names.is_router_netns(n, self.host)
            or names.is_metadata_netns(n, self.host)
        )
        for name in doomed:
            self.leftover(("netns", name), partial(self.port.del_netns, name))
        self.doomed = frozenset(doomed)
