"""Asking the table: at the API's door (by route) and in the service layer (by target)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kumo.context import RequestContext
from kumo.errors import Forbidden
from kumo.policy.rules import Rule
from kumo.policy.table import OPERATIONS, RULES

VOLUME_PREFIXES = (
    "volume:", "volume_extension:", "group:", "message:", "limits_extension:",
    "scheduler_extension:",
)  # fmt: skip


def refusal(name: str) -> Forbidden:
    """The 403 each API words its own way."""
    if name.startswith("identity:"):
        return Forbidden(f"You are not authorized to perform the requested action: {name}.")
    if name.startswith(VOLUME_PREFIXES) or name.startswith(("compute:", "image:")):
        return Forbidden(f"Policy doesn't allow {name} to be performed.")
    return Forbidden(f"(rule:{name.split(':', 1)[1]}) is disallowed by policy")


def allowed(ctx: RequestContext | None, name: str, target: Mapping[str, Any] | None = None) -> bool:
    return RULES[name].check.allows(ctx, target or {})


def authorize(ctx: RequestContext, name: str, target: Mapping[str, Any] | None = None) -> None:
    """Raise the API's 403 unless the rule ``name`` lets ``ctx`` act on ``target``."""
    if not RULES[name].check.allows(ctx, target or {}):
        raise refusal(name)


def unrestricted(ctx: RequestContext | None, name: str) -> bool:
    """Does rule ``name`` admit the caller for anybody's objects (its roles alone
    pass, as an admin's do)? Lists use it to skip the per-project filter."""
    return RULES[name].check.allows(ctx, {})


def for_route(method: str, path: str) -> Rule | None:
    """The rule guarding ``METHOD /full/path/{template}``, or None."""
    return OPERATIONS.get(f"{method} {path}")


def admit(ctx: RequestContext | None, rule: Rule | None) -> None:
    """The door check: could the caller pass ``rule`` for any target at all?

    A route without a rule admits nobody (the table is the only list of
    what may be done).
    """
    if rule is None:
        raise Forbidden("This operation has no policy rule: nobody may perform it.")
    if not rule.check.possible(ctx):
        raise refusal(rule.name)
