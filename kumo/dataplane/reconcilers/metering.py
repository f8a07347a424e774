"""Metering labels on router namespaces: one nftables table each.

Looks for the table's fingerprint set; rewrites the table (one
transaction) when it differs. A namespace that had a table and has none in
the plan any more (its last label deleted) loses the table; a namespace
that is gone took its table with it. A rewrite starts the counters from
zero: the agent's totals (``kumo.agent.metering``) carry what they had
counted before.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from kumo.compiler.plan import MeterTable
from kumo.dataplane.nftables import metering
from kumo.dataplane.nftables.port import NftPort
from kumo.dataplane.port import DataplaneError, KernelPort
from kumo.dataplane.reconcilers.base import Reconciler


class MeterReconciler(Reconciler):
    name = "meter"
    desired: frozenset[MeterTable] = frozenset()

    def __init__(self, port: KernelPort, host: str, nft_for: Callable[[str], NftPort]) -> None:
        super().__init__(port, host)
        self.nft_for = nft_for
        self.written: set[str] = set()
        """Namespaces this reconciler wrote a table in (and may have to clean)."""

    def update_desired(self, tables: frozenset[MeterTable]) -> None:
        if self._set_desired(self.desired, tables):
            self._note_changes(self.desired, tables)
            self.desired = tables

    def updates(self) -> None:
        for table in sorted(self.desired):
            if not self.reads(table.netns):
                continue
            nft = self.nft_for(table.netns)
            try:
                held = nft.list_set(metering.FAMILY, metering.fingerprint(table), metering.TABLE)
            except DataplaneError as exc:
                self.fail(table.key, exc)
                continue
            self.written.add(table.netns)
            if held is not None:
                self.in_place.add(table.key)
            else:
                self.attempt(table.key, partial(nft.apply, metering.meter_ruleset(table)))
        wanted = {t.netns for t in self.desired}
        for netns in sorted(self.written - wanted):
            nft = self.nft_for(netns)
            try:
                present = nft.has_table(metering.FAMILY, metering.TABLE)
            except DataplaneError:
                present = False  # the namespace is gone, and its table with it
            if present:  # kept in ``written`` until a pass finds it gone
                self.leftover(("meter", netns), partial(nft.apply, metering.remove_ruleset()))
            else:
                self.written.discard(netns)

    def read(self) -> dict[tuple[str, str], dict[str, tuple[int, int]]]:
        """(netns, fingerprint of the table) → label id → (bytes, packets)
        as the kernel counts them now; a namespace that cannot be read is
        left out. A rewritten table has a new fingerprint: its counters
        started again."""
        from kumo.compiler.metering import label_of_counter

        out: dict[tuple[str, str], dict[str, tuple[int, int]]] = {}
        for table in self.desired:
            try:
                counters = self.nft_for(table.netns).list_counters(metering.TABLE)
            except DataplaneError:
                continue
            found: dict[str, tuple[int, int]] = {}
            for c in counters:
                if c.get("family", metering.FAMILY) != metering.FAMILY:
                    continue
                label = label_of_counter(str(c.get("name", "")))
                if label is not None:
                    found[label] = (int(c.get("bytes", 0)), int(c.get("packets", 0)))
            out[(table.netns, table.fingerprint())] = found
        return out
