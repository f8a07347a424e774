"""RBAC policy rows: one project's grant of an action on one of its objects
to another project (or to every project, ``*``)."""

from __future__ import annotations

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from kumo.db.base import Base, new_uuid


class RbacPolicy(Base):
    """``object_type`` is ``network`` or ``security_group`` (or any other
    shareable type); ``target_project`` a project id or ``*``. The object's
    own row keeps no back reference: deleting it deletes its grants."""

    __tablename__ = "rbac_policies"
    __table_args__ = (
        UniqueConstraint("object_type", "object_id", "action", "target_project"),
        Index("ix_rbac_policies_target", "object_type", "target_project"),
    )
    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_uuid)
    project_id: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(36), index=True)
    action: Mapped[str] = mapped_column(String(32))
    target_project: Mapped[str] = mapped_column(String(64))
