"""QoS specs as QEMU's I/O throttling: what a compute host applies to a disk.

Cinder's front-end QoS keys (consumer ``front-end`` or ``both``) map to the
limits of QEMU's throttling (``block_set_io_throttle`` on a VM's disk, a
``throttle-group`` object under a ``throttle`` filter node in the storage
daemon that serves a namespace instance's volume). The ``*_per_gb`` keys
scale with the volume's size. QEMU refuses a total limit beside a read or
write limit of the same kind, so a total wins over them (Cinder documents
the same rule). Back-end specs (consumer ``back-end``) are the storage
host's to apply: none are applied here. Values that are not positive
integers are ignored (QEMU would refuse the whole set).

Pure: no I/O; the attachment's watch body carries the result
(``kumo.volume.events``).
"""

from __future__ import annotations

from collections.abc import Mapping

KEYS = {
    "total_bytes_sec": "bps-total", "read_bytes_sec": "bps-read", "write_bytes_sec": "bps-write",
    "total_iops_sec": "iops-total", "read_iops_sec": "iops-read", "write_iops_sec": "iops-write",
    "total_bytes_sec_max": "bps-total-max", "read_bytes_sec_max": "bps-read-max",
    "write_bytes_sec_max": "bps-write-max", "total_iops_sec_max": "iops-total-max",
    "read_iops_sec_max": "iops-read-max", "write_iops_sec_max": "iops-write-max",
    "size_iops_sec": "iops-size",
}  # fmt: skip
"""Cinder's front-end keys and QEMU's ``ThrottleLimits`` member for each."""
PER_GB = {f"{k}_per_gb": v for k, v in KEYS.items() if k.endswith(("_bytes_sec", "_iops_sec"))}
"""``total_iops_sec_per_gb`` and the like: times the volume's size in GiB."""
FRONT_END = ("front-end", "both")


def _positive(value: str) -> int | None:
    try:
        n = int(float(value))
    except ValueError:
        return None
    return n if n > 0 else None


def limits(consumer: str | None, specs: Mapping[str, str], size_gb: int) -> dict[str, int]:
    """QEMU's throttle limits for a volume of ``size_gb`` GiB whose type has
    these QoS specs (empty: nothing to throttle)."""
    if consumer not in FRONT_END:
        return {}
    out: dict[str, int] = {}
    for key, raw in specs.items():
        if key in KEYS:
            n = _positive(str(raw))
            name = KEYS[key]
        elif key in PER_GB:
            n = _positive(str(raw))
            n = n * max(size_gb, 1) if n is not None else None
            name = PER_GB[key]
        else:
            continue
        if n is not None:
            out[name] = n
    for kind in ("bps", "iops"):
        if f"{kind}-total" in out:
            for side in ("read", "write"):
                out.pop(f"{kind}-{side}", None)
        if f"{kind}-total-max" in out:
            for side in ("read", "write"):
                out.pop(f"{kind}-{side}-max", None)
    for name in [n for n in out if n.endswith("-max")]:
        if name.removesuffix("-max") not in out:
            del out[name]  # QEMU wants a burst above a limit
    return dict(sorted(out.items()))


def qmp_arguments(device: str, found: Mapping[str, int]) -> dict[str, object]:
    """``block_set_io_throttle``'s arguments for a VM's disk (``device``: the
    QOM path of its block device): the six base limits are required (0: none)."""
    legacy = {"bps-total": "bps", "bps-read": "bps_rd", "bps-write": "bps_wr",
              "iops-total": "iops", "iops-read": "iops_rd", "iops-write": "iops_wr",
              "bps-total-max": "bps_max", "bps-read-max": "bps_rd_max",
              "bps-write-max": "bps_wr_max", "iops-total-max": "iops_max",
              "iops-read-max": "iops_rd_max", "iops-write-max": "iops_wr_max",
              "iops-size": "iops_size"}  # fmt: skip
    args: dict[str, object] = {"id": device, "bps": 0, "bps_rd": 0, "bps_wr": 0, "iops": 0,
                               "iops_rd": 0, "iops_wr": 0}  # fmt: skip
    for name, value in found.items():
        args[legacy[name]] = value
    return args


def object_argument(group: str, found: Mapping[str, int]) -> str:
    """A storage daemon's ``--object`` for a throttle group with these limits."""
    return ",".join([f"throttle-group,id={group}", *(f"limits.{k}={v}" for k, v in found.items())])
