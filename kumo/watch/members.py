"""A port as a host holds it for its addresses alone: its member body.

A host whose filters name a remote group (a rule's ``remote_group_id``)
watches ``members:G``: every port of G, on any host, for the addresses the
group's sets are made of. A port that reaches the host through those topics
alone (on no network the host serves, bound elsewhere, of no router run
here) is compiled into nothing else, so lists and the watch feed send it as
its member body: its id, network, MAC, addresses, groups and host, marked
``kumo_member``, a quarter of its whole body. In a cloud with a group of
1,000 members over 500 hosts that is most of what those hosts hold.

The choice is made per receiver: an event reaches a watch whole when any
topic they share is not a ``members:`` topic, and a list carries a port
whole when any of its topics other than those brings it. A host that comes
to serve the port's network lists again (its topics changed) and gets the
whole port then.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

MARK = "kumo_member"
"""Set (true) in a member body: the port's other fields were left out."""

KEYS = (
    "id",
    "network_id",
    "mac_address",
    "fixed_ips",
    "allowed_address_pairs",
    "security_groups",
    "binding:host_id",
)
"""What a member body keeps of a port's body."""

PREFIX = "members:"


def body(port: Mapping[str, Any]) -> dict[str, Any]:
    """The member body of a port's body (or view)."""
    out = {key: port[key] for key in KEYS if key in port}
    out[MARK] = True
    return out


def only(topics: Iterable[str]) -> bool:
    """Whether ``topics`` (those an object reached a receiver by) are all
    ``members:`` topics, and there is one."""
    found = False
    for topic in topics:
        if not topic.startswith(PREFIX):
            return False
        found = True
    return found
