"""Compute drivers: which one runs a server, chosen from its image.

- ``qemu``: a real virtual machine (``kumo/vm``), for images that say
  ``hypervisor_type=qemu`` (or ``kvm``) and, by default, for disk images
  (``qcow2``, ``raw`` with data, or an ``ova`` bundle);
- ``namespace``: a network namespace instance (the ``busybox`` image, or
  any image that says ``hypervisor_type=namespace`` or
  ``kumo_instance_type=namespace``).

Both plug their ports into the same bridge and firewall on the host; the
agent's compiler reads the driver from the server's watch body.
"""

from __future__ import annotations

from kumo.db.compute_models import Image

QEMU = "qemu"
NAMESPACE = "namespace"
DRIVERS = (NAMESPACE, QEMU)
_QEMU_TYPES = {"qemu", "kvm"}


def for_image(image: Image) -> str:
    props = image.properties or {}
    wanted = str(props.get("hypervisor_type") or "").lower()
    if wanted in _QEMU_TYPES:
        return QEMU
    if wanted == NAMESPACE or props.get("kumo_instance_type") == NAMESPACE:
        return NAMESPACE
    if image.container_format == "ova" or image.disk_format == "qcow2":
        return QEMU
    if image.disk_format == "raw" and (image.size or 0) > 0:
        return QEMU
    return NAMESPACE
