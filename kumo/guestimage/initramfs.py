"""The guest's whole root file system, as an initramfs: busybox-static and
its applet links, dropbear with the shared libraries it loads, the kernel
modules the guest needs with a ``modules.dep`` for busybox ``modprobe``,
and kumo's own init files (``rootfs/``). Packed with busybox ``cpio -o -H newc`` in sorted order, one
fixed mtime, owner root, renumbered inodes, then gzip without a name or a
time stamp: the same packages give the same bytes."""

from __future__ import annotations

import gzip
import os
import shutil
import stat
import subprocess
from pathlib import Path

from kumo.guestimage import elf

ROOTFS = Path(__file__).parent / "rootfs"

MODULES = (
    "virtio_pci",
    "virtio_net",
    "virtio_blk",
    "virtio_rng",
    "button",
    "evdev",
    "isofs",
)
"""Drivers in the image (their dependencies come along)."""
BOOT_MODULES = MODULES[:-1]
"""Drivers the guest loads at boot: all but ``isofs``, which the cloud
stage loads only when a second disk (maybe a config drive) is there.
Every module costs boot time under TCG (~0.7 s of CPU for these, loading
and probing, measured in docs/PERFORMANCE.md); QEMU gives the guest no
virtio console, so ``virtio_console`` is not in the image."""

PROGRAMS = ("usr/sbin/dropbear", "usr/bin/dropbearkey", "bin/rdisc6")
"""Dynamically linked programs copied with their libraries."""

LIBRARY_DIRS = ("lib/x86_64-linux-gnu", "usr/lib/x86_64-linux-gnu")
LOADER = "lib64/ld-linux-x86-64.so.2"
PRIVATE_FILES = {"etc/shadow": 0o600}


class InitramfsError(RuntimeError):
    pass


def kernel_release(unpacked: Path) -> str:
    releases = sorted(p.name for p in (unpacked / "lib/modules").iterdir())
    if len(releases) != 1:
        raise InitramfsError(f"expected one kernel under lib/modules, found {releases}")
    return releases[0]


def module_order(modules_dir: Path, wanted: tuple[str, ...] = MODULES) -> list[str]:
    """Paths (relative to ``modules_dir``) of the wanted modules and their
    dependencies, each after everything it depends on."""
    by_name = {p.name.removesuffix(".ko").replace("-", "_"): p for p in modules_dir.rglob("*.ko")}
    order: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        name = name.replace("-", "_")
        path = by_name.get(name)
        if path is None:
            raise InitramfsError(f"kernel module {name} not found under {modules_dir}")
        rel = str(path.relative_to(modules_dir))
        if rel in order:
            return
        if name in visiting:
            raise InitramfsError(f"kernel module dependency cycle at {name}")
        visiting.add(name)
        for dep in filter(None, elf.modinfo(path).get("depends", "").split(",")):
            visit(dep)
        visiting.discard(name)
        order.append(rel)

    for name in wanted:
        visit(name)
    return order


def module_deps(modules_dir: Path, module: str, order: list[str]) -> list[str]:
    """Everything ``module`` (a path from ``module_order``) needs loaded
    before it, transitively: the paths in ``order``, listed last-loaded
    first, as ``modules.dep`` lists them."""
    by_name = {Path(rel).name.removesuffix(".ko").replace("-", "_"): rel for rel in order}
    needed: set[str] = set()
    todo = [module]
    while todo:
        info = elf.modinfo(modules_dir / todo.pop())
        for dep in filter(None, info.get("depends", "").split(",")):
            rel = by_name[dep.replace("-", "_")]
            if rel not in needed:
                needed.add(rel)
                todo.append(rel)
    return sorted(needed, key=order.index, reverse=True)


def modules_dep(deps: dict[str, list[str]]) -> str:
    """``modules.dep`` for busybox ``modprobe``: one line per module, its
    path then its dependencies, the one to load first last."""
    return "".join(f"{module}: {' '.join(needs)}".rstrip() + "\n" for module, needs in deps.items())


def _find_library(unpacked: Path, soname: str) -> Path:
    for directory in LIBRARY_DIRS:
        path = unpacked / directory / soname
        if path.exists():
            return path
    raise InitramfsError(f"shared library {soname} is in none of the guest's packages")


def _copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src.resolve(), dst)
    shutil.copymode(src.resolve(), dst)


def assemble(unpacked: Path, tree: Path) -> None:
    """Lay the guest's root file system out in ``tree`` (an empty directory)."""
    for directory in (
        "bin", "sbin", "usr/bin", "usr/sbin", "dev", "proc", "sys", "run", "tmp", "root",
        "home", "var/lib/kumo", "var/log", "etc/kumo",
    ):  # fmt: skip
        (tree / directory).mkdir(parents=True, exist_ok=True)

    busybox = unpacked / "bin/busybox"
    _copy(busybox, tree / "bin/busybox")
    applets = subprocess.run(
        [str(busybox), "--list-full"], capture_output=True, text=True, check=True
    ).stdout.split()
    for applet in sorted(applets):
        link = tree / applet
        if link.exists() or link.is_symlink():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath("/bin/busybox", "/" + str(Path(applet).parent)))
    (tree / "init").symlink_to("bin/busybox")

    libraries: set[str] = set()
    scan = []
    for program in PROGRAMS:
        _copy(unpacked / program, tree / program)
        scan.append(unpacked / program)
    while scan:
        for soname in elf.needed(scan.pop().resolve()):
            if soname in libraries:
                continue
            libraries.add(soname)
            lib = _find_library(unpacked, soname)
            _copy(lib, tree / lib.parent.relative_to(unpacked) / soname)
            scan.append(lib)
    (tree / "lib64").mkdir(exist_ok=True)
    (tree / LOADER).symlink_to("/" + LIBRARY_DIRS[0] + "/ld-linux-x86-64.so.2")

    release = kernel_release(unpacked)
    modules_dir = unpacked / "lib/modules" / release
    order = module_order(modules_dir)
    for module in order:
        _copy(modules_dir / module, tree / "lib/modules" / release / module)
    deps = {module: module_deps(modules_dir, module, order) for module in order}
    (tree / "lib/modules" / release / "modules.dep").write_text(modules_dep(deps))
    (tree / "etc/kumo/modules").write_text(" ".join(BOOT_MODULES) + "\n")

    for src in sorted(ROOTFS.rglob("*")):
        rel = src.relative_to(ROOTFS)
        dst = tree / rel
        if src.is_dir():
            dst.mkdir(parents=True, exist_ok=True)
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        data = src.read_bytes()
        dst.write_bytes(data)
        os.chmod(dst, 0o755 if data.startswith(b"#!") else 0o644)


DIRECTORY_MODES = {"tmp": 0o1777, "root": 0o700}


def _mode(rel: str, st_mode: int) -> int:
    """Modes that do not depend on the builder's umask: directories 0755,
    files 0755 if executable at all, else 0644 (with the listed exceptions)."""
    if stat.S_ISDIR(st_mode):
        return DIRECTORY_MODES.get(rel, 0o755)
    if rel in PRIVATE_FILES:
        return PRIVATE_FILES[rel]
    return 0o755 if st_mode & 0o111 else 0o644


def pack(tree: Path, busybox: Path, epoch: int) -> bytes:
    """``tree`` as a gzip-compressed newc cpio archive, byte for byte reproducible."""
    entries = sorted(
        str(path.relative_to(tree)) for path in tree.rglob("*")
    )  # parents sort before children
    for rel in [*entries, "."]:
        path = tree / rel
        if not path.is_symlink():
            os.chmod(path, _mode(rel, path.lstat().st_mode))
        os.utime(path, (epoch, epoch), follow_symlinks=False)
    listing = "".join(f"{rel}\n" for rel in entries).encode()
    result = subprocess.run(
        [str(busybox), "cpio", "-o", "-H", "newc", "-R", "0:0", "--ignore-devno",
         "--renumber-inodes"],
        input=listing, capture_output=True, cwd=tree, timeout=120,
    )  # fmt: skip
    if result.returncode != 0:
        raise InitramfsError(f"cpio: {result.stderr.decode(errors='replace').strip()}")
    return gzip.compress(result.stdout, compresslevel=9, mtime=0)
