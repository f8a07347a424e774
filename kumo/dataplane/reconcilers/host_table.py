"""A plan object that is one nftables table in the host namespace, kept by
its fingerprint set: the shared mechanism of the HA gate, the gateway
hosts' SNAT forwarding and the ports' QoS.

Looks for the fingerprint set of the desired table (listing every set would
make nft fetch the host firewall's whole ruleset); rewrites the table in
one transaction when it differs, and removes it when the plan is empty.
"""

from __future__ import annotations

from typing import Generic, Protocol, TypeVar

from kumo.compiler.plan import HOST_NS, ObjectKey
from kumo.dataplane.nftables.port import NftPort
from kumo.dataplane.port import DataplaneError, KernelPort
from kumo.dataplane.reconcilers.base import Reconciler


class TablePlan(Protocol):
    @property
    def empty(self) -> bool: ...

    @property
    def key(self) -> ObjectKey: ...


P = TypeVar("P", bound=TablePlan)


class HostTableReconciler(Reconciler, Generic[P]):
    """Subclasses name the table's family and name and how to write it."""

    family: str
    table: str

    def __init__(self, port: KernelPort, host: str, nft: NftPort, empty: P) -> None:
        super().__init__(port, host)
        self.nft = nft
        self.desired = empty

    def fingerprint(self, plan: P) -> str:
        raise NotImplementedError

    def script(self, plan: P) -> str:
        raise NotImplementedError

    def remove_script(self) -> str:
        raise NotImplementedError

    def update_desired(self, desired: P) -> None:
        if self._set_desired(self.desired, desired):
            self.changed.add((HOST_NS, ""))
            self.desired = desired

    def updates(self) -> None:
        if self.scope is not None and not self.changed:
            return  # the last verdict holds until a change or a full pass
        key = self.desired.key
        try:
            if self.desired.empty:
                if self.nft.has_table(self.family, self.table):
                    self.leftover(key, lambda: self.nft.apply_script(self.remove_script()))
                return
            held = self.nft.list_set(self.family, self.fingerprint(self.desired), self.table)
        except DataplaneError as exc:
            self.fail(key, exc)
            return
        if held is not None:
            self.in_place.add(key)
            return
        script = self.script(self.desired)
        self.attempt(key, lambda: self.nft.apply_script(script))
