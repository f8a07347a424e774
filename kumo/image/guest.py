"""The guest image ``cirros`` (``kumo image build``), registered when an API
server starts.

When the bundle (``Settings.guest_image``, by default
``/var/lib/kumo/images/cirros.tar``) exists, the public, protected image
``cirros`` (a fixed id) is made from it and its record ``cirros.json``:
``hypervisor_type=qemu``, the record's formats, minimums and properties,
and the bundle's bytes copied into the image store, checked against the
record's hashes. Idempotent across restarts and API servers sharing a
database: the row is created once (a lost insert race finds the winner's
row), only the server that moves it ``queued -> saving`` copies the data,
and an image already active is left as it is. A copy abandoned by a
crashed server (``saving`` for longer than ``STALE_SAVING``) is taken over.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError

from kumo.db.base import utcnow
from kumo.db.compute_models import Image
from kumo.db.engine import Database
from kumo.db.uow import UnitOfWork, run_in_transaction
from kumo.image.store import ImageStore, StagedFile

log = logging.getLogger(__name__)

CIRROS_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "kumo:image:cirros"))
NAME = "cirros"
STALE_SAVING = dt.timedelta(minutes=10)
CHUNK = 1 << 20


def record(bundle: Path) -> dict[str, Any]:
    """The bundle's record (``cirros.json`` beside ``cirros.tar``); {} when absent."""
    try:
        doc = json.loads(bundle.with_suffix(".json").read_text())
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _row(meta: dict[str, Any]) -> Image:
    props = {str(k): str(v) for k, v in (meta.get("properties") or {}).items()}
    props.update(
        {
            "hypervisor_type": "qemu",
            "description": "kumo's small real guest (kumo image build): Debian's cloud kernel "
            "and a busybox initramfs with dropbear; user cirros, SSH keys from metadata.",
        }
    )
    return Image(
        id=CIRROS_ID,
        name=NAME,
        owner=None,
        status="queued",
        visibility="public",
        protected=True,
        container_format=str(meta.get("container_format") or "ova"),
        disk_format=str(meta.get("disk_format") or "qcow2"),
        min_disk=int(meta.get("min_disk") or 0),
        min_ram=int(meta.get("min_ram") or 0),
        properties=props,
        tags=[],
    )


def _claim(uow: UnitOfWork, meta: dict[str, Any]) -> bool:
    """Create the row if missing; True when this server is to copy the data."""
    s = uow.session
    image = s.get(Image, CIRROS_ID, with_for_update=True)
    if image is None:
        s.add(_row(meta))
        s.flush()
        image = s.get(Image, CIRROS_ID)
        assert image is not None
    stale = image.status == "saving" and utcnow() - image.updated_at > STALE_SAVING
    if image.status not in ("queued", "killed") and not stale:
        return False
    image.status = "saving"
    image.updated_at = utcnow()
    return True


def _finish(uow: UnitOfWork, staged: StagedFile) -> None:
    """saving -> active, the data renamed into place before the commit (a
    reader of the active image finds its bytes)."""
    image = uow.session.get(Image, CIRROS_ID, with_for_update=True)
    if image is None or image.status != "saving":
        raise RuntimeError("the cirros image changed while its data was copied")
    image.size, image.checksum = staged.size, staged.checksum
    image.os_hash_algo, image.os_hash_value = "sha512", staged.sha512
    image.status = "active"
    image.updated_at = utcnow()
    uow.session.flush()
    staged.commit()


def _fail(uow: UnitOfWork) -> None:
    image = uow.session.get(Image, CIRROS_ID, with_for_update=True)
    if image is not None and image.status == "saving":
        image.status = "killed"


def register(db: Database, store: ImageStore, bundle: Path | None) -> bool:
    """Register ``bundle`` as ``cirros`` unless done; whether this call copied it."""
    if bundle is None or not bundle.is_file():
        return False
    meta = record(bundle)
    try:
        mine = run_in_transaction(db, lambda uow: _claim(uow, meta))
    except IntegrityError:  # another server created the row first
        mine = run_in_transaction(db, lambda uow: _claim(uow, meta))
    if not mine:
        return False
    staged = None
    try:
        staged = store.stage(CIRROS_ID)
        with bundle.open("rb") as f:
            while piece := f.read(CHUNK):
                staged.write(piece)
        for key, got in (("checksum", staged.checksum), ("os_hash_value", staged.sha512)):
            if meta.get(key) and meta[key] != got:
                raise ValueError(f"{bundle}: {key} {got} is not the record's {meta[key]}")
        made = staged
        run_in_transaction(db, lambda uow: _finish(uow, made))
    except BaseException:
        if staged is not None:
            staged.discard()
        run_in_transaction(db, _fail)
        raise
    log.info("registered image %s (%s, %d bytes) from %s", NAME, CIRROS_ID, staged.size, bundle)
    return True
