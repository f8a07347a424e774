"""The small language the policy table is written in.

A check answers "may this caller do this to this target?". Checks
compose with ``|`` and ``&`` and print as the rule text the security
document shows (``role:admin or (role:member and project_id:%(project_id)s)``).

Two ways to ask:

- ``allows(ctx, target)``: the whole check, with the target's attributes
  (its ``project_id``, the owner of the network a port is on, ...).
- ``possible(ctx)``: could the check pass for *some* target, judging by the
  caller's roles alone. The API asks this before a request reaches the
  service layer, so a reader is refused any write whatever it names; the
  service layer then asks ``allows`` with the real target.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kumo.context import RequestContext
from kumo.identity.roles import IMPLIED, expand

Target = Mapping[str, Any]


class Check:
    def allows(self, ctx: RequestContext | None, target: Target) -> bool:
        raise NotImplementedError

    def possible(self, ctx: RequestContext | None) -> bool:
        raise NotImplementedError

    def text(self, nested: bool = False) -> str:
        raise NotImplementedError

    def __or__(self, other: Check) -> Check:
        return AnyOf((*_parts(self, AnyOf), *_parts(other, AnyOf)))

    def __and__(self, other: Check) -> Check:
        return AllOf((*_parts(self, AllOf), *_parts(other, AllOf)))

    def __str__(self) -> str:
        return self.text()


def _parts(check: Check, kind: type) -> tuple[Check, ...]:
    if isinstance(check, kind):
        parts: tuple[Check, ...] = check.parts  # type: ignore[attr-defined]
        return parts
    return (check,)


@dataclass(frozen=True)
class AnyOf(Check):
    parts: tuple[Check, ...]

    # Loops rather than any()/all() over a generator: every request runs a few
    # of these, list views one per row, and the generator costs more than the test.
    def allows(self, ctx: RequestContext | None, target: Target) -> bool:
        for p in self.parts:  # noqa: SIM110
            if p.allows(ctx, target):
                return True
        return False

    def possible(self, ctx: RequestContext | None) -> bool:
        for p in self.parts:  # noqa: SIM110
            if p.possible(ctx):
                return True
        return False

    def text(self, nested: bool = False) -> str:
        inner = " or ".join(p.text(True) for p in self.parts)
        return f"({inner})" if nested else inner


@dataclass(frozen=True)
class AllOf(Check):
    parts: tuple[Check, ...]

    def allows(self, ctx: RequestContext | None, target: Target) -> bool:
        for p in self.parts:  # noqa: SIM110
            if not p.allows(ctx, target):
                return False
        return True

    def possible(self, ctx: RequestContext | None) -> bool:
        for p in self.parts:  # noqa: SIM110
            if not p.possible(ctx):
                return False
        return True

    def text(self, nested: bool = False) -> str:
        inner = " and ".join(p.text(True) for p in self.parts)
        return f"({inner})" if nested else inner


@dataclass(frozen=True)
class Public(Check):
    """No credentials needed (version documents, asking for a token)."""

    def allows(self, ctx: RequestContext | None, target: Target) -> bool:
        return True

    def possible(self, ctx: RequestContext | None) -> bool:
        return True

    def text(self, nested: bool = False) -> str:
        return "@ (anyone, no token)"


class OwnCredential(Public):
    """No Keystone token: the request carries a credential of its own that the
    service checks (a wait condition handle's token). No Keystone caller could
    pass it, so it never counts as a reader's write."""

    def __init__(self, what: str) -> None:
        self.what = what

    def possible(self, ctx: RequestContext | None) -> bool:
        return ctx is None

    def text(self, nested: bool = False) -> str:
        return f"@ (no token: {self.what})"


@dataclass(frozen=True)
class Authenticated(Check):
    """Any valid token, whatever its roles."""

    def allows(self, ctx: RequestContext | None, target: Target) -> bool:
        return ctx is not None

    def possible(self, ctx: RequestContext | None) -> bool:
        return ctx is not None

    def text(self, nested: bool = False) -> str:
        return "authenticated"


def _holders(role: str) -> frozenset[str]:
    """Every role that is or implies ``role`` (Keystone's inference rules)."""
    return frozenset(r for r in (*IMPLIED, role) if role in expand({r}))


@dataclass(frozen=True)
class Role(Check):
    """The caller holds this role, or one that implies it (admin > member > reader)."""

    name: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "_holders", _holders(self.name))

    def allows(self, ctx: RequestContext | None, target: Target) -> bool:
        holders: frozenset[str] = self._holders  # type: ignore[attr-defined]
        return ctx is not None and not holders.isdisjoint(ctx.roles)

    def possible(self, ctx: RequestContext | None) -> bool:
        return self.allows(ctx, {})

    def text(self, nested: bool = False) -> str:
        return f"role:{self.name}"


@dataclass(frozen=True)
class Attribute(Check):
    """A fact about the target compared with the caller (ownership, sharing).

    ``possible`` is true for any authenticated caller: only the target can
    tell, so the service layer decides.
    """

    label: str
    test: Callable[[RequestContext, Target], bool]

    def allows(self, ctx: RequestContext | None, target: Target) -> bool:
        return ctx is not None and self.test(ctx, target)

    def possible(self, ctx: RequestContext | None) -> bool:
        return ctx is not None

    def text(self, nested: bool = False) -> str:
        return self.label


def _same_project(key: str) -> Callable[[RequestContext, Target], bool]:
    def test(ctx: RequestContext, target: Target) -> bool:
        value = target.get(key)
        return value is not None and ctx.project_id is not None and value == ctx.project_id

    return test


def project_of(key: str = "project_id") -> Attribute:
    """The target's ``key`` attribute names the caller's project."""
    return Attribute(f"project_id:%({key})s", _same_project(key))


def flag(key: str) -> Attribute:
    """The target's boolean attribute ``key`` is true (``shared``, ``public``)."""
    return Attribute(f"{key}:True", lambda _ctx, t: bool(t.get(key)))


def same_user(key: str = "user_id") -> Attribute:
    """The target is the caller itself (its own user, its own token)."""
    return Attribute(
        f"user_id:%({key})s", lambda ctx, t: t.get(key) is not None and t.get(key) == ctx.user_id
    )


def in_domain(key: str = "domain_id") -> Attribute:
    """The target is the domain of the caller's project (or of its domain scope)."""
    return Attribute(
        f"domain_id:%({key})s",
        lambda ctx, t: (
            t.get(key) is not None and t.get(key) in (ctx.project_domain_id, ctx.domain_id)
        ),
    )


def same_host(key: str = "host") -> Attribute:
    """The target is bound to the host the calling agent speaks for."""
    return Attribute(
        f"host:%({key})s",
        lambda ctx, t: ctx.agent_host is not None and t.get(key) == ctx.agent_host,
    )
