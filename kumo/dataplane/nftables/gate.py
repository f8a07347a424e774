"""HaGate → an nftables script for the host namespace. Pure.

One table ``netdev kumo_ha``:

- ``lease``: a set with at most one element, added or renewed for
  ``lease_ms`` by every liveness beat (UDP to ``beat_port``) that leaves
  ``beat_device`` (chain ``beat``, egress hook);
- ``legs_in`` / ``legs_out`` (ingress and egress hooks of every gated leg's
  host end): a frame passes only on an open leg while the lease is alive,
  every other frame is dropped. A standby's namespace thus neither answers
  nor forwards anything, and a host whose agent stopped beating closes its
  own gates within ``lease_ms``, with no process left to do it;
- an empty ``fp_<digest>`` set records what was written.

The script replaces the table in one transaction (this nft version can
neither change a netdev chain's devices in place nor delete a chain only
if it exists) and starts the new lease with one full term: it is written
by the agent, which is beating, so the host is alive. Written as text:
the JSON form of this nft version cannot express sub-second timeouts or a
chain's device list.
"""

from __future__ import annotations

from kumo.compiler.plan import HaGate
from kumo.dataplane.nftables.render import FINGERPRINT_PREFIX

TABLE = "kumo_ha"
LEASE = "lease"
_T = f"netdev {TABLE}"
ZERO = "meta mark & 0x0"
"""A constant key: the lease has one element, and a rule cannot look up a literal."""


def fingerprint(gate: HaGate) -> str:
    return FINGERPRINT_PREFIX + gate.fingerprint()


def _quote(names: list[str]) -> str:
    return "{ " + ", ".join(f'"{n}"' for n in names) + " }"


def _chain(name: str, hook: str, devices: str) -> list[str]:
    spec = f"{{ type filter hook {hook} {devices} priority 0; policy accept; }}"
    return [f"add chain {_T} {name} {spec}"]


def gate_script(gate: HaGate) -> str:
    """The script that makes the table what ``gate`` says."""
    lines = [
        f"add table {_T}",
        f"delete table {_T}",
        f"add table {_T}",
        f"add set {_T} {LEASE} {{ type mark; flags dynamic,timeout; }}",
    ]
    if gate.beat_device:
        lines.append(f"add element {_T} {LEASE} {{ 0x0 timeout {gate.lease_ms}ms }}")
        lines += _chain("beat", "egress", f'device "{gate.beat_device}"')
        lines.append(
            f"add rule {_T} beat udp dport {gate.beat_port} "
            f"update @{LEASE} {{ {ZERO} timeout {gate.lease_ms}ms }}"
        )
    devices = sorted({g.ifname for g in gate.legs})
    opened = sorted({g.ifname for g in gate.legs if g.open})
    lease = f"{ZERO} @{LEASE} " if gate.beat_device else ""
    for chain, hook, key in (("legs_in", "ingress", "iifname"), ("legs_out", "egress", "oifname")):
        lines += _chain(chain, hook, f"devices = {_quote(devices)}")
        if opened:
            lines.append(f"add rule {_T} {chain} {key} {_quote(opened)} {lease}accept")
        lines.append(f"add rule {_T} {chain} drop")
    lines.append(f"add set {_T} {fingerprint(gate)} {{ type mark; }}")
    return "\n".join(lines) + "\n"


def close_script() -> str:
    """Drop the lease: every gate closes now (a gracefully stopping agent)."""
    return f"flush set {_T} {LEASE}\n"


def remove_script() -> str:
    return f"add table {_T}\ndelete table {_T}\n"
