"""The bundle format: equal contents give equal bytes; unpack takes only
the members the descriptor names and refuses anything else."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from kumo.guestimage import bundle


def _descriptor() -> bundle.Descriptor:
    return bundle.Descriptor(
        kernel="vmlinuz", ramdisk="initrd.img", disk="disk.qcow2",
        cmdline="console=ttyS0", min_ram_mb=128, extra={"name": "cirros"},
    )  # fmt: skip


def _files(directory: Path) -> dict[str, Path]:
    directory.mkdir(exist_ok=True)
    out = {}
    for name, data in (("vmlinuz", b"kernel"), ("initrd.img", b"ramdisk"), ("disk.qcow2", b"QFI")):
        (directory / name).write_bytes(data)
        out[name] = directory / name
    return out


def test_same_contents_same_bytes_and_round_trip(tmp_path: Path) -> None:
    a, b = tmp_path / "a.tar", tmp_path / "b.tar"
    bundle.write(a, _descriptor(), _files(tmp_path / "one"), 1704067200)
    bundle.write(b, _descriptor(), _files(tmp_path / "two"), 1704067200)
    assert a.read_bytes() == b.read_bytes()
    out = tmp_path / "out"
    out.mkdir()
    assert bundle.unpack(a, out) == _descriptor()
    assert (out / "initrd.img").read_bytes() == b"ramdisk"
    assert bundle.read_descriptor(a).cmdline == "console=ttyS0"


def _tar(path: Path, members: list[tuple[str, bytes]]) -> None:
    with tarfile.open(path, "w") as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.mark.parametrize(
    "members",
    [
        [("vmlinuz", b"k")],  # no descriptor first
        [(bundle.DESCRIPTOR, b"{not json")],
        [(bundle.DESCRIPTOR, b'{"format": "other/1"}')],
        [(bundle.DESCRIPTOR, _descriptor().to_json()), ("../evil", b"x")],
        [(bundle.DESCRIPTOR, _descriptor().to_json()), ("vmlinuz", b"k")],  # members missing
    ],
)
def test_bad_bundles_are_refused(tmp_path: Path, members: list[tuple[str, bytes]]) -> None:
    path = tmp_path / "bad.tar"
    _tar(path, members)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(bundle.BundleError):
        bundle.unpack(path, out)
    assert not (tmp_path / "evil").exists()


def test_a_descriptor_naming_a_path_is_refused() -> None:
    raw = _descriptor().to_json().replace(b'"vmlinuz"', b'"../vmlinuz"')
    with pytest.raises(bundle.BundleError):
        bundle.Descriptor.from_json(raw)


def test_not_a_tar(tmp_path: Path) -> None:
    path = tmp_path / "x.tar"
    path.write_bytes(b"QFI\xfb" + bytes(1000))
    with pytest.raises(bundle.BundleError):
        bundle.read_descriptor(path)
