"""Input checks for Neutron request bodies: one function per value type.

Every failure is an ``InvalidInput`` (400) whose message names the field
and says what is wrong, the way Neutron words it.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from kumo.errors import BadRequest, InvalidInput, shown

MAX_INT = 2**31 - 1
"""The largest integer a stored count takes (Neutron's DB_INTEGER_MAX_VALUE)."""
MAC_RE = re.compile(r"^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$")
UUID_RE = re.compile(
    r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$"
)


def member(body: Any, key: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("Body contains invalid data")
    if key not in body:
        raise BadRequest(f"Resource body required: missing '{key}'")
    value = body[key]
    if not isinstance(value, dict):
        raise BadRequest(f"Invalid format for '{key}': expected an object")
    return value


def known(body: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequest(f"Unrecognized attribute(s) '{', '.join(unknown)}'")


def string(body: dict[str, Any], key: str, max_len: int = 255) -> str:
    value = body[key]
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"'{shown(value)}' is not a valid string")
    if len(value) > max_len:
        raise InvalidInput(f"'{shown(value)}' exceeds maximum length of {max_len}")
    return value


def boolean(body: dict[str, Any], key: str) -> bool:
    return boolean_value(body[key])


def boolean_value(value: Any) -> bool:
    """Neutron's boolean spellings: true/false, 1/0 (any case), as JSON or query text."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise InvalidInput(f"'{shown(value)}' cannot be converted to boolean")


def integer(value: Any, field: str) -> int:
    if isinstance(value, bool):
        raise InvalidInput(f"'{shown(value)}' is not an integer")
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"'{shown(value)}' is not an integer for {field}") from exc


def uuid(value: Any, field: str) -> str:
    if not isinstance(value, str) or not UUID_RE.match(value):
        raise InvalidInput(f"'{shown(value)}' is not a valid UUID for {field}")
    return value


def ip(value: Any, field: str = "ip_address") -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"'{shown(value)}' is not a valid IP address")
    try:
        return str(ipaddress.ip_address(value))
    except ValueError as exc:
        raise InvalidInput(f"'{shown(value)}' is not a valid IP address") from exc


def ip_or_cidr(value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"'{shown(value)}' is not a valid IP address")
    try:
        if "/" in value:
            return str(ipaddress.ip_network(value, strict=False))
        return str(ipaddress.ip_address(value))
    except ValueError as exc:
        raise InvalidInput(f"'{shown(value)}' is not a valid IP address") from exc


def cidr(value: Any) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    if not isinstance(value, str) or "/" not in value:
        raise InvalidInput(f"'{shown(value)}' is not a valid IP subnet")
    try:
        net = ipaddress.ip_network(value, strict=False)
    except ValueError as exc:
        raise InvalidInput(f"'{shown(value)}' is not a valid IP subnet") from exc
    if net.network_address != ipaddress.ip_interface(value).ip:
        raise InvalidInput(
            f"'{shown(value)}' isn't a recognized IP subnet cidr, '{net}' is recommended"
        )
    return net


def mac(value: Any) -> str:
    if not isinstance(value, str) or not MAC_RE.match(value):
        raise InvalidInput(f"'{shown(value)}' is not a valid MAC address")
    lowered = value.lower()
    first = int(lowered[:2], 16)
    if lowered == "00:00:00:00:00:00" or first & 1:
        raise InvalidInput(f"'{shown(value)}' is not a valid MAC address")
    return lowered


def list_of(value: Any, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput(f"'{shown(value)}' is not a list for {field}")
    return value


def unique(items: list[Any], field: str) -> None:
    seen: list[Any] = []
    for item in items:
        if item in seen:
            raise InvalidInput(f"Duplicate items in the list: '{item}' in {field}")
        seen.append(item)
