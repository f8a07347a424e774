"""Instances' UTS namespaces (``Hostname``): made with the instance, their
hostname set again when it changes (or was changed behind the agent's
back), removed when the instance is gone. Runs before the guest processes,
which start inside them. Only this host's instance namespaces are touched."""

from __future__ import annotations

from functools import partial

from kumo.compiler import names
from kumo.compiler.plan import Hostname
from kumo.dataplane.port import DataplaneError, KernelPort
from kumo.dataplane.reconcilers.base import Reconciler
from kumo.dataplane.uts import UtsPort


class HostnameReconciler(Reconciler):
    name = "hostnames"
    desired: frozenset[Hostname] = frozenset()

    def __init__(self, port: KernelPort, host: str, uts: UtsPort) -> None:
        super().__init__(port, host)
        self.uts = uts

    def update_desired(self, hostnames: frozenset[Hostname]) -> None:
        if self._set_desired(self.desired, hostnames):
            self._note_changes(self.desired, hostnames)
            self.desired = hostnames

    def updates(self) -> None:
        namespaces = self.read_namespaces()
        if namespaces is not None and not namespaces:
            return
        wanted = sorted(h for h in self.desired if namespaces is None or h.netns in namespaces)
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
        desired = {h.netns for h in self.desired}
        for netns in sorted(actual):
            if netns not in desired and names.is_instance_netns(netns, self.host):
                self.leftover(("uts", netns), partial(self.uts.remove, netns))
