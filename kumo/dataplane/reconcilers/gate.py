"""The gate of highly available routers (``HaGate``): one nftables table in
the host namespace (see ``kumo.dataplane.nftables.gate``), removed when the
host has no highly available router left."""

from __future__ import annotations

from kumo.compiler.plan import HaGate
from kumo.dataplane.nftables import gate
from kumo.dataplane.nftables.port import NftPort
from kumo.dataplane.port import KernelPort
from kumo.dataplane.reconcilers.host_table import HostTableReconciler


class GateReconciler(HostTableReconciler[HaGate]):
    name = "gate"
    family = "netdev"
    table = gate.TABLE

    def __init__(self, port: KernelPort, host: str, nft: NftPort) -> None:
        super().__init__(port, host, nft, HaGate())

    def fingerprint(self, plan: HaGate) -> str:
        return gate.fingerprint(plan)

    def script(self, plan: HaGate) -> str:
        return gate.gate_script(plan)

    def remove_script(self) -> str:
        return gate.remove_script()
