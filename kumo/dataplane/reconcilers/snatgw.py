"""The gateway hosts' forwarding of distributed SNAT's return traffic
(``SnatGateway``): one nftables table in the host namespace (see
``kumo.dataplane.nftables.snatgw``), removed when the host forwards for no
router any more."""

from __future__ import annotations

from kumo.compiler.plan import SnatGateway
from kumo.dataplane.nftables import snatgw
from kumo.dataplane.nftables.port import NftPort
from kumo.dataplane.port import KernelPort
from kumo.dataplane.reconcilers.host_table import HostTableReconciler


class SnatGatewayReconciler(HostTableReconciler[SnatGateway]):
    name = "snat-gateway"
    family = "netdev"
    table = snatgw.TABLE

    def __init__(self, port: KernelPort, host: str, nft: NftPort) -> None:
        super().__init__(port, host, nft, SnatGateway())

    def fingerprint(self, plan: SnatGateway) -> str:
        return snatgw.fingerprint(plan)

    def script(self, plan: SnatGateway) -> str:
        return snatgw.gateway_script(plan)

    def remove_script(self) -> str:
        return snatgw.remove_script()
