"""Bridge membership: each desired link's master, bridge-port learning and
isolation.

A link joins (or leaves) its bridge with one ``set master`` request; learning
and isolation are set after joining, because joining resets them to the
bridge defaults. A
link that is a port of a kumo bridge without being desired there (a physical
interface whose mapping changed) is released in the removal phase; kumo
leftover links themselves are removed by the links reconciler.
"""

from __future__ import annotations

from functools import partial

from kumo.compiler import names
from kumo.compiler.plan import Link
from kumo.dataplane.port import DataplaneError, LinkState
from kumo.dataplane.reconcilers.base import Reconciler, links_by_namespace, links_wanted


class MasterReconciler(Reconciler):
    name = "masters"
    desired: frozenset[Link] = frozenset()

    def update_desired(self, links: frozenset[Link]) -> None:
        if self._set_desired(self.desired, links):
            self._note_changes(self.desired, links)
            self.desired = links

    def uses_device(self, netns: str, device: str) -> bool:
        # The ports of a changed (maybe recreated) bridge join it again.
        return True

    def updates(self) -> None:
        by_ns = links_by_namespace(self.desired)
        for ns in self.namespaces_to_read(by_ns):
            devices = self.devices(ns)
            wanted = sorted(links_wanted(by_ns, ns, devices))
            try:
                found = (
                    self.port.list_links(ns)
                    if devices is None
                    else self.port.links_named(ns, devices)
                )
                actual = {a.name: a for a in found}
            except DataplaneError as exc:
                self.read_failed(ns, (link.master_key for link in wanted), exc)
                continue
            for link in wanted:
                self._ensure(link, actual.get(link.name))
            desired_names = {link.name for link in wanted}
            for state in sorted(actual.values(), key=lambda a: a.name):
                if (
                    state.master is not None
                    and names.is_kumo_name(state.master)
                    and state.name not in desired_names
                    and not names.is_kumo_name(state.name)
                ):
                    self.leftover(
                        ("master", ns, state.name),
                        partial(self.port.set_master, ns, state.name, None),
                    )

    def _ensure(self, link: Link, actual: LinkState | None) -> None:
        key = link.master_key
        if actual is None:
            self.fail(key, f"{link.name} does not exist")
            return
        joined = False
        releasable = link.kind != "device" or names.is_kumo_name(actual.master or "")
        if link.master != actual.master and (link.master is not None or releasable):
            if not self.attempt(
                key, lambda: self.port.set_master(link.netns, link.name, link.master), confirm=False
            ):
                return
            joined = link.master is not None
        if (
            link.learning is not None
            and link.master is not None
            and (joined or actual.learning != link.learning)
        ):
            learning = link.learning
            if not self.attempt(
                key,
                lambda: self.port.set_learning(link.netns, link.name, learning),
                confirm=False,
            ):
                return
        if (
            link.isolated is not None
            and link.master is not None
            and (joined or bool(actual.isolated) != link.isolated)
        ):
            isolated = link.isolated
            if not self.attempt(
                key,
                lambda: self.port.set_isolated(link.netns, link.name, isolated),
                confirm=False,
            ):
                return
        self.in_place.add(key)
