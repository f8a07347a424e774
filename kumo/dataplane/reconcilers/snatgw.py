"""The gateway hosts' forwarding of distributed SNAT's return traffic
(``SnatGateway``): one nftables table in the host namespace.

Looks for the fingerprint set of the desired table; rewrites the table
when it differs (see ``kumo.dataplane.nftables.snatgw``), and removes it
when the host forwards for no router any more.
"""

from __future__ import annotations

from kumo.compiler.plan import HOST_NS, SnatGateway
from kumo.dataplane.nftables import snatgw
from kumo.dataplane.nftables.port import NftPort
from kumo.dataplane.port import DataplaneError, KernelPort
from kumo.dataplane.reconcilers.base import Reconciler

KEY = SnatGateway().key


class SnatGatewayReconciler(Reconciler):
    name = "snat-gateway"

    def __init__(self, port: KernelPort, host: str, nft: NftPort) -> None:
        super().__init__(port, host)
        self.nft = nft
        self.desired = SnatGateway()

    def update_desired(self, desired: SnatGateway) -> None:
        if self._set_desired(self.desired, desired):
            self.changed.add((HOST_NS, ""))
            self.desired = desired

    def updates(self) -> None:
        if self.scope is not None and not self.changed:
            return  # the last verdict holds until a change or a full pass
        try:
            if self.desired.empty:
                if self.nft.has_table("netdev", snatgw.TABLE):
                    self.leftover(KEY, lambda: self.nft.apply_script(snatgw.remove_script()))
                return
            held = self.nft.list_set("netdev", snatgw.fingerprint(self.desired), snatgw.TABLE)
        except DataplaneError as exc:
            self.fail(KEY, exc)
            return
        if held is not None:
            self.in_place.add(KEY)
            return
        script = snatgw.gateway_script(self.desired)
        self.attempt(KEY, lambda: self.nft.apply_script(script))
