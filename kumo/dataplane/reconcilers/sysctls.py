"""Per-namespace kernel settings (forwarding in router namespaces): read,
and written when they differ. Nothing is ever reset: a namespace that no
longer needs a setting goes away with its router."""

from __future__ import annotations

from functools import partial

from kumo.compiler.plan import Sysctl
from kumo.dataplane.port import DataplaneError
from kumo.dataplane.reconcilers.base import Reconciler


class SysctlReconciler(Reconciler):
    name = "sysctls"
    desired: frozenset[Sysctl] = frozenset()

    def update_desired(self, settings: frozenset[Sysctl]) -> None:
        if self._set_desired(self.desired, settings):
            self.desired = settings

    def updates(self) -> None:
        for setting in sorted(self.desired):
            if not self.reads(setting.netns):
                continue
            try:
                current = self.port.read_sysctl(setting.netns, setting.path)
            except DataplaneError as exc:
                self.fail(setting.key, exc)
                continue
            if current == setting.value:
                self.in_place.add(setting.key)
            else:
                self.attempt(setting.key, partial(self.port.write_sysctl, setting))
