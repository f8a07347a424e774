"""Guest processes (an instance's DHCP client): started when desired and
not running, stopped when no longer desired; their files (pid files, logs,
leases) go with their instance's namespace. Only this host's instance
namespaces are ever touched."""

from __future__ import annotations

from functools import partial

from kumo.compiler import names
from kumo.compiler.plan import Guest
from kumo.dataplane.guest.processes import GuestPort
from kumo.dataplane.port import DataplaneError, KernelPort
from kumo.dataplane.reconcilers.base import Reconciler


class GuestReconciler(Reconciler):
    name = "guests"
    desired: frozenset[Guest] = frozenset()

    def __init__(self, port: KernelPort, host: str, guests: GuestPort) -> None:
        super().__init__(port, host)
        self.guests = guests

    _by_netns: dict[str, frozenset[Guest]] = {}

    def update_desired(self, guests: frozenset[Guest]) -> None:
        if self._set_desired(self.desired, guests):
            old = self.desired
            self._note_changes(old, guests)
            self.desired = guests
            kept = dict(self._by_netns)
            for g in old - guests:
                kept[g.netns] = kept.get(g.netns, frozenset()) - {g}
            for g in guests - old:
                kept[g.netns] = kept.get(g.netns, frozenset()) | {g}
            for ns in [ns for ns, gs in kept.items() if not gs]:
                del kept[ns]
            self._by_netns = kept

    def updates(self) -> None:
        namespaces = self.read_namespaces()
        if namespaces is not None and not namespaces:
            return
        by_netns = self._by_netns
        if namespaces is None:
            wanted = sorted(self.desired)
        else:
            wanted = sorted(g for ns in namespaces for g in by_netns.get(ns, ()))
        try:
            running = self.guests.running(namespaces)
        except (OSError, DataplaneError) as exc:
            for guest in wanted:
                self.fail(guest.key, str(exc))
            return
        for guest in wanted:
            if (guest.netns, guest.kind) in running:
                self.in_place.add(guest.key)
            else:
                self.attempt(guest.key, partial(self.guests.start, guest))
        for (netns, kind), pid in sorted(running.items()):
            desired = any(g.kind == kind for g in by_netns.get(netns, ()))
            if not desired and names.is_instance_netns(netns, self.host):
                self.leftover(("guest", netns, kind), partial(self.guests.stop, netns, kind, pid))
        if namespaces is None:
            self._sweep_files()

    def _sweep_files(self) -> None:
        """Files of guests whose instance namespace is gone (removed while
        the agent was not looking): removed in a full pass."""
        try:
            kept = self.guests.with_files()
            existing = self.port.list_netns()
        except (OSError, DataplaneError) as exc:
            self.fail(("guest-files", "read"), str(exc))
            return
        for netns in sorted(kept - existing):
            if names.is_instance_netns(netns, self.host):
                self.leftover(("guest-files", netns), partial(self.forget, netns))

    def forget(self, netns: str) -> None:
        """Remove the guest files of an instance whose namespace is gone."""
        try:
            self.guests.forget(netns)
        except OSError as exc:
            raise DataplaneError("forget guest files", exc.errno or 5, str(exc)) from exc
