"""The ports' QoS (``QosPlan``): one nftables table in the host namespace.

Looks for the fingerprint set of the desired table; rewrites the table
(one transaction) when it differs (see ``kumo.dataplane.nftables.qos``),
and removes it when no local port has a policy left.
"""

from __future__ import annotations

from kumo.compiler.plan import HOST_NS, QosPlan
from kumo.dataplane.nftables import qos
from kumo.dataplane.nftables.port import NftPort
from kumo.dataplane.port import DataplaneError, KernelPort
from kumo.dataplane.reconcilers.base import Reconciler

KEY = QosPlan().key


class QosReconciler(Reconciler):
    name = "qos"

    def __init__(self, port: KernelPort, host: str, nft: NftPort) -> None:
        super().__init__(port, host)
        self.nft = nft
        self.desired = QosPlan()

    def update_desired(self, desired: QosPlan) -> None:
        if self._set_desired(self.desired, desired):
            self.changed.add((HOST_NS, ""))
            self.desired = desired

    def updates(self) -> None:
        if self.scope is not None and not self.changed:
            return  # the last verdict holds until a change or a full pass
        try:
            if self.desired.empty:
                if self.nft.has_table("bridge", qos.TABLE):
                    self.leftover(KEY, lambda: self.nft.apply_script(qos.remove_script()))
                return
            held = self.nft.list_set("bridge", qos.fingerprint(self.desired), qos.TABLE)
        except DataplaneError as exc:
            self.fail(KEY, exc)
            return
        if held is not None:
            self.in_place.add(KEY)
            return
        script = qos.qos_script(self.desired)
        self.attempt(KEY, lambda: self.nft.apply_script(script))
