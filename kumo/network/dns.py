"""DNS integration: ``dns_name`` (ports, floating IPs), ``dns_domain``
(networks, floating IPs) and a port's ``dns_assignment``. Pure.

A ``dns_name`` is one host name label or a fully qualified name under the
cloud's domain (Neutron's rules: labels of 1 to 63 letters, digits and
hyphens, no hyphen first or last, the last label not all digits, at most
255 characters with the domain). A ``dns_domain`` is a fully qualified
name with a trailing dot. A port's ``dns_assignment`` holds, per fixed IP,
the host name (its ``dns_name``, else ``host-`` and the address with
dashes), the address and the name under the cloud's domain
(``KUMO_DNS_DOMAIN``, default ``openstacklocal.``).

Names are published on each host's internal resolver only (see
``kumo.dns``); no external DNS service is told of them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import Any

from kumo.errors import BadRequest

DEFAULT_DOMAIN = "openstacklocal."
FQDN_MAX = 255
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$", re.IGNORECASE)


def cloud_domain() -> str:
    """The cloud's domain (Neutron's ``dns_domain`` option), with its dot."""
    value = (os.environ.get("KUMO_DNS_DOMAIN") or DEFAULT_DOMAIN).strip()
    return value if value.endswith(".") else value + "."


def _labels_ok(name: str) -> str | None:
    """Why ``name`` (no trailing dot) is not a host name, or None."""
    labels = name.split(".")
    for label in labels:
        if not label:
            return "Encountered an empty component"
        if len(label) > 63:
            return f"'{label}' exceeds the 63 character FQDN label limit"
        if not _LABEL.match(label):
            return (
                f"'{label}' not a valid label: letters, digits and hyphens, "
                "not starting or ending with a hyphen"
            )
    if labels[-1].isdigit():
        return f"TLD '{labels[-1]}' must not be all numeric"
    return None


def dns_name(value: Any, field: str = "dns_name", domain: str | None = None) -> str:
    """A checked ``dns_name`` ('' clears it). A name ending with a dot must
    end with the cloud's domain; the whole name must fit 255 characters."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"Invalid input for {field}. Reason: '{value}' is not a valid string.")
    if value == "":
        return ""
    domain = domain or cloud_domain()
    why = _labels_ok(value[:-1] if value.endswith(".") else value)
    if why is None and value.endswith("."):
        suffix = "." + domain.strip(".").lower()
        if not value[:-1].lower().endswith(suffix) and value.lower() != domain.lower():
            why = f"The dns_name passed is a FQDN. Its higher level labels must be equal to the dns_domain option '{domain}'"  # noqa: E501
        if value.lower() == domain.lower():
            why = "The dns_name passed is the domain itself"
    elif why is None and len(value) + 1 + len(domain) > FQDN_MAX:
        why = f"'{value}' exceeds the {FQDN_MAX} character FQDN limit with the dns_domain"
    if why is not None:
        raise BadRequest(f"Invalid input for {field}. Reason: {why}.")
    return value


KEYWORDS = ("project_id", "project_name", "user_id", "user_name")
"""What a ``dns_domain`` may hold as ``<keyword>`` (dns-integration-domain-keywords)."""


def keyword_values(ctx: Any) -> dict[str, str]:
    """The keywords' values for a request: its project's and user's ids and names."""
    return {k: str(getattr(ctx, k, None) or "") for k in KEYWORDS}


def expand(domain: str, values: dict[str, str]) -> str:
    """``domain`` with each ``<keyword>`` replaced by its value (one without
    a value stays as it is)."""
    for key, value in values.items():
        if value:
            domain = domain.replace(f"<{key}>", value)
    return domain


def dns_domain(value: Any, field: str = "dns_domain") -> str:
    """A checked ``dns_domain``: '' or an FQDN of labels, trailing dot optional
    on input (kept as given, as Neutron does). A label may be a
    ``<keyword>`` (``KEYWORDS``): replaced, where the domain is used, by the
    value for the request that set it (``expand``)."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"Invalid input for {field}. Reason: '{value}' is not a valid string.")
    plain = expand(value, {k: "k" for k in KEYWORDS})
    name = plain[:-1] if plain.endswith(".") else plain
    why = _labels_ok(name) if len(value) <= FQDN_MAX else f"'{value}' exceeds {FQDN_MAX} chars"
    if why is None and "." not in name and not plain.endswith("."):
        why = f"'{value}' is not a FQDN"
    if why is not None:
        raise BadRequest(f"Invalid input for {field}. Reason: {why}.")
    return value


def hostname_of(name: str, ip_address: str, domain: str) -> str:
    """The host name a port's address answers to: the ``dns_name`` (a
    fully qualified one without its domain), else ``host-<address>``."""
    if name:
        if name.endswith("."):
            return name[: -len(domain) - 1] if name.lower().endswith("." + domain.lower()) else ""
        return name
    return "host-" + ip_address.replace(".", "-").replace(":", "-")


def assignment(
    name: str, fixed_ips: Iterable[dict[str, str]], domain: str | None = None
) -> list[dict[str, str]]:
    """``dns_assignment``: hostname, ip_address and fqdn per fixed IP."""
    domain = domain or cloud_domain()
    out = []
    for fixed in fixed_ips:
        ip = fixed["ip_address"]
        host = hostname_of(name, ip, domain) or hostname_of("", ip, domain)
        out.append({"hostname": host, "ip_address": ip, "fqdn": f"{host}.{domain}"})
    return out


def host_label(hostname: str) -> str:
    """An instance's host name as a ``dns_name`` (its first label, lower
    case, characters a label may not hold dropped; '' when none is left)."""
    first = hostname.split(".", 1)[0].lower()
    label = re.sub(r"[^a-z0-9-]", "", first).strip("-")[:63].strip("-")
    return "" if not label or label.isdigit() else label
