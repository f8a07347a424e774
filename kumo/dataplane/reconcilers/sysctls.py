"""Per-namespace kernel settings (forwarding in router namespaces): read,
and written when they differ. Nothing is ever reset: a namespace that no
longer needs a setting goes away with its router."""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial

from kumo.compiler.plan import Sysctl
from kumo.dataplane.port import DataplaneError
from kumo.dataplane.reconcilers.base import Reconciler


class SysctlReconciler(Reconciler):
    name = "sysctls"
    desired: frozenset[Sysctl] = frozenset()
    changed_settings: frozenset[Sysctl] = frozenset()
    """Settings added or changed since the last successful pass."""

    def apply_removals(self) -> bool:
        ok = super().apply_removals()
        if ok:
            self.changed_settings = frozenset()
        return ok

    def update_desired(self, settings: frozenset[Sysctl]) -> None:
        if self._set_desired(self.desired, settings):
            self.changed_settings |= self.desired ^ settings
            self.desired = settings

    def updates(self) -> None:
        scope = self.scope
        settings: Iterable[Sysctl] = self.desired
        if scope is not None:
            on_devices: dict[str, set[str]] = {}
            for ns, dev in scope.devices:
                on_devices.setdefault(ns, set()).add(dev)
            settings = [
                s
                for s in settings
                if s.netns in scope.fresh
                or s in self.changed_settings
                or (s.netns in on_devices and not on_devices[s.netns].isdisjoint(s.path.split("/")))
            ]
        for setting in sorted(settings):
            try:
                current = self.port.read_sysctl(setting.netns, setting.path)
            except DataplaneError as exc:
                self.fail(setting.key, exc)
                continue
            if current == setting.value:
                self.in_place.add(setting.key)
            else:
                self.attempt(setting.key, partial(self.port.write_sysctl, setting))
