"""The gate of highly available routers (``HaGate``): one nftables table.

Looks for the fingerprint set of the desired gate (listing every set would
make nft fetch the host firewall's whole ruleset); rewrites the table
when the fingerprint differs (see ``kumo.dataplane.nftables.gate``), and
removes it when the host has no highly available router left.
"""

from __future__ import annotations

from kumo.compiler.plan import HOST_NS, HaGate
from kumo.dataplane.nftables import gate
from kumo.dataplane.nftables.port import NftPort
from kumo.dataplane.port import DataplaneError, KernelPort
from kumo.dataplane.reconcilers.base import Reconciler

KEY = HaGate().key


class GateReconciler(Reconciler):
    name = "gate"

    def __init__(self, port: KernelPort, host: str, nft: NftPort) -> None:
        super().__init__(port, host)
        self.nft = nft
        self.desired = HaGate()

    def update_desired(self, desired: HaGate) -> None:
        if self._set_desired(self.desired, desired):
            self.changed.add((HOST_NS, ""))
            self.desired = desired

    def updates(self) -> None:
        if self.scope is not None and not self.changed:
            return  # the last verdict holds until a change or a full pass
        try:
            if self.desired.empty:
                if self.nft.has_table("netdev", gate.TABLE):
                    self.leftover(KEY, lambda: self.nft.apply_script(gate.remove_script()))
                return
            held = self.nft.list_set("netdev", gate.fingerprint(self.desired), gate.TABLE)
        except DataplaneError as exc:
            self.fail(KEY, exc)
            return
        if held is not None:
            self.in_place.add(KEY)
            return
        script = gate.gate_script(self.desired)
        self.attempt(KEY, lambda: self.nft.apply_script(script))
