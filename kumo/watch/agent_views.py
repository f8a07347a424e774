"""The ``agents`` topic's objects for lists, each made once per content.

Every host's list holds every agent as its peers see it
(``kumo.network.agents.peer_view``): at 1,000 hosts, 1,000 objects in
each of 1,000 lists. An agent's row changes at every heartbeat, the columns
its peer view is made from seldom, so the list reads those (its
``configurations`` as stored, undecoded) and keeps each agent's list
object, with its JSON, under them: a heartbeat that reports the same
configurations does not make it again, any other change does. Like ``kumo.watch.port_views``, the objects are
per process and database, used only for the very row they were made from,
shared between lists and never changed.
"""

from __future__ import annotations

import json
from typing import Any, cast

from sqlalchemy import Table, Text, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.orm import Session

from kumo.db.agent_models import Agent
from kumo.network import agents as agentlib
from kumo.watch import encoded
from kumo.watch.per_database import PerDatabase

_AGENTS = cast(Table, Agent.__table__)
_COLUMNS = select(
    _AGENTS.c.id,
    _AGENTS.c.host,
    _AGENTS.c.binary,
    sql_cast(_AGENTS.c.configurations, Text).label("configurations"),
)

Key = tuple[str, str, str | None]
"""(host, binary, configurations as stored)."""


class _Row:
    """An agent's columns with its configurations decoded (what ``peer_view`` reads)."""

    def __init__(self, agent_id: str, host: str, binary: str, configurations: str | None) -> None:
        self.id = agent_id
        self.host = host
        self.binary = binary
        self.configurations = json.loads(configurations) if configurations else None


class AgentViews:
    """Agent id → (key, its list object), for the agents of one database."""

    def __init__(self) -> None:
        self._known: dict[str, tuple[Key, encoded.Encoded]] = {}
        self.made = 0
        """Objects made since the start (a test's measure)."""

    def objects(self, session: Session) -> list[dict[str, Any]]:
        """Every agent's list object (``{"kind": "agent", **peer_view}``),
        in ``session``'s snapshot."""
        out: list[dict[str, Any]] = []
        seen: set[str] = set()
        for agent_id, host, binary, config in session.connection().execute(_COLUMNS):
            key = (host, binary, config)
            seen.add(agent_id)
            known = self._known.get(agent_id)
            if known is None or known[0] != key:
                body = {"kind": "agent", **agentlib.peer_view(_Row(agent_id, host, binary, config))}
                known = self._known[agent_id] = (key, encoded.Encoded(body, encoded.dumps(body)))
                self.made += 1
            out.append(known[1])
        if len(self._known) > 2 * len(seen) + 100:  # deleted agents
            for gone in set(self._known) - seen:
                self._known.pop(gone, None)
        return out


of: PerDatabase[AgentViews] = PerDatabase(AgentViews)
"""This process's agent objects of ``db``."""
