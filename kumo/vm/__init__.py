"""Real virtual machines: the QEMU runner a host agent's compute driver uses.

Inputs → outputs: a ``VmSpec`` (server id, flavor, image bundle, NICs, the
namespace) → one detached ``qemu-system-x86_64`` process per server with
its state under ``RUN_DIR/vms/<name>/``; lifecycle calls → QMP commands.

- ``spec``: the typed request and its saved form.
- ``images``: bundles unpacked once per host, by checksum (the base disks).
- ``accel``: KVM only when a real guest boots under it (probed, cached), else TCG.
- ``argv``: the QEMU command line (pure).
- ``taps``: persistent tap devices in the VM's namespace.
- ``qmp``: a small QMP client (greeting, capabilities, ids, events, typed errors).
- ``runner``: create/start/powerdown/reboot/pause/unpause/delete, NIC hot-plug.
"""
