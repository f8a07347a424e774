"""Objects of a list with their JSON, made once.

A host's list is mostly ports whose views the server already holds
(``kumo.watch.port_views``), and its answer is mostly their JSON: each
view keeps its JSON, and a port's list object (``{"kind": "port",
**view, ...}`` with the parts of its watch body the list adds) is written
from it and from those parts alone. ``answer`` makes the same bytes as
``kumo.api.render.json_response`` would of the same dicts.
"""

from __future__ import annotations

import json
from typing import Any

_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)


def dumps(value: Any) -> bytes:
    """The JSON of ``value`` as ``json_response`` writes it."""
    return _ENCODER.encode(value).encode()


class Encoded(dict[str, Any]):
    """A list's object with its JSON (``json``); never changed."""

    __slots__ = ("json",)

    def __init__(self, body: dict[str, Any], encoded: bytes) -> None:
        super().__init__(body)
        self.json = encoded


def inner(view: dict[str, Any]) -> bytes:
    """The JSON of ``view`` without its braces (``view`` is not empty)."""
    return dumps(view)[1:-1]


def port(view: dict[str, Any], view_json: bytes, added: dict[str, Any]) -> Encoded:
    """The list object ``{"kind": "port", **view, **added}``, where
    ``view_json`` is the ``inner`` JSON of ``view``."""
    parts = [b'{"kind":"port",', view_json]
    for key, value in added.items():
        parts += [b",", dumps(key), b":", dumps(value)]
    parts.append(b"}")
    return Encoded({"kind": "port", **view, **added}, b"".join(parts))


def answer(body: dict[str, Any]) -> bytes:
    """``json_response(body)``'s bytes, the list ``objects`` written from
    the JSON each ``Encoded`` object holds."""
    parts = []
    for key, value in body.items():
        if key == "objects":
            objects = b",".join(o.json if isinstance(o, Encoded) else dumps(o) for o in value)
            parts.append(dumps(key) + b":[" + objects + b"]")
        else:
            parts.append(dumps(key) + b":" + dumps(value))
    return b"{" + b",".join(parts) + b"}"
