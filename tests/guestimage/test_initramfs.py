"""Packing is reproducible (mtimes, inode numbers and creation order do not
leak into the archive), modules come after what they depend on, and the
guest's JSON reader flattens what the metadata service writes."""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from kumo.guestimage import initramfs

BUSYBOX = shutil.which("busybox")
needs_busybox = pytest.mark.skipif(BUSYBOX is None, reason="needs busybox")


def _tree(root: Path, order: list[str]) -> Path:
    for name in order:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"file {name}\n")
        time.sleep(0.01)
    (root / "init").symlink_to("bin/sh")
    return root


@needs_busybox
def test_pack_is_reproducible(tmp_path: Path) -> None:
    assert BUSYBOX is not None
    a = _tree(tmp_path / "a", ["bin/sh", "etc/passwd", "etc/init.d/rcS"])
    b = _tree(tmp_path / "b", ["etc/init.d/rcS", "etc/passwd", "bin/sh"])
    packed_a = initramfs.pack(a, Path(BUSYBOX), 1704067200)
    packed_b = initramfs.pack(b, Path(BUSYBOX), 1704067200)
    assert packed_a == packed_b
    listing = (
        subprocess.run(
            [BUSYBOX, "cpio", "-t"],
            input=gzip.decompress(packed_a),
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split()
    )
    assert listing == sorted(listing) and "etc/init.d/rcS" in listing
    assert initramfs.pack(a, Path(BUSYBOX), 1704067201) != packed_a


def _module(path: Path, depends: str) -> None:
    """A minimal ELF64 file with one .modinfo section (what modinfo reads)."""
    import struct

    modinfo = f"license=GPL\0depends={depends}\0name={path.stem}\0".encode()
    shstr = b"\0.modinfo\0.shstrtab\0"
    data_off = 64
    shstr_off = data_off + len(modinfo)
    shoff = shstr_off + len(shstr)
    header = b"\x7fELF\x02\x01\x01" + bytes(9)
    header += struct.pack("<HHIQQQIHHHHHH", 1, 62, 1, 0, 0, shoff, 0, 64, 0, 0, 64, 3, 2)
    sections = bytes(64)
    sections += struct.pack("<IIQQQQIIQQ", 1, 1, 0, 0, data_off, len(modinfo), 0, 0, 1, 0)
    sections += struct.pack("<IIQQQQIIQQ", 10, 3, 0, 0, shstr_off, len(shstr), 0, 0, 1, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + modinfo + shstr + sections)


def test_modules_follow_their_dependencies(tmp_path: Path) -> None:
    _module(tmp_path / "kernel/net/virtio_net.ko", "virtio_ring,virtio,net_failover")
    _module(tmp_path / "kernel/net/net_failover.ko", "failover")
    _module(tmp_path / "kernel/net/failover.ko", "")
    _module(tmp_path / "kernel/virtio/virtio.ko", "virtio_ring")
    _module(tmp_path / "kernel/virtio/virtio_ring.ko", "")
    _module(tmp_path / "kernel/char/virtio-rng.ko", "virtio,virtio_ring")
    order = initramfs.module_order(tmp_path, ("virtio_net", "virtio_rng"))
    names = [Path(p).stem for p in order]
    assert names.index("virtio_ring") < names.index("virtio") < names.index("virtio_net")
    assert names.index("failover") < names.index("net_failover") < names.index("virtio_net")
    assert names[-1] == "virtio-rng" and len(names) == 6
    with pytest.raises(initramfs.InitramfsError):
        initramfs.module_order(tmp_path, ("virtio_blk",))


def test_modules_dep_lists_every_dependency_last_loaded_first(tmp_path: Path) -> None:
    # busybox modprobe loads a line's dependencies from its end: the whole
    # transitive set must be there, the first to load last.
    _module(tmp_path / "kernel/net/virtio_net.ko", "virtio,net_failover")
    _module(tmp_path / "kernel/net/net_failover.ko", "failover")
    _module(tmp_path / "kernel/net/failover.ko", "")
    _module(tmp_path / "kernel/virtio/virtio.ko", "virtio_ring")
    _module(tmp_path / "kernel/virtio/virtio_ring.ko", "")
    order = initramfs.module_order(tmp_path, ("virtio_net",))
    deps = {m: initramfs.module_deps(tmp_path, m, order) for m in order}
    line = initramfs.modules_dep(deps).splitlines()[-1]
    module, _, needs = line.partition(": ")
    assert module == "kernel/net/virtio_net.ko"
    loads = list(reversed(needs.split()))
    assert sorted(loads) == sorted(o for o in order if o != module)
    assert all(order.index(a) < order.index(b) for a, b in zip(loads, loads[1:], strict=False))
    assert "kernel/virtio/virtio_ring.ko:" in initramfs.modules_dep(deps).splitlines()


@needs_busybox
def test_the_guests_json_reader(tmp_path: Path) -> None:
    assert BUSYBOX is not None
    doc = {
        "uuid": "u-1",
        "hostname": "vm1",
        "public_keys": {"k1": "ssh-ed25519 AAAA a@b", "k2": "ssh-rsa BBBB"},
        "keys": [{"name": "k1", "data": 'quote " back \\ slash'}],
        "meta": {},
        "launch_index": 0,
        "devices": [],
        "x": None,
    }
    awk = initramfs.ROOTFS / "usr/share/kumo/json.awk"
    out = subprocess.run(
        [BUSYBOX, "awk", "-f", str(awk)], input=json.dumps(doc), capture_output=True,
        text=True, check=True,
    ).stdout  # fmt: skip
    rows = dict(line.split("\t", 1) for line in out.splitlines())
    assert rows["hostname"] == "vm1"
    assert rows["public_keys.k2"] == "ssh-rsa BBBB"
    assert rows["keys.0.data"] == 'quote " back \\ slash'
    assert rows["launch_index"] == "0" and rows["x"] == "null"
    bad = subprocess.run(
        [BUSYBOX, "awk", "-f", str(awk)], input='{"a": [1,', capture_output=True, text=True
    )
    assert bad.returncode != 0


@needs_busybox
def test_the_guests_metadata_reader_writes_keys_and_shell_variables(tmp_path: Path) -> None:
    assert BUSYBOX is not None
    share = initramfs.ROOTFS / "usr/share/kumo"
    keys, shvars = tmp_path / "authorized_keys", tmp_path / "vars"

    def run(doc: str) -> subprocess.CompletedProcess[str]:
        argv = [BUSYBOX, "awk", "-v", f"keys={keys}", "-v", f"vars={shvars}",
                "-f", str(share / "json.awk"), "-f", str(share / "meta.awk")]  # fmt: skip
        return subprocess.run(argv, input=doc, capture_output=True, text=True)

    doc = {"uuid": "u-1;rm", "name": "my vm/1", "hostname": "",
           "public_keys": {"k1": "ssh-ed25519 AAAA a@b", "k2": "ssh-rsa BBBB"}}  # fmt: skip
    done = run(json.dumps(doc))
    assert done.returncode == 0
    assert "public_keys.k1\tssh-ed25519 AAAA a@b" in done.stdout.splitlines()
    assert keys.read_text() == "ssh-ed25519 AAAA a@b\nssh-rsa BBBB\n"
    # The hostname, else the name, as a host name; nothing the shell would run.
    assert shvars.read_text() == "uuid=u-1rm\nname=my-vm-1\nnkeys=2\n"
    assert run(json.dumps({"hostname": "h.example", "name": "n"})).returncode == 0
    assert shvars.read_text() == "uuid=\nname=h.example\nnkeys=0\n" and keys.read_text() == ""
    shvars.unlink()
    assert run('{"hostname": "x", ').returncode != 0
    assert not shvars.exists()


@needs_busybox
def test_modes_do_not_depend_on_the_umask(tmp_path: Path) -> None:
    assert BUSYBOX is not None
    a = _tree(tmp_path / "a", ["bin/sh", "etc/shadow", "tmp/x"])
    b = _tree(tmp_path / "b", ["bin/sh", "etc/shadow", "tmp/x"])
    for tree, file_mode, dir_mode in ((a, 0o600, 0o700), (b, 0o664, 0o775)):
        for path in tree.rglob("*"):
            if not path.is_symlink():
                path.chmod(dir_mode if path.is_dir() else file_mode)
        (tree / "bin/sh").chmod(0o700 if tree is a else 0o775)
    assert initramfs.pack(a, Path(BUSYBOX), 0) == initramfs.pack(b, Path(BUSYBOX), 0)
    assert (a / "etc/shadow").stat().st_mode & 0o777 == 0o600
    assert (a / "tmp").stat().st_mode & 0o7777 == 0o1777
    assert (a / "bin/sh").stat().st_mode & 0o777 == 0o755
