"""ImageService: the facade the image API calls."""

from __future__ import annotations

import logging
from typing import Any

from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.engine import Database
from kumo.db.uow import UnitOfWork, run_in_transaction
from kumo.image import access, data, guest, images, members
from kumo.image.data import Download, Upload
from kumo.image.store import ImageStore

log = logging.getLogger(__name__)
ABANDONED_PART_SECONDS = 24 * 3600
"""Age after which a partial upload file counts as left by a crashed server."""


class ImageService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.store = ImageStore(settings.images_path)

    def bootstrap(self) -> None:
        """The shipped images: ``busybox``, and ``cirros`` when its bundle is built."""
        run_in_transaction(self.db, lambda uow: images.ensure_defaults(uow.session))
        self.store.sweep(ABANDONED_PART_SECONDS)
        try:
            guest.register(self.db, self.store, self.settings.guest_image)
        except (OSError, ValueError, RuntimeError) as exc:
            log.error("the guest image %s was not registered: %s", self.settings.guest_image, exc)

    def open_for_agent(self, ctx: RequestContext, image_id: str) -> Download | None:
        """An image's data for the agent of a host that runs a server booted from it."""
        return data.open_for_agent(self.db, self.store, ctx, image_id)

    def list_images(self, ctx: RequestContext, params: dict[str, str]) -> list[dict[str, Any]]:
        with self.db.read_session() as s:
            return [images.view(i) for i in images.listing(s, ctx, params)]

    def show_image(self, ctx: RequestContext, image_id: str) -> dict[str, Any]:
        with self.db.read_session() as s:
            return images.view(access.load(s, ctx, image_id))

    def create_image(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        return run_in_transaction(self.db, lambda uow: images.view(images.create(uow, ctx, body)))

    def update_image(self, ctx: RequestContext, image_id: str, patch: Any) -> dict[str, Any]:
        return run_in_transaction(
            self.db, lambda uow: images.view(images.update(uow, ctx, image_id, patch))
        )

    def add_tag(self, ctx: RequestContext, image_id: str, tag: str) -> None:
        run_in_transaction(self.db, lambda uow: images.add_tag(uow, ctx, image_id, tag))

    def remove_tag(self, ctx: RequestContext, image_id: str, tag: str) -> None:
        run_in_transaction(self.db, lambda uow: images.remove_tag(uow, ctx, image_id, tag))

    def set_active(self, ctx: RequestContext, image_id: str, active: bool) -> None:
        run_in_transaction(self.db, lambda uow: images.set_active(uow, ctx, image_id, active))

    def start_upload(self, ctx: RequestContext, image_id: str, declared: int | None) -> Upload:
        """queued -> saving; the returned upload takes the bytes (see ``kumo.image.data``)."""
        return data.start_upload(self.db, self.settings, self.store, ctx, image_id, declared)

    def open_download(self, ctx: RequestContext, image_id: str) -> Download | None:
        return data.open_download(self.db, self.store, ctx, image_id)

    def delete_image(self, ctx: RequestContext, image_id: str) -> None:
        def work(uow: UnitOfWork) -> None:
            images.remove(uow, ctx, image_id)

        run_in_transaction(self.db, work)
        try:
            self.store.delete(image_id)
        except OSError as exc:  # the record is gone: the bytes are garbage, not an error
            log.error("image %s deleted but its data could not be removed: %s", image_id, exc)

    def list_members(self, ctx: RequestContext, image_id: str) -> list[dict[str, Any]]:
        with self.db.read_session() as s:
            return [members.view(m) for m in members.listing(s, ctx, image_id)]

    def show_member(self, ctx: RequestContext, image_id: str, member_id: str) -> dict[str, Any]:
        with self.db.read_session() as s:
            return members.view(members.show(s, ctx, image_id, member_id))

    def add_member(self, ctx: RequestContext, image_id: str, body: Any) -> dict[str, Any]:
        return run_in_transaction(
            self.db, lambda uow: members.view(members.add(uow, ctx, image_id, body))
        )

    def update_member(
        self, ctx: RequestContext, image_id: str, member_id: str, body: Any
    ) -> dict[str, Any]:
        return run_in_transaction(
            self.db,
            lambda uow: members.view(members.update(uow, ctx, image_id, member_id, body)),
        )

    def delete_member(self, ctx: RequestContext, image_id: str, member_id: str) -> None:
        def work(uow: UnitOfWork) -> None:
            members.remove(uow, ctx, image_id, member_id)

        run_in_transaction(self.db, work)
