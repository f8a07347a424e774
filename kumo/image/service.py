"""ImageService: the facade the image API calls."""

from __future__ import annotations

from typing import Any

from kumo.context import RequestContext
from kumo.db.engine import Database
from kumo.db.uow import UnitOfWork, run_in_transaction
from kumo.image import images


class ImageService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def bootstrap(self) -> None:
        run_in_transaction(self.db, lambda uow: images.ensure_defaults(uow.session))

    def list_images(self, ctx: RequestContext, params: dict[str, str]) -> list[dict[str, Any]]:
        with self.db.read_session() as s:
            return [images.view(i) for i in images.listing(s, ctx, params)]

    def show_image(self, ctx: RequestContext, image_id: str) -> dict[str, Any]:
        with self.db.read_session() as s:
            return images.view(images.load(s, ctx, image_id))

    def create_image(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        return run_in_transaction(self.db, lambda uow: images.view(images.create(uow, ctx, body)))

    def update_image(self, ctx: RequestContext, image_id: str, patch: Any) -> dict[str, Any]:
        return run_in_transaction(
            self.db, lambda uow: images.view(images.update(uow, ctx, image_id, patch))
        )

    def upload(self, ctx: RequestContext, image_id: str, data: bytes) -> None:
        run_in_transaction(self.db, lambda uow: images.upload(uow, ctx, image_id, data))

    def delete_image(self, ctx: RequestContext, image_id: str) -> None:
        def work(uow: UnitOfWork) -> None:
            images.remove(uow, ctx, image_id)

        run_in_transaction(self.db, work)
