"""What a route checks around its policy door.

The door (``kumo.policy.admit``, run by ``authenticate``) refuses a caller
whose roles could not pass the route's rule whatever the target. Neutron
answers some requests differently before that refusal, and a route says
how with two lists of checks, kept on its endpoint function:

- ``before``: run for every authenticated caller before the door: the
  request body's attribute checks (a malformed body is 400 whoever sends
  it, as Neutron validates bodies before it enforces policy);
- ``on_refusal``: run when the door refuses a rule whose refusals are
  hidden as 404: a lookup of the object as the caller sees it, which
  raises 404 when the caller cannot see it (the 403 would tell it the
  object exists).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request

from kumo.context import RequestContext
from kumo.errors import Forbidden, NotFound

Check = Callable[[Request, RequestContext], Awaitable[None]]

BEFORE = "kumo_door_before"
ON_REFUSAL = "kumo_door_on_refusal"


def add(endpoint: Callable[..., Any], where: str, check: Check) -> None:
    """Give ``endpoint`` one more check to run ``where`` (BEFORE or ON_REFUSAL)."""
    checks: tuple[Check, ...] = getattr(endpoint, where, ())
    if check not in checks:
        setattr(endpoint, where, (*checks, check))


def hidden(find: Callable[[], Any]) -> None:
    """Run a lookup for an ON_REFUSAL check: its 404 stands, and a caller it
    refuses (one that may not read the object) gets 404 too, as in Neutron."""
    try:
        find()
    except Forbidden:
        raise NotFound("The resource could not be found.") from None


def checks(route: Any, where: str) -> tuple[Check, ...]:
    found: tuple[Check, ...] = getattr(getattr(route, "endpoint", None), where, ())
    return found
