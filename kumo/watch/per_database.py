"""One object per database in this process (the list caches' registry)."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

from kumo.db.engine import Database

T = TypeVar("T")


class PerDatabase(Generic[T]):
    """``of(db)``: this process's object for ``db``, made by ``make`` on first
    use and dropped with the database."""

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._by_db: weakref.WeakKeyDictionary[Database, T] = weakref.WeakKeyDictionary()

    def __call__(self, db: Database) -> T:
        found = self._by_db.get(db)
        if found is None:
            found = self._by_db.setdefault(db, self._make())
        return found
