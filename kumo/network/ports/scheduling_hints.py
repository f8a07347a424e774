"""Port attributes that only a compute scheduler reads: ``numa_affinity_policy``
(port-numa-affinity-policy) and ``device_profile`` (port-device-profile).

Neutron keeps them and shows them without a driver acting on them; so does
kumo (its QEMU guests have one NUMA node and no accelerator devices).
"""

from __future__ import annotations

from typing import Any

from kumo.errors import InvalidInput, shown
from kumo.network import validate

NUMA_POLICIES = ("required", "preferred", "legacy")


def numa_affinity_policy(body: dict[str, Any]) -> str | None:
    value = body["numa_affinity_policy"]
    if value is None:
        return None
    if value not in NUMA_POLICIES:
        raise InvalidInput(f"'{shown(value)}' is not in {[*NUMA_POLICIES, None]}")
    return str(value)


def device_profile(body: dict[str, Any]) -> str | None:
    if body["device_profile"] is None:
        return None
    return validate.string(body, "device_profile")
