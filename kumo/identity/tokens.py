"""Fernet tokens: authenticated, encrypted, carrying who, what scope and until when.

Nothing about a token is stored; validation decrypts it and then checks
revocation events (kumo.db.identity_models.Revocation). The keys are the
database's ``token`` keys (``kumo/identity/keys.py``), shared by every API
server; console URLs are signed with other keys, so neither kind of token
passes for the other.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass

from cryptography.fernet import InvalidToken

from kumo.errors import Unauthorized
from kumo.identity.keys import KeyRing

AUTH_FAILED = "The request you have made requires authentication."


@dataclass(frozen=True)
class TokenPayload:
    user_id: str
    methods: tuple[str, ...]
    project_id: str | None
    domain_id: str | None
    system: bool
    issued_at: float
    expires_at: float
    audit_id: str
    parent_audit_id: str | None = None


class TokenCodec:
    def __init__(self, keys: KeyRing) -> None:
        self.keys = keys

    def issue(
        self,
        user_id: str,
        methods: tuple[str, ...],
        *,
        project_id: str | None,
        domain_id: str | None,
        system: bool,
        ttl: float,
        expires_at: float | None = None,
        parent_audit_id: str | None = None,
    ) -> tuple[str, TokenPayload]:
        now = time.time()
        payload = TokenPayload(
            user_id=user_id,
            methods=methods,
            project_id=project_id,
            domain_id=domain_id,
            system=system,
            issued_at=now,
            expires_at=min(expires_at, now + ttl) if expires_at else now + ttl,
            audit_id=secrets.token_urlsafe(16),
            parent_audit_id=parent_audit_id,
        )
        raw = json.dumps(
            [
                payload.user_id,
                list(payload.methods),
                payload.project_id,
                payload.domain_id,
                payload.system,
                payload.issued_at,
                payload.expires_at,
                payload.audit_id,
                payload.parent_audit_id,
            ],
            separators=(",", ":"),
        ).encode()
        return self.keys.encrypt(raw), payload

    def decode(self, token: str) -> TokenPayload:
        """The payload of a valid, unexpired token; Unauthorized for anything else
        (a forged or foreign token, or one of another kind such as a console URL's)."""
        try:
            fields = json.loads(self.keys.decrypt(token))
            if not isinstance(fields, list) or len(fields) != 9:
                raise ValueError("not an identity token")
            payload = TokenPayload(
                user_id=str(fields[0]),
                methods=tuple(str(m) for m in fields[1]),
                project_id=fields[2],
                domain_id=fields[3],
                system=bool(fields[4]),
                issued_at=float(fields[5]),
                expires_at=float(fields[6]),
                audit_id=str(fields[7]),
                parent_audit_id=fields[8],
            )
        except (InvalidToken, ValueError, IndexError, TypeError, KeyError) as exc:
            raise Unauthorized(AUTH_FAILED) from exc
        if payload.expires_at <= time.time():
            raise Unauthorized(AUTH_FAILED)
        return payload
