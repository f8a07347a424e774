"""Signing keys in the database: one Fernet key repository per purpose.

Every API server on a database signs and checks with the same keys, so a
token issued by one is accepted by all. A purpose (``token`` for identity
tokens, ``console`` for console URLs) has its own keys, so a token of one
kind never opens the other.

The repository works like Keystone's Fernet key repository: serial 0 is
the *staged* key, the highest serial the *primary*, the ones between
*secondaries*. Tokens are signed with the primary and accepted with any
key. ``rotate`` promotes the staged key to primary (so every server
already accepts tokens signed with it before any server signs with it),
makes the old primary a secondary, stages a new key and drops the oldest
secondaries beyond ``max_active`` keys in all.

``KeyRing`` is one process's view of a purpose: loaded once, reloaded when
older than ``max_age`` seconds, and at once (but at most every
``min_reload`` seconds) when a token fails to verify, which is how a
server meets a key another server's rotation promoted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import delete, select, text, update
from sqlalchemy.orm import Session

from kumo.db.engine import Database
from kumo.db.identity_models import SigningKey
from kumo.db.uow import Retry, UnitOfWork, run_in_transaction

PURPOSES = ("token", "console")
STAGED = 0


@dataclass(frozen=True)
class KeyInfo:
    """What ``kumo keys list`` shows of a key: never the key itself."""

    purpose: str
    serial: int
    state: str
    """``staged``, ``primary`` or ``secondary``."""
    fingerprint: str
    """The first 12 hex digits of the key's SHA-256, to compare keys by eye."""
    created_at: dt.datetime
    promoted_at: dt.datetime | None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _check_purpose(purpose: str) -> None:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown key purpose {purpose!r} (one of {', '.join(PURPOSES)})")


def _keys(s: Session, purpose: str) -> list[tuple[int, int, str]]:
    """(id, serial, key) of a purpose, by serial."""
    rows = s.execute(
        select(SigningKey.id, SigningKey.serial, SigningKey.key)
        .where(SigningKey.purpose == purpose)
        .order_by(SigningKey.serial)
    ).all()
    return [(int(i), int(n), str(k)) for i, n, k in rows]


def _create(s: Session, purpose: str) -> None:
    """A new repository: a staged key (0) and a primary (1)."""
    now = _now()
    s.add(SigningKey(purpose=purpose, serial=STAGED, key=Fernet.generate_key().decode()))
    s.add(
        SigningKey(purpose=purpose, serial=1, key=Fernet.generate_key().decode(), promoted_at=now)
    )
    s.flush()


def ensure(db: Database, purpose: str) -> bool:
    """Create the purpose's keys unless they exist; True when this call made them.

    Two servers that start at once both try; the unique (purpose, serial)
    pair lets one insert, the other runs again and finds its keys.
    """
    _check_purpose(purpose)

    def work(uow: UnitOfWork) -> bool:
        if _keys(uow.session, purpose):
            return False
        _create(uow.session, purpose)
        return True

    return run_in_transaction(db, work)


def rotate(db: Database, purpose: str, max_active: int) -> None:
    """Promote the staged key, stage a new one, keep at most ``max_active`` keys."""
    _check_purpose(purpose)
    if max_active < 2:
        raise ValueError("max_active must be at least 2 (a staged and a primary key)")

    def work(uow: UnitOfWork) -> None:
        s = uow.session
        if not db.is_sqlite:  # one rotation at a time per database
            s.execute(text("SELECT pg_advisory_xact_lock(4242003)"))
        keys = _keys(s, purpose)
        if not keys:
            _create(s, purpose)
            return
        top = keys[-1][1]
        older = [(i, n) for i, n, _ in keys if n != STAGED]
        if keys[0][1] == STAGED:
            moved = s.execute(
                update(SigningKey)
                .where(SigningKey.id == keys[0][0], SigningKey.serial == STAGED)
                .values(serial=top + 1, promoted_at=_now())
                .execution_options(synchronize_session=False)
            )
            if getattr(moved, "rowcount", 0) != 1:
                raise Retry()
        else:  # no staged key (removed by hand): promote a fresh one
            s.add(
                SigningKey(
                    purpose=purpose,
                    serial=top + 1,
                    key=Fernet.generate_key().decode(),
                    promoted_at=_now(),
                )
            )
        s.add(SigningKey(purpose=purpose, serial=STAGED, key=Fernet.generate_key().decode()))
        s.flush()
        # ``older`` are the secondaries now (the old primary among them), oldest first.
        excess = len(older) + 2 - max_active
        if excess > 0:
            doomed = [i for i, _ in older[:excess]]
            s.execute(
                delete(SigningKey)
                .where(SigningKey.id.in_(doomed))
                .execution_options(synchronize_session=False)
            )

    run_in_transaction(db, work)


def describe(db: Database, purposes: Sequence[str] = PURPOSES) -> list[KeyInfo]:
    """Every key of these purposes, newest first within a purpose."""
    out: list[KeyInfo] = []
    with db.read_session() as s:
        for purpose in purposes:
            _check_purpose(purpose)
            rows = list(
                s.scalars(
                    select(SigningKey)
                    .where(SigningKey.purpose == purpose)
                    .order_by(SigningKey.serial.desc())
                )
            )
            top = rows[0].serial if rows else 0
            for row in rows:
                state = "staged" if row.serial == STAGED else "secondary"
                if row.serial == top and row.serial != STAGED:
                    state = "primary"
                out.append(
                    KeyInfo(
                        purpose=purpose,
                        serial=row.serial,
                        state=state,
                        fingerprint=hashlib.sha256(row.key.encode()).hexdigest()[:12],
                        created_at=row.created_at,
                        promoted_at=row.promoted_at,
                    )
                )
    # staged last within a purpose, as Keystone lists 0 last
    out.sort(key=lambda k: (PURPOSES.index(k.purpose), k.serial == STAGED, -k.serial))
    return out


@dataclass(frozen=True)
class _Loaded:
    fernet: MultiFernet
    keys: frozenset[str]
    at: float


class KeyRing:
    """One purpose's keys as this process knows them (see the module docstring)."""

    def __init__(
        self, db: Database, purpose: str, *, max_age: float = 5.0, min_reload: float = 1.0
    ) -> None:
        _check_purpose(purpose)
        self.db = db
        self.purpose = purpose
        self.max_age = max_age
        self.min_reload = min_reload
        self._loaded: _Loaded | None = None
        self._lock = threading.Lock()
        self.generation = 0
        """Goes up whenever a reload finds a key gone (pruned by a rotation):
        whatever was verified with the old keys must be verified again."""

    def _read(self) -> list[str]:
        """The keys, primary first, then the secondaries (newest first), then the staged."""
        with self.db.read_session() as s:
            keys = _keys(s, self.purpose)
        if not keys:
            ensure(self.db, self.purpose)
            with self.db.read_session() as s:
                keys = _keys(s, self.purpose)
        ordered = sorted(keys, key=lambda k: (k[1] == STAGED, -k[1]))
        return [k for _, _, k in ordered]

    def reload(self) -> _Loaded:
        with self._lock:
            keys = self._read()
            loaded = _Loaded(
                MultiFernet([Fernet(k) for k in keys]), frozenset(keys), time.monotonic()
            )
            if self._loaded is not None and not self._loaded.keys <= loaded.keys:
                self.generation += 1
            self._loaded = loaded
            return loaded

    def _current(self) -> _Loaded:
        loaded = self._loaded
        if loaded is None or time.monotonic() - loaded.at > self.max_age:
            return self.reload()
        return loaded

    def fresh(self) -> bool:
        """Whether the keys in memory are recent enough to trust without a read."""
        loaded = self._loaded
        return loaded is not None and time.monotonic() - loaded.at <= self.max_age

    def current_generation(self) -> int:
        """``generation`` after reading the keys again if they are stale."""
        self._current()
        return self.generation

    def encrypt(self, data: bytes) -> str:
        """Signed (and encrypted) with the primary key."""
        return self._current().fernet.encrypt(data).decode()

    def decrypt(self, token: str, *, ttl: int | None = None) -> bytes:
        """The data of a token signed with any key; InvalidToken otherwise."""
        loaded = self._current()
        raw = token.encode()
        try:
            return loaded.fernet.decrypt(raw, ttl=ttl)
        except InvalidToken:
            if time.monotonic() - loaded.at < self.min_reload:
                raise
        return self.reload().fernet.decrypt(raw, ttl=ttl)
