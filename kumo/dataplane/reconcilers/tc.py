"""tc programs: kumo's eBPF programs on devices' ingress hooks (VLANs on
kernels without 802.1Q devices, see ``kumo.dataplane.vlan_programs``).

A desired ``TcProgram`` names its devices; the interface indexes they have
now are read back from the kernel and built into the bytecode, whose
fingerprint is the name the program is attached under. A pass reads back
the names of kumo's programs on the namespace's devices and compares: a
program is attached (or replaced, in one request) only when the name
differs, so a second pass changes nothing and a device recreated behind
kumo's back (a new index) gets a new program. kumo's programs on devices
that should have none are removed; nothing but kumo's filter is touched
(see ``kumo.dataplane.tc``).

Between full passes, a pass reads back only when a desired program
changed or a link it depends on did (a recreated link loses its hook).
"""

from __future__ import annotations

from functools import partial

from kumo.compiler.plan import TcProgram
from kumo.dataplane import vlan_programs
from kumo.dataplane.port import DataplaneError, TcState
from kumo.dataplane.reconcilers.base import Reconciler


def build(program: TcProgram, indexes: dict[str, int]) -> bytes:
    """The bytecode of ``program`` with the devices' ``indexes``."""
    if program.kind == "vlan-push":
        ((vid, out),) = program.vlans
        return vlan_programs.push_program(vid, indexes[out])
    return vlan_programs.split_program(tuple((vid, indexes[dev]) for vid, dev in program.vlans))


class TcReconciler(Reconciler):
    name = "tc"
    desired: frozenset[TcProgram] = frozenset()

    def update_desired(self, programs: frozenset[TcProgram]) -> None:
        if self._set_desired(self.desired, programs):
            self._note_changes(self.desired, programs)
            self.desired = programs

    def uses_device(self, netns: str, device: str) -> bool:
        return any(p.netns == netns and device in p.devices for p in self.desired)

    def updates(self) -> None:
        by_ns: dict[str, list[TcProgram]] = {}
        for program in self.desired:
            by_ns.setdefault(program.netns, []).append(program)
        for ns in self.namespaces_to_read(by_ns):
            wanted = sorted(by_ns.get(ns, ()))
            try:
                found = {t.ifname: t for t in self.port.list_tc(ns)}
                needed = frozenset(dev for p in wanted for dev in p.devices)
                links = self.port.links_named(ns, needed) if needed else ()
            except DataplaneError as exc:
                self.read_failed(ns, (program.key for program in wanted), exc)
                continue
            indexes = {link.name: link.index for link in links}
            for program in wanted:
                self._ensure(program, indexes, found.get(program.ifname))
            for ifname in sorted(set(found) - {p.ifname for p in wanted}):
                self.in_place.discard(("tc", ns, ifname))
                self.leftover(("tc", ns, ifname), partial(self.port.detach_tc, ns, ifname))

    def _ensure(self, program: TcProgram, indexes: dict[str, int], actual: TcState | None) -> None:
        missing = sorted(program.devices - indexes.keys())
        if missing:
            self.fail(program.key, f"device {', '.join(missing)} does not exist")
            return
        code = build(program, indexes)
        name = vlan_programs.fingerprint(program.kind, code)
        if actual is not None and actual.name == name and actual.direct_action:
            self.in_place.add(program.key)
            return
        self.attempt(
            program.key, partial(self.port.attach_tc, program.netns, program.ifname, name, code)
        )
