"""Placeholder until the identity service lands."""

from __future__ import annotations

from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.engine import Database
from kumo.errors import Unauthorized


class IdentityService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def validate_token(self, token: str) -> RequestContext:
        raise Unauthorized("The request you have made requires authentication.")

    def bootstrap(self, admin_password: str | None = None) -> str:
        raise NotImplementedError
