"""``kumo keys list`` and ``kumo keys rotate``: the signing keys in the database.

Every API server on the database signs with the same keys and picks up a
rotation by itself within ``KUMO_KEY_REFRESH`` seconds (5 by default); no
restart. Listing shows fingerprints, never a key.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import DBAPIError

from kumo.config import Settings
from kumo.db.engine import Database
from kumo.identity import keys as keylib


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("keys", help="list or rotate the token signing keys")
    keys_sub = p.add_subparsers(dest="keys_command", metavar="ACTION", required=True)

    ls = keys_sub.add_parser("list", help="the keys of each purpose (no secret shown)")
    _database_options(ls)
    ls.set_defaults(func=cmd_list)

    rot = keys_sub.add_parser(
        "rotate", help="promote the staged key, stage a new one, drop the oldest"
    )
    rot.add_argument(
        "--purpose",
        choices=keylib.PURPOSES,
        action="append",
        help="token (identity tokens) or console (console URLs); default: both",
    )
    rot.add_argument(
        "--max-active-keys",
        type=int,
        default=None,
        metavar="N",
        help="keys kept per purpose (default KUMO_MAX_ACTIVE_KEYS or 3)",
    )
    _database_options(rot)
    rot.set_defaults(func=cmd_rotate)


def _database_options(p: argparse.ArgumentParser) -> None:
    where = p.add_mutually_exclusive_group()
    where.add_argument("--database-url", default=None, help="SQLAlchemy URL of the database")
    where.add_argument("--state-dir", default=None, help="state directory of a SQLite API server")


def _settings(args: argparse.Namespace) -> Settings:
    state_dir = Path(args.state_dir or os.environ.get("KUMO_STATE_DIR", "/var/lib/kumo"))
    url = args.database_url or os.environ.get("KUMO_DATABASE_URL") or None
    if args.state_dir:
        url = args.database_url
    return Settings(state_dir=state_dir.resolve(), database_url=url)


def _open(args: argparse.Namespace) -> tuple[Database, Settings]:
    settings = _settings(args)
    url = settings.resolved_database_url
    if settings.database_url is None and not (settings.state_dir / "kumo.db").exists():
        raise SystemExit(f"no database at {settings.state_dir / 'kumo.db'}")
    return Database(url), settings


def _table(infos: list[keylib.KeyInfo]) -> Table:
    table = Table(title="signing keys")
    for col in ("purpose", "serial", "state", "fingerprint", "created", "primary since"):
        table.add_column(col)
    for k in infos:
        table.add_row(
            k.purpose, str(k.serial), k.state, k.fingerprint,
            f"{k.created_at:%Y-%m-%dT%H:%M:%S}Z",
            f"{k.promoted_at:%Y-%m-%dT%H:%M:%S}Z" if k.promoted_at else "-",
        )  # fmt: skip
    return table


def cmd_list(args: argparse.Namespace) -> int:
    db, _ = _open(args)
    try:
        infos = keylib.describe(db)
    except DBAPIError as exc:
        raise SystemExit(f"cannot read the keys (has kumo serve run on it?): {exc.orig}") from exc
    finally:
        db.dispose()
    Console().print(_table(infos))
    return 0


def cmd_rotate(args: argparse.Namespace) -> int:
    db, settings = _open(args)
    purposes = tuple(dict.fromkeys(args.purpose or keylib.PURPOSES))
    max_active = args.max_active_keys or settings.max_active_keys
    if max_active < 2:
        raise SystemExit("--max-active-keys must be 2 or more (a staged and a primary key)")
    try:
        for purpose in purposes:
            keylib.rotate(db, purpose, max_active)
        infos = keylib.describe(db, purposes)
    except DBAPIError as exc:
        raise SystemExit(f"cannot rotate the keys (has kumo serve run on it?): {exc.orig}") from exc
    finally:
        db.dispose()
    Console().print(_table(infos))
    Console(stderr=True).print(
        f"rotated {', '.join(purposes)}: API servers sign with the new primary "
        f"within {settings.key_refresh_seconds:g} s"
    )
    return 0
