"""The watch feed's ``image`` events: an image made, changed (its status,
name, visibility...) or deleted.

No host acts on images (an agent downloads one when it boots a server
from it), so they go to no topic: only whole-feed readers see them (the
dashboard's event stream, which tells a project's open Images page to
read its list again). The body is what such a reader needs to decide who
may care: the owner and the visibility.
"""

from __future__ import annotations

from kumo.db.compute_models import Image
from kumo.db.uow import UnitOfWork

KIND = "image"


def image_changed(uow: UnitOfWork, image: Image, *, deleted: bool = False) -> None:
    body = {
        "id": image.id,
        "project_id": image.owner,
        "visibility": image.visibility,
        "status": image.status,
    }
    uow.emit(KIND, "delete" if deleted else "upsert", image.id, (), body)
