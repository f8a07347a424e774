"""Instances' UTS namespaces (``Hostname``): made with the instance, their
hostname set again when it changes (or was changed behind the agent's
back), removed when the instance is gone. Runs before the guest processes,
which start inside them. Only this host's instance namespaces are touched."""

from __future__ import annotations

from functools import partial

from kumo.compiler import names
from kumo.compiler.plan import HOST_NS, Hostname
from kumo.dataplane.port import DataplaneError, KernelPort
from kumo.dataplane.reconcilers.base import Reconciler
from kumo.dataplane.uts import UtsPort


class HostnameReconciler(Reconciler):
    name = "hostnames"
    desired: frozenset[Hostname] = frozenset()

    def __init__(self, port: KernelPort, host: str, uts: UtsPort) -> None:
        super().__init__(port, host)
        self.uts = uts

    _by_netns: dict[str, Hostname] = {}

    def update_desired(self, hostnames: frozenset[Hostname]) -> None:
        if self._set_desired(self.desired, hostnames):
            old = self.desired
            self._note_changes(old, hostnames)
            self.desired = hostnames
            kept = dict(self._by_netns)
            for h in old - hostnames:
                kept.pop(h.netns, None)
            kept.update((h.netns, h) for h in hostnames - old)
            self._by_netns = kept

    def updates(self) -> None:
        namespaces = self.read_namespaces()
        if namespaces is not None:
            # the host's own namespace has no instance hostname
            namespaces = namespaces - {HOST_NS}
            if not namespaces:
                return
        by_netns = self._by_netns
        if namespaces is None:
            wanted = sorted(self.desired)
        else:
            wanted = sorted(h for ns in namespaces if (h := by_netns.get(ns)) is not None)
        try:
            actual = self.uts.hostnames(namespaces)
        except DataplaneError as exc:
            self.read_failed("uts", [h.key for h in wanted], exc)
            return
        for h in wanted:
            have = actual.get(h.netns)
            if have == h.name:
                self.in_place.add(h.key)
            elif have is None:
                self.attempt(h.key, partial(self.uts.create, h.netns, h.name))
            else:
                self.attempt(h.key, partial(self.uts.set, h.netns, h.name))
        for netns in sorted(actual):
            if netns not in by_netns and names.is_instance_netns(netns, self.host):
                self.leftover(("uts", netns), partial(self.uts.remove, netns))
