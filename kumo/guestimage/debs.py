"""Debian packages for the guest: which version the configured repositories
offer (``apt-cache``), fetched once into a cache (``apt-get download``, which
checks each file against the signed repository index) and unpacked with
``dpkg-deb -x``. Nothing is fetched from anywhere but the host's apt
sources."""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

KERNEL_META = "linux-image-cloud-amd64"


class PackageError(RuntimeError):
    """A package is not offered by the configured repositories, or did not download."""


@dataclass(frozen=True)
class Deb:
    name: str
    version: str
    sha256: str
    architecture: str

    @property
    def filename(self) -> str:
        """The name ``apt-get download`` gives the file (an epoch's colon as %3a)."""
        return f"{self.name}_{self.version.replace(':', '%3a')}_{self.architecture}.deb"

    def key(self) -> str:
        return f"{self.name}={self.version}@{self.sha256}"


def _apt(*args: str, cwd: Path | None = None) -> str:
    result = subprocess.run(
        args, capture_output=True, text=True, cwd=cwd, timeout=300, env=_apt_env()
    )
    if result.returncode != 0:
        raise PackageError(f"{' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def _apt_env() -> dict[str, str]:
    return {**os.environ, "LC_ALL": "C"}


def _fields(stanza: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in stanza.splitlines():
        if line and not line[0].isspace() and ":" in line:
            key, _, value = line.partition(":")
            out[key] = value.strip()
    return out


def candidates(names: list[str]) -> list[Deb]:
    """The versions apt would install now, with their checksums from the
    index, in the order asked (one ``apt-cache`` run: each costs seconds)."""
    text = _apt("apt-cache", "show", "--no-all-versions", *names)
    found: dict[str, Deb] = {}
    for stanza in text.split("\n\n"):
        fields = _fields(stanza)
        if {"Package", "Version", "SHA256", "Architecture"} <= fields.keys():
            name = fields["Package"]
            found.setdefault(
                name, Deb(name, fields["Version"], fields["SHA256"], fields["Architecture"])
            )
    missing = [name for name in names if name not in found]
    if missing:
        raise PackageError(f"not offered by the configured repositories: {', '.join(missing)}")
    return [found[name] for name in names]


def kernel_package() -> str:
    """The versioned kernel package the cloud kernel meta-package points at."""
    text = _apt("apt-cache", "show", "--no-all-versions", KERNEL_META)
    fields = _fields(text.split("\n\n")[0])
    for dep in fields.get("Depends", "").split(","):
        name = dep.strip().split(" ")[0]
        if name.startswith("linux-image-") and name.endswith("-cloud-amd64"):
            return name
    raise PackageError(f"{KERNEL_META}: depends on no linux-image-*-cloud-amd64 package")


def fetch(debs: list[Deb], cache: Path) -> dict[str, Path]:
    """Each package's file in ``cache``, downloading those not there yet."""
    cache.mkdir(parents=True, exist_ok=True)
    missing = [d for d in debs if not _cached(d, cache)]
    if missing:
        _apt("apt-get", "download", "-q", *[f"{d.name}={d.version}" for d in missing], cwd=cache)
    out = {}
    for deb in debs:
        if not _cached(deb, cache):
            raise PackageError(f"{deb.name}: {deb.filename} missing or damaged after download")
        out[deb.name] = cache / deb.filename
    return out


def _cached(deb: Deb, cache: Path) -> bool:
    path = cache / deb.filename
    if not path.is_file():
        return False
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() == deb.sha256:
        return True
    path.unlink()
    return False


def unpack(path: Path, into: Path) -> None:
    result = subprocess.run(
        ["dpkg-deb", "-x", str(path), str(into)], capture_output=True, text=True, timeout=120
    )
    if result.returncode != 0:
        raise PackageError(f"dpkg-deb -x {path.name}: {result.stderr.strip()}")
