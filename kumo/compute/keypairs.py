"""Keypairs: import a public key or generate a pair (with ``cryptography``)."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.compute import quotas
from kumo.compute.common import body_member, ts
from kumo.compute.microversion import Version
from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.compute_models import KeyPair
from kumo.db.uow import UnitOfWork
from kumo.errors import BadRequest, Conflict, Forbidden, NotFound, shown
from kumo.policy import allowed

NAME_RE = re.compile(r"^[a-zA-Z0-9 _\-@.]{1,255}$")


def not_found(name: str, user_id: str) -> NotFound:
    return NotFound(f"Keypair {name} not found for user {user_id}", kind="KeypairNotFound")


def fingerprint(public_key: str) -> str:
    try:
        key = serialization.load_ssh_public_key(public_key.strip().encode())
        blob = base64.b64decode(public_key.split()[1])
    except (ValueError, IndexError, TypeError, Exception):  # noqa: BLE001
        raise BadRequest("Keypair data is invalid: failed to generate fingerprint") from None
    del key
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def generate() -> tuple[str, str]:
    """(private PEM, OpenSSH public key)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )
    return private, public + " Generated-by-kumo"


def _user(ctx: RequestContext, wanted: Any) -> str:
    if wanted is not None and not isinstance(wanted, str):
        raise BadRequest(f"Invalid input for field/attribute user_id. Value: {shown(wanted)}.")
    if wanted and wanted != ctx.user_id:
        if not allowed(ctx, "compute:keypairs:other_user"):
            raise Forbidden(
                "Policy doesn't allow os_compute_api:os-keypairs to be performed for another user."
            )
        return wanted
    return ctx.user_id


def load(session: Session, ctx: RequestContext, name: str, user_id: str | None = None) -> KeyPair:
    user = _user(ctx, user_id)
    kp = session.scalar(select(KeyPair).where(KeyPair.user_id == user, KeyPair.name == name))
    if kp is None:
        raise not_found(name, user)
    return kp


def create(
    uow: UnitOfWork, settings: Settings, ctx: RequestContext, body: Any, version: Version
) -> tuple[KeyPair, str | None]:
    data = body_member(body, "keypair")
    name = data.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name) or not name.strip():
        raise BadRequest(
            "Keypair data is invalid: Keypair name contains unsafe characters"
            if isinstance(name, str) and name
            else f"Invalid input for field/attribute name. Value: {name}."
        )
    kind = data.get("type", "ssh") if version.at_least("2.2") else "ssh"
    if kind not in ("ssh", "x509"):
        raise BadRequest(f"Invalid input for field/attribute type. Value: {kind}.")
    user = _user(ctx, data.get("user_id") if version.at_least("2.10") else None)
    s = uow.session
    used = quotas.usage(s, ctx.project_id or "", user)["key_pairs"]
    quotas.check(
        s,
        settings,
        ctx.project_id or "",
        "key_pairs",
        used,
        1,
        "Quota exceeded, too many key pairs.",
    )
    if s.scalar(select(KeyPair.id).where(KeyPair.user_id == user, KeyPair.name == name)):
        raise Conflict(f"Key pair '{name}' already exists.", kind="KeyPairExists")
    private: str | None = None
    public = data.get("public_key")
    if public is None:
        private, public = generate()
    elif not isinstance(public, str):
        raise BadRequest("Keypair data is invalid: failed to generate fingerprint")
    kp = KeyPair(
        user_id=user,
        name=name,
        type=kind,
        public_key=public.strip(),
        fingerprint=fingerprint(public),
    )
    s.add(kp)
    s.flush()
    return kp, private


def remove(uow: UnitOfWork, ctx: RequestContext, name: str, user_id: str | None) -> None:
    uow.session.delete(load(uow.session, ctx, name, user_id))


def listing(session: Session, ctx: RequestContext, user_id: str | None) -> list[KeyPair]:
    user = _user(ctx, user_id)
    return list(
        session.scalars(select(KeyPair).where(KeyPair.user_id == user).order_by(KeyPair.name))
    )


def view(
    kp: KeyPair, version: Version, *, full: bool = False, private: str | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": kp.name,
        "public_key": kp.public_key,
        "fingerprint": kp.fingerprint,
    }
    if version.at_least("2.2"):
        out["type"] = kp.type
    if full:
        out.update(
            {
                "user_id": kp.user_id,
                "id": kp.id,
                "created_at": ts(kp.created_at),
                "updated_at": None,
                "deleted": False,
                "deleted_at": None,
            }
        )
    if private is not None:
        out["private_key"] = private
        out["user_id"] = kp.user_id
    return out
