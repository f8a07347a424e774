"""When ``kumo image build`` may skip: the record's inputs key matches and
the bundle on disk still has the recorded size and checksum."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from kumo.guestimage import build
from kumo.guestimage.debs import Deb

KERNEL = Deb("linux-image-6.1.0-57-cloud-amd64", "6.1.192-3", "ab" * 32, "amd64")


def test_inputs_key_follows_versions_and_epoch() -> None:
    newer = Deb(KERNEL.name, "6.1.192-4", "cd" * 32, "amd64")
    key = build.inputs_key([KERNEL], 1)
    assert key == build.inputs_key([KERNEL], 1)
    assert key != build.inputs_key([newer], 1)
    assert key != build.inputs_key([KERNEL], 2)
    assert newer.filename == "linux-image-6.1.0-57-cloud-amd64_6.1.192-4_amd64.deb"
    assert (
        Deb("libcrypt1", "1:4.4.33-2", "", "amd64").filename == "libcrypt1_1%3a4.4.33-2_amd64.deb"
    )


def test_up_to_date_only_with_the_same_key_and_intact_file(tmp_path: Path) -> None:
    image, record = build.paths(tmp_path)
    image.write_bytes(b"bundle bytes")
    doc = {"inputs": "k1", "size": 12, "sha256": hashlib.sha256(b"bundle bytes").hexdigest()}
    record.write_text(json.dumps(doc))
    assert build.up_to_date(tmp_path, "k1") == doc
    assert build.up_to_date(tmp_path, "k2") is None
    image.write_bytes(b"bundle bytez")  # damaged, same size
    assert build.up_to_date(tmp_path, "k1") is None
    record.write_text("{")
    assert build.up_to_date(tmp_path, "k1") is None
