"""Fernet tokens: authenticated, encrypted, carrying who, what scope and until when.

Nothing about a token is stored; validation decrypts it and then checks
revocation events (kumo.db.identity_models.Revocation).
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from kumo.errors import Unauthorized


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


def load_key(state_dir: Path) -> bytes:
    """The key from KUMO_FERNET_KEY, or ``state_dir/fernet.key`` (created 0600)."""
    env = os.environ.get("KUMO_FERNET_KEY")
    if env:
        return env.encode()
    path = state_dir / "fernet.key"
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        key = Fernet.generate_key()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
    return path.read_bytes().strip()


class TokenCodec:
    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

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
        return self._fernet.encrypt(raw).decode(), payload

    def decode(self, token: str) -> TokenPayload:
        try:
            raw = self._fernet.decrypt(token.encode())
            fields = json.loads(raw)
            payload = TokenPayload(
                user_id=fields[0],
                methods=tuple(fields[1]),
                project_id=fields[2],
                domain_id=fields[3],
                system=bool(fields[4]),
                issued_at=float(fields[5]),
                expires_at=float(fields[6]),
                audit_id=fields[7],
                parent_audit_id=fields[8],
            )
        except (InvalidToken, ValueError, IndexError, TypeError) as exc:
            raise Unauthorized("The request you have made requires authentication.") from exc
        if payload.expires_at <= time.time():
            raise Unauthorized("The request you have made requires authentication.")
        return payload
