"""Compute drivers: which one runs a server, chosen from its image.

- ``qemu``: a real virtual machine (``kumo/vm``), for images that say
  ``hypervisor_type=qemu`` (or ``kvm``) and, by default, for disk images
  (``qcow2``, ``raw`` with data, or an ``ova`` bundle);
- ``namespace``: a network namespace instance (the ``busybox`` image, or
  any image that says ``hypervisor_type=namespace`` or
  ``kumo_instance_type=namespace``).

A virtual machine boots by direct kernel boot from a guest bundle
(``kumo.guestimage.bundle``: kernel, initramfs and base disk in one tar);
``check_bootable`` refuses, at server create, an image whose data is
anything else (a bare qcow2 or ISO uploaded as is), which its host could
never start.

Both plug their ports into the same bridge and firewall on the host; the
agent's compiler reads the driver from the server's watch body.
"""

from __future__ import annotations

from kumo.config import Settings
from kumo.db.compute_models import Image
from kumo.errors import BadRequest

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


def check_bootable(settings: Settings, image: Image) -> None:
    """400 (Nova's ``ImageUnacceptable``) for an image the QEMU driver
    cannot boot: data that is not a guest bundle. Images of namespace
    instances carry no data the host reads; an image whose data this API
    server does not hold is not judged here."""
    from kumo.guestimage import bundle
    from kumo.image.store import ImageStore

    if for_image(image) != QEMU:
        return
    try:
        data = ImageStore(settings.images_path).open(image.id)
    except ValueError:
        return
    if data is None:
        return
    with data:
        head = data.read(512)
    if not bundle.looks_like(head):
        raise BadRequest(
            f"Image {image.id} is unacceptable: a virtual machine here boots from a guest "
            "bundle (a tar of kernel, initramfs and base disk, made by "
            "'kumo image build' or a server snapshot), and this image's data is not one.",
            kind="ImageUnacceptable",
        )
