"""The guest image: ``cirros``, built from Debian packages only.

Inputs → output: the host's apt sources (Debian's cloud kernel,
busybox-static, dropbear-bin and the shared libraries it loads, ndisc6's
``rdisc6``) and kumo's guest files (``rootfs/``) → one *bundle* file, ``cirros.tar``, plus a
record ``cirros.json`` (checksums and the Glance fields to register it).

Why a bundle and not a bootable disk: QEMU boots a kernel and an initramfs
directly (``-kernel``/``-initrd``), which needs no bootloader package, no
partition tools and no root to build, and skips the firmware's disk boot
(seconds under TCG). Glance's own answer for such images is three records
(an ``aki`` kernel and an ``ari`` ramdisk referenced by an ``ami``'s
``kernel_id``/``ramdisk_id``); one file per image is simpler to store,
upload and cache, so the three travel together in one uncompressed tar
(the kernel and initramfs are compressed already) whose first member,
``kumo-image.json``, says which member is which and the kernel command
line (``kumo.guestimage.bundle``). Registered as ``container_format=ova``
(a tar of a descriptor and its disks, which is what OVA is; the descriptor
is kumo's, not OVF) and ``disk_format=qcow2`` (the disk inside).

The guest: the whole root file system is the initramfs (busybox init);
the bundle's ``disk.qcow2`` is a 1 GiB ext4 disk (made at build time,
``statedisk``) that each VM gets as a copy-on-write overlay, mounted at
``/var/lib/kumo`` for what must survive a reboot (SSH host key,
``/home``, which user data already ran). ``rootfs/etc/init.d/cloud`` does
what cloud-init does for cirros: DHCP with option 121 routes on every NIC
(and on NICs plugged later), SLAAC, metadata from a ``config-2`` config
drive or http://169.254.169.254, or http://[fe80::a9fe:a9fe%NIC] when no
NIC has an IPv4 lease (``meta_data.json``: hostname, public keys of user
``cirros``; ``user_data`` run once when it starts with ``#!``),
resolv.conf from DHCP and from the router advertisements' RDNSS and DNSSL
(``rdisc6``, from ndisc6), dropbear on port 22 (key login only; the serial
console's getty has no password to accept), a clean poweroff on the ACPI
power button (busybox acpid).

Reproducible: packages pinned to the versions the index offers (and
checked against its SHA256), sorted cpio entries with one mtime
(``SOURCE_DATE_EPOCH`` or a fixed date), owner 0, renumbered inodes, gzip
without name or time, tar members with fixed metadata: the same inputs
give the same bundle checksum."""
