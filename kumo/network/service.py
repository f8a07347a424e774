"""Placeholder until the network service lands."""

from __future__ import annotations

from kumo.config import Settings
from kumo.db.engine import Database


class NetworkService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
