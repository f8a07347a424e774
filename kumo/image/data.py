"""Image data: the upload status machine and opening an image for download.

An upload moves an image ``queued -> saving`` in one transaction (only one
upload can win an image), streams into a staged file of the store, then
``saving -> active`` with its size and hashes in a second transaction. A
failure in between leaves no file: a broken stream (the client went away,
fewer bytes than it declared) marks the image ``killed``; an upload over
the quota or the size cap goes back to ``queued`` so that it can be tried
again (Glance does both). An image deleted while its data streams loses
the data too (410).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import BinaryIO

from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.compute_models import Image
from kumo.db.engine import Database
from kumo.db.uow import UnitOfWork, run_in_transaction
from kumo.errors import BadRequest, Conflict, Forbidden, Gone, TooLarge, Unavailable
from kumo.image import access, quota
from kumo.image.events import image_changed
from kumo.image.store import ImageStore, StagedFile
from kumo.policy import allowed, unrestricted

log = logging.getLogger(__name__)


def _begin(
    uow: UnitOfWork, ctx: RequestContext, settings: Settings, image_id: str, declared: int | None
) -> int:
    """queued -> saving; the bytes the upload may hold."""
    s = uow.session
    image = access.load(s, ctx, image_id, lock=True)
    access.require(s, ctx, "image:upload_image", image)
    if image.status != "queued":
        raise Conflict(f"Image status transition from {image.status} to saving is not allowed")
    if image.container_format is None or image.disk_format is None:
        raise BadRequest(
            "Properties disk_format, container_format must be set prior to saving data."
        )
    left = quota.room(s, settings, image.owner, image.id)
    if declared is not None and declared > left:
        raise quota.exceeded(settings, declared, left)
    image.status = "saving"
    image.updated_at = utcnow()
    image_changed(uow, image)
    return left


def _complete(uow: UnitOfWork, settings: Settings, image_id: str, staged: StagedFile) -> None:
    """saving -> active, with the data renamed into place (quota checked again under lock)."""
    s = uow.session
    image = s.get(Image, image_id, with_for_update=True)
    if image is None:
        raise Gone(
            f"Image {image_id} could not be found after upload. The image may have been "
            "deleted during the upload."
        )
    if image.status != "saving":
        raise Conflict(f"Image {image_id} is {image.status}: its upload was abandoned.")
    if image.owner is not None and settings.image_quota_bytes >= 0:
        used = quota.usage(s, image.owner, exclude=image.id, lock=True)
        left = settings.image_quota_bytes - used
        if staged.size > left:
            raise quota.exceeded(settings, staged.size, left)
    image.size = staged.size
    image.checksum = staged.checksum
    image.os_hash_algo = "sha512"
    image.os_hash_value = staged.sha512
    image.status = "active"
    image.updated_at = utcnow()
    s.flush()
    image_changed(uow, image)
    staged.commit()


def _fail(uow: UnitOfWork, image_id: str, status: str) -> None:
    image = uow.session.get(Image, image_id, with_for_update=True)
    if image is not None and image.status == "saving":
        image.status = status
        image.updated_at = utcnow()
        image_changed(uow, image)


class Upload:
    """One upload's bytes on their way into the store.

    ``write`` each piece as it arrives, then ``complete``; anything else ends
    it with ``abort`` (the image is killed). Every path leaves either the
    whole image in the store or no file at all.
    """

    def __init__(
        self, db: Database, settings: Settings, store: ImageStore, image_id: str, left: int,
        declared: int | None,
    ) -> None:  # fmt: skip
        self.db = db
        self.settings = settings
        self.image_id = image_id
        self.left = left
        self.declared = declared
        self.staged: StagedFile | None = None
        self.closed = False
        try:
            self.staged = store.stage(image_id)
        except OSError as exc:
            log.error("image store: cannot stage image %s: %s", image_id, exc)
            self._end("killed")
            raise Unavailable("The image store cannot take data now.") from exc

    def write(self, data: bytes) -> None:
        assert self.staged is not None and not self.closed
        try:
            self.staged.write(data)
        except OSError as exc:
            log.error("image store: writing image %s failed: %s", self.image_id, exc)
            self._end("killed")
            raise Unavailable("The image store failed to write the image data.") from exc
        if self.staged.size > self.left:
            self._end("queued")
            raise quota.exceeded(self.settings, self.staged.size, self.left)

    def complete(self) -> None:
        staged = self.staged
        assert staged is not None and not self.closed
        if self.declared is not None and staged.size != self.declared:
            self._end("killed")
            raise BadRequest(
                f"The upload ended after {staged.size} of the {self.declared} bytes it "
                "declared; the image is killed."
            )
        try:
            run_in_transaction(
                self.db, lambda uow: _complete(uow, self.settings, self.image_id, staged)
            )
        except TooLarge:
            self._end("queued")
            raise
        except BaseException:
            self._end("killed")
            raise
        self.closed = True

    def abort(self) -> None:
        """The stream broke: no data, the image ``killed``."""
        if not self.closed:
            self._end("killed")

    def _end(self, status: str) -> None:
        self.closed = True
        if self.staged is not None:
            self.staged.discard()
        image_id = self.image_id
        run_in_transaction(self.db, lambda uow: _fail(uow, image_id, status))


def start_upload(
    db: Database, settings: Settings, store: ImageStore, ctx: RequestContext, image_id: str,
    declared: int | None,
) -> Upload:  # fmt: skip
    if declared is not None and declared < 0:
        raise BadRequest("Invalid Content-Length")
    left = run_in_transaction(db, lambda uow: _begin(uow, ctx, settings, image_id, declared))
    return Upload(db, settings, store, image_id, left, declared)


@dataclass
class Download:
    """An image's bytes, opened for streaming (``file`` None: no bytes, size 0)."""

    file: BinaryIO | None
    size: int
    checksum: str | None


def open_download(
    db: Database, store: ImageStore, ctx: RequestContext, image_id: str
) -> Download | None:
    """The image's data, or None when it has none yet (queued, saving, killed)."""
    with db.read_session() as s:
        image = access.load(s, ctx, image_id)
        access.require(s, ctx, "image:download_image", image)
        if image.status == "deactivated" and not allowed(ctx, "image:download_image:deactivated"):
            raise Forbidden(
                "The requested image has been deactivated. Image data download is prohibited."
            )
        if image.status not in ("active", "deactivated") or image.size is None:
            return None
        size, checksum = image.size, image.checksum
    file = store.open(image_id)
    if file is None and size:
        log.error("image store %s has no data for active image %s", store.root, image_id)
        raise Unavailable(f"The data of image {image_id} is not in the image store.")
    return Download(file, size, checksum)


def open_for_agent(
    db: Database, store: ImageStore, ctx: RequestContext, image_id: str
) -> Download | None:
    """An image's data for a host agent (``internal:download_image``): only
    for an image a server on the agent's own host was booted from, or one
    the host writes into a volume or boots from a volume made from it
    (``kumo.volume.images.needed_by``), whoever owns it (admins: any image)."""
    from sqlalchemy import select

    from kumo.db.compute_models import Server
    from kumo.identity import agent_credentials
    from kumo.volume import images as volume_images

    with db.read_session() as s:
        image = s.get(Image, image_id)
        if image is None:
            raise access.not_found(image_id)
        if not unrestricted(ctx, "internal:download_image"):
            mine = agent_credentials.host_of(s, ctx.user_id)
            users = select(Server.id).where(Server.image_id == image_id, Server.host == mine)
            if mine is None or (
                s.scalar(users.limit(1)) is None and not volume_images.needed_by(s, mine, image_id)
            ):
                raise Forbidden(f"No server of this host was booted from image {image_id}.")
            agent_credentials.authorize_hosts(s, ctx, [mine], "internal:download_image")
        if image.status not in ("active", "deactivated") or image.size is None:
            return None
        size, checksum = image.size, image.checksum
    file = store.open(image_id)
    if file is None and size:
        raise Unavailable(f"The data of image {image_id} is not in the image store.")
    return Download(file, size, checksum)
