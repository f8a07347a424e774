"""What an agent remembers across restarts: the topics of its last list,
and what its kernel answered to a probe in this boot.

A fresh agent knows only its host, so its first list (the ports bound
here) reveals networks, groups and routers that need a second list, and
those may reveal more: with 1,000 ports each list takes a few hundred
milliseconds. A restarted agent starts from the topics its predecessor
last listed, which are nearly always right; the watch loop still checks
the topics after every list and lists again when they differ, so a stale
or missing file costs one more list, never a wrong cache.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger("kumo.agent")

STATE_DIR = Path(os.environ.get("KUMO_AGENT_STATE_DIR", "/run/kumo/agents"))


def _path(host: str, where: Path | None) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in host)
    return (where or STATE_DIR) / f"{safe}.topics.json"


def recall(host: str, where: Path | None = None) -> frozenset[str]:
    """The topics last saved for ``host`` (empty when none or unreadable)."""
    try:
        raw = json.loads(_path(host, where).read_text())
    except (OSError, ValueError):
        return frozenset()
    if not isinstance(raw, list):
        return frozenset()
    return frozenset(t for t in raw if isinstance(t, str))


def remember(host: str, topics: frozenset[str], where: Path | None = None) -> None:
    """Save ``topics`` for the next start (best effort: a failure only costs
    that start one more list)."""
    _save(_path(host, where), sorted(topics), "the watch topics")


def _save(path: Path, value: object, what: str) -> None:
    """``value`` as JSON in ``path``, whole or not at all (best effort:
    ``what`` is named in the warning when it cannot be written)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(value))
        tmp.replace(path)
    except OSError as exc:
        log.warning("could not save %s in %s: %s", what, path, exc)


def _this_boot() -> str:
    """This kernel's boot id and release: what a probe's answer holds for."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return ""
    return f"{boot} {os.uname().release}"


def _kernel_path(where: Path | None) -> Path:
    return (where or STATE_DIR) / "kernel.json"


def recall_vlan_devices(where: Path | None = None) -> bool | None:
    """Whether this kernel makes 802.1Q devices, as probed earlier in this
    boot (None: not probed in this boot, or unreadable). The probe makes a
    namespace and a veth pair and loads pyroute2 (~0.1 s of a restart);
    its answer holds until the kernel changes, which takes a reboot."""
    boot = _this_boot()
    try:
        raw = json.loads(_kernel_path(where).read_text())
    except (OSError, ValueError):
        return None
    if not boot or not isinstance(raw, dict) or raw.get("boot") != boot:
        return None
    found = raw.get("vlan_devices")
    return found if isinstance(found, bool) else None


def remember_vlan_devices(supported: bool, where: Path | None = None) -> None:
    """Save a probe's answer for the agent's next start in this boot (best
    effort: a failure only costs that start the probe)."""
    boot = _this_boot()
    if not boot:
        return
    _save(_kernel_path(where), {"boot": boot, "vlan_devices": supported}, "the kernel's probe")
