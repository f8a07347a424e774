"""Tags on networking resources (the ``standard-attr-tag`` extension)."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from kumo.db.network_models import Tag
from kumo.errors import InvalidInput

MAX_TAG_LENGTH = 255


def tags_for(session: Session, resource_ids: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if not resource_ids:
        return out
    if len(resource_ids) > 500:
        rows = session.execute(select(Tag.resource_id, Tag.tag)).all()
        wanted = set(resource_ids)
        rows = [r for r in rows if r[0] in wanted]
    else:
        rows = list(
            session.execute(
                select(Tag.resource_id, Tag.tag).where(Tag.resource_id.in_(resource_ids))
            )
        )
    for rid, tag in rows:
        out.setdefault(rid, []).append(tag)
    for tags in out.values():
        tags.sort()
    return out


def check_tag(tag: object) -> str:
    if not isinstance(tag, str) or not tag or len(tag) > MAX_TAG_LENGTH or "," in tag:
        raise InvalidInput(f"'{tag}' is not a valid tag")
    return tag


def replace(session: Session, resource_type: str, resource_id: str, tags: list[str]) -> None:
    delete_tags(session, resource_id)
    for tag in dict.fromkeys(tags):
        session.add(Tag(resource_type=resource_type, resource_id=resource_id, tag=tag))


def add(session: Session, resource_type: str, resource_id: str, tag: str) -> None:
    if tag not in tags_for(session, [resource_id]).get(resource_id, []):
        session.add(Tag(resource_type=resource_type, resource_id=resource_id, tag=tag))


def remove(session: Session, resource_id: str, tag: str) -> int:
    result = session.execute(delete(Tag).where(Tag.resource_id == resource_id, Tag.tag == tag))
    return int(getattr(result, "rowcount", 0) or 0)


def delete_tags(session: Session, resource_id: str) -> None:
    session.execute(delete(Tag).where(Tag.resource_id == resource_id))


def on_create(
    session: Session, resource_type: str, resource_id: str, body: dict[str, object]
) -> None:
    """``tags`` in a create body (tag-creation): the new resource's tags."""
    if "tags" not in body:
        return
    tags = body["tags"]
    if not isinstance(tags, list):
        raise InvalidInput(f"'{tags}' is not a list")
    replace(session, resource_type, resource_id, [check_tag(t) for t in tags])
