"""Address translation of router namespaces: one nftables table each.

Reads the table's fingerprint set back; rewrites the table (one
transaction) when it differs, after the namespace's netdev table that
forwards distributed SNAT's return traffic (a gateway's; removed elsewhere). New floating IPs are announced with
gratuitous ARP, so the upstream moves them at once.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from kumo.compiler.plan import NatTable
from kumo.dataplane.nftables import nat
from kumo.dataplane.nftables.port import NftPort
from kumo.dataplane.port import DataplaneError, KernelPort
from kumo.dataplane.reconcilers.base import Reconciler, log


class NatReconciler(Reconciler):
    name = "nat"
    desired: frozenset[NatTable] = frozenset()

    def __init__(self, port: KernelPort, host: str, nft_for: Callable[[str], NftPort]) -> None:
        super().__init__(port, host)
        self.nft_for = nft_for
        self.announced: dict[str, frozenset[tuple[str, str]]] = {}

    def update_desired(self, tables: frozenset[NatTable]) -> None:
        if self._set_desired(self.desired, tables):
            self._note_changes(self.desired, tables)
            self.desired = tables

    def updates(self) -> None:
        for table in sorted(self.desired, key=lambda t: t.netns):
            if not self.reads(table.netns):
                continue
            nft = self.nft_for(table.netns)
            try:
                sets = nft.list_sets(nat.TABLE)
            except DataplaneError as exc:
                self.fail(table.key, exc)
                continue
            if any(s.get("name") == nat.fingerprint(table) for s in sets):
                self.in_place.add(table.key)
            else:
                self.attempt(table.key, partial(_write, nft, table))
            self._announce(table, nft)
        for gone in set(self.announced) - {t.netns for t in self.desired}:
            del self.announced[gone]

    def _announce(self, table: NatTable, nft: NftPort) -> None:
        before = self.announced.get(table.netns, frozenset())
        for ifname, ip in sorted(set(table.announce) - before):
            try:
                nft.announce(ifname, ip)
            except DataplaneError as exc:  # the upstream learns it on its next ARP anyway
                log.warning("nat: announcing %s on %s in %s: %s", ip, ifname, table.netns, exc)
        self.announced[table.netns] = frozenset(table.announce)


def _write(nft: NftPort, table: NatTable) -> None:
    """The gateway forwarding and the port forwardings' relay first: the
    translation table holds the fingerprint, written last."""
    if table.forward or nft.has_table("netdev", nat.FORWARD_TABLE):
        nft.apply_script(nat.forward_script(table))
    if table.relay or table.steer or nft.has_table("netdev", nat.RELAY_TABLE):
        nft.apply_script(nat.relay_script(table))
    nft.apply(nat.nat_ruleset(table))
