"""The cluster key that agents seal HA beats and state sync with.

Made once (32 random bytes) the first time it is asked for and kept in the
database (table ``cluster_keys``), so every API server hands out the same
key. Two servers making it at once both insert the same row: the loser's
transaction fails on the primary key and, run again, reads the winner's.
There is no rotation: a new key (the row deleted) reaches each agent when
it restarts, and until all have restarted the hosts on different keys
drop each other's beats (see docs/SECURITY.md, "Underlay messages").

A second secret, made the same way (row ``console-channel``), derives each
host's console endpoint key (``kumo.agent.console_credential.host_key``);
it never leaves the API servers, agents get their own host's key only.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from kumo.db.cluster_key_models import ClusterKey
from kumo.db.engine import Database
from kumo.db.uow import UnitOfWork, run_in_transaction

NAME = "underlay"
CONSOLE_CHANNEL = "console-channel"
SIZE = 32


@dataclass(frozen=True, repr=False)
class Key:
    secret: bytes
    created_at: dt.datetime


def underlay_key(db: Database) -> Key:
    """The cluster key, made now if there is none yet."""
    return _key(db, NAME)


def console_channel_key(db: Database) -> Key:
    """The secret host console endpoint keys derive from, made now if there is none yet."""
    return _key(db, CONSOLE_CHANNEL)


def _key(db: Database, name: str) -> Key:
    with db.read_session() as s:
        row = s.get(ClusterKey, name)
        if row is not None:
            return Key(row.secret, row.created_at)

    def make(uow: UnitOfWork) -> Key:
        row = uow.session.get(ClusterKey, name)
        if row is None:
            row = ClusterKey(name=name, secret=secrets.token_bytes(SIZE))
            uow.session.add(row)
            uow.session.flush()
        return Key(row.secret, row.created_at)

    return run_in_transaction(db, make)
