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


RDISC6 = """Soliciting ff02::2 (ff02::2) on eth1...

Hop limit                 :           64 (      0x40)
Stateful address conf.    :           No
Stateful other conf.      :          Yes
Router lifetime           :            0 (0x00000000) seconds
 Source link-layer address: FA:16:3E:00:00:01
 Prefix                   : 2001:db8:1::/64
  On-link                 :          Yes
 Recursive DNS server     : fe80::a9fe:a9fe
 Recursive DNS server     : 2001:db8::53
  DNS servers lifetime    :         1800 (0x00000708) seconds
 DNS search list          : openstacklocal example.org \n  DNS search list lifetime:         1800 (0x00000708) seconds
 from fe80::f816:3eff:fe00:1
"""
"""What ``rdisc6 -1 -n eth1`` (ndisc6 1.0.5) printed for an advertisement
of kumo's ``ra.advert_frame`` with two servers and two domains."""

IF_INET6 = """00000000000000000000000000000001 01 80 10 80       lo
fe8000000000000000fc00fffe000001 02 40 20 80     eth0
20010db8000100000000000000000005 03 40 00 00     eth1
fe8000000000000000fc00fffe000002 03 40 20 80     eth1
fe8000000000000000fc00fffe000003 04 40 20 c0     eth2
"""
"""/proc/net/if_inet6: eth0 link-local only, eth1 with an address by SLAAC,
eth2's link-local address still tentative (flag 0x40)."""


def _resolv_sh(tmp_path: Path, script: str, stdin: str = "") -> str:
    assert BUSYBOX is not None
    (tmp_path / "if_inet6").write_text(IF_INET6)
    env = {"RESOLV_DIR": str(tmp_path / "resolv"), "RESOLV_CONF": str(tmp_path / "resolv.conf"),
           "IF_INET6": str(tmp_path / "if_inet6"), "PATH": "/usr/bin:/bin"}  # fmt: skip
    lib = initramfs.ROOTFS / "usr/share/kumo/resolv.sh"
    return subprocess.run(
        [BUSYBOX, "sh", "-c", f". {lib}; {script}"], input=stdin, env=env,
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


@needs_busybox
def test_the_guests_resolv_conf_takes_rdnss_beside_the_dhcp_lease(tmp_path: Path) -> None:
    resolv = tmp_path / "resolv"
    resolv.mkdir()
    (resolv / "eth0").write_text("search openstacklocal\nnameserver 169.254.169.254\n")
    out = _resolv_sh(tmp_path, 'name=kept; ra_resolv eth1; echo "$name"', RDISC6)
    assert out == "kept\n"  # the caller's variables are its own
    # the advertisement's share: a link-local server with its zone
    assert (resolv / "eth1.ra").read_text() == (
        "search openstacklocal example.org\n"
        "nameserver fe80::a9fe:a9fe%eth1\nnameserver 2001:db8::53\n"
    )
    # resolv.conf: one search line, each domain once; IPv4's server kept first
    assert (tmp_path / "resolv.conf").read_text() == (
        "search openstacklocal example.org\nnameserver 169.254.169.254\n"
        "nameserver fe80::a9fe:a9fe%eth1\nnameserver 2001:db8::53\n"
    )
    # an advertisement without DNS options leaves the IPv4 share alone
    _resolv_sh(tmp_path, "ra_resolv eth1", "Hop limit : 64\n")
    assert (resolv / "eth1.ra").read_text() == ""
    assert (tmp_path / "resolv.conf").read_text() == (
        "search openstacklocal\nnameserver 169.254.169.254\n"
    )


@needs_busybox
def test_the_guest_finds_its_ipv6_links(tmp_path: Path) -> None:
    found = "for n in eth0 eth1 eth2 lo; do has_slaac $n && echo $n; done; true"
    assert _resolv_sh(tmp_path, found) == "eth1\n"
    # link-local addresses to reach fe80::a9fe:a9fe from: not the tentative one
    assert _resolv_sh(tmp_path, 'link_local_nics; echo "[$nics6]"') == "[eth0 eth1]\n"


@needs_busybox
def test_a_nic_whose_solicitation_goes_unanswered_is_asked_again(tmp_path: Path) -> None:
    marks, fake = tmp_path / "marks", tmp_path / "bin"
    marks.mkdir()
    fake.mkdir()
    rdisc6 = fake / "rdisc6"
    script = f". {initramfs.ROOTFS / 'usr/share/kumo/resolv.sh'}; ra_dns eth1"
    env = {"RESOLV_DIR": str(tmp_path / "resolv"), "RESOLV_CONF": str(tmp_path / "resolv.conf"),
           "RA_MARKS": str(marks), "PATH": f"{fake}:/usr/bin:/bin"}  # fmt: skip
    assert BUSYBOX is not None
    # no answer (rdisc6 exits 2): no mark, so the next round asks again
    rdisc6.write_text("#!/bin/sh\nexit 2\n")
    rdisc6.chmod(0o755)
    subprocess.run([BUSYBOX, "sh", "-c", script], env=env, check=True)
    assert not (marks / "ra.eth1").exists()
    assert not (tmp_path / "resolv" / "eth1.ra").exists()
    # an answer: marked, and its servers in resolv.conf
    (tmp_path / "answer").write_text(RDISC6)
    rdisc6.write_text(f"#!/bin/sh\ncat {tmp_path / 'answer'}\n")
    subprocess.run([BUSYBOX, "sh", "-c", script], env=env, check=True)
    assert (marks / "ra.eth1").exists()
    assert "nameserver fe80::a9fe:a9fe%eth1" in (tmp_path / "resolv.conf").read_text()
