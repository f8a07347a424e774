"""The ports' QoS (``QosPlan``): one nftables table in the host namespace
(see ``kumo.dataplane.nftables.qos``), removed when no local port has a
policy left."""

from __future__ import annotations

from kumo.compiler.plan import QosPlan
from kumo.dataplane.nftables import qos
from kumo.dataplane.nftables.port import NftPort
from kumo.dataplane.port import KernelPort
from kumo.dataplane.reconcilers.host_table import HostTableReconciler


class QosReconciler(HostTableReconciler[QosPlan]):
    name = "qos"
    family = "bridge"
    table = qos.TABLE

    def __init__(self, port: KernelPort, host: str, nft: NftPort) -> None:
        super().__init__(port, host, nft, QosPlan())

    def fingerprint(self, plan: QosPlan) -> str:
        return qos.fingerprint(plan)

    def script(self, plan: QosPlan) -> str:
        return qos.qos_script(plan)

    def remove_script(self) -> str:
        return qos.remove_script()
