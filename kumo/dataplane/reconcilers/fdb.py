"""FDB entries on kumo links, in two reconcilers over one read:

* ``VxlanFdbReconciler`` — the VXLAN device's own table (``self``): mac →
  remote VTEP. A MAC listed with a different or extra remote is corrected and
  the stale remote removed.
* ``BridgeFdbReconciler`` — the bridge's table (``master static``): the MAC
  lives behind the VXLAN port, so the bridge never floods unicast to it.

Entries the kernel keeps for itself (the bridge's ``permanent`` local MACs,
multicast entries without a remote) are never listed as kumo's.

kumo writes entries on tunnel and router ports only, never on an
instance's or a metadata port: a whole-namespace read asks the kernel for
the entries of kumo's other links, one port at a time, rather than dumping
the table, where every instance port has its own local entries (with
1,000 ports, reading and sifting those cost ~60 ms a full pass).
"""

from __future__ import annotations

from collections.abc import Iterable

from kumo.compiler import names
from kumo.compiler.plan import FdbEntry
from kumo.dataplane.reconcilers.keyed import KeyedReconciler


class _FdbReconciler(KeyedReconciler[FdbEntry]):
    master = False
    reads_managed_links = False

    def read(self, netns: str) -> Iterable[FdbEntry]:
        carriers = frozenset(
            link.name
            for link in self.port.list_links(netns)
            if self.owns_link(netns, link.name) and not _never_carries(link.name)
        )
        return self.read_on(netns, carriers) if carriers else []

    def read_on(self, netns: str, devices: frozenset[str]) -> Iterable[FdbEntry]:
        return [e for e in self.port.fdb_on(netns, devices) if e.master == self.master]

    def owned(self, obj: FdbEntry) -> bool:
        return self.owns_link(obj.netns, obj.ifname)

    def write(self, obj: FdbEntry) -> None:
        self.port.replace_fdb(obj)

    def remove(self, obj: FdbEntry) -> None:
        self.port.del_fdb(obj)


class VxlanFdbReconciler(_FdbReconciler):
    name = "vxlan-fdb"
    master = False
    stale_same_key = True


class BridgeFdbReconciler(_FdbReconciler):
    name = "bridge-fdb"
    master = True


def _never_carries(ifname: str) -> bool:
    """Ports kumo never writes FDB entries on."""
    return ifname.startswith((names.TAP_PREFIX, names.METADATA_PORT_PREFIX))
