"""The policy table covers every route, and the security document prints it."""

from __future__ import annotations

import types
from pathlib import Path

from fastapi.routing import APIRoute

from kumo.api.app import create_app
from kumo.api.auth import authenticate
from kumo.api.policy_gate import routes
from kumo.policy import RULES
from kumo.policy.checks import Public
from kumo.policy.docs import BEGIN, END, render
from kumo.policy.table import OPERATIONS

ROOT = Path(__file__).resolve().parents[2]


def _app():  # type: ignore[no-untyped-def]
    return create_app(types.SimpleNamespace())  # type: ignore[arg-type]


def _depends_on(route: APIRoute, fn: object) -> bool:
    todo = [route.dependant]
    while todo:
        d = todo.pop()
        if d.call is fn:
            return True
        todo.extend(d.dependencies)
    return False


def test_every_route_has_a_rule() -> None:
    missing = [f"{m} {p}" for m, p, route in routes(_app()) if route.policy_rules.get(m) is None]
    assert missing == [], f"routes without a policy rule: {missing}"


def test_every_rule_guards_a_route_that_exists() -> None:
    served = {f"{m} {p}" for m, p, _ in routes(_app())}
    stale = sorted(op for op in OPERATIONS if op not in served)
    assert stale == [], f"rules name routes the API does not serve: {stale}"


def test_routes_that_need_a_token_authenticate() -> None:
    """Only rules that admit anyone may skip authentication: every other
    route runs ``authenticate``, which is where the rule is checked."""
    unguarded = []
    for m, p, route in routes(_app()):
        rule = route.policy_rules[m]
        if isinstance(rule.check, Public) or not isinstance(route, APIRoute):
            continue
        if not _depends_on(route, authenticate):
            unguarded.append(f"{m} {p}")
    assert unguarded == []


def test_readers_never_write() -> None:
    """Every rule guarding a write admits no caller whose only role is reader."""
    from kumo.context import RequestContext

    reader = RequestContext(user_id="u", project_id="p", roles=frozenset({"reader"}))
    writers = [
        r.name
        for r in RULES.values()
        if any(op.split()[0] in ("POST", "PUT", "PATCH", "DELETE") for op in r.operations)
        and r.check.possible(reader)
        and r.name not in ("identity:issue_token", "identity:validate_token",
                           "identity:update_user", "identity:change_password", "compute:keypairs",
                           "dashboard:login", "dashboard:session")
    ]  # fmt: skip
    assert writers == []


def test_security_document_prints_the_table() -> None:
    doc = (ROOT / "docs" / "SECURITY.md").read_text()
    start, end = doc.index(BEGIN), doc.index(END) + len(END)
    assert doc[start:end] == render(), "docs/SECURITY.md is stale: python -m kumo.policy.docs"
