"""Which built-in rows a database has been given."""

from __future__ import annotations

from sqlalchemy import String
from sqlalchemy.orm import Mapped, Session, mapped_column

from kumo.db.base import Base


class Seed(Base):
    """Built-in rows written once per database (``name``), so that an
    operator's later deletion of them sticks across restarts."""

    __tablename__ = "seeds"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)


def first_time(session: Session, name: str) -> bool:
    """Whether ``name``'s rows are still to be written; records that they are
    (in the caller's transaction: a racing second writer fails its flush)."""
    if session.get(Seed, name) is not None:
        return False
    session.add(Seed(name=name))
    session.flush()
    return True
