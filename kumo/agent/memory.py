"""What an agent remembers across restarts: the topics of its last list.

A fresh agent knows only its host, so its first list (the ports bound
here) reveals networks, groups and routers that need a second list, and
those may reveal more: with 1,000 ports each list takes a few hundred
milliseconds. A restarted agent starts from the topics its predecessor
last listed, which are nearly always right; the watch loop still checks
the topics after every list and lists again when they differ, so a stale
or missing file costs one more list, never a wrong cache.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger("kumo.agent")

STATE_DIR = Path(os.environ.get("KUMO_AGENT_STATE_DIR", "/run/kumo/agents"))


def _path(host: str, where: Path | None) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in host)
    return (where or STATE_DIR) / f"{safe}.topics.json"


def recall(host: str, where: Path | None = None) -> frozenset[str]:
    """The topics last saved for ``host`` (empty when none or unreadable)."""
    try:
        raw = json.loads(_path(host, where).read_text())
    except (OSError, ValueError):
        return frozenset()
    if not isinstance(raw, list):
        return frozenset()
    return frozenset(t for t in raw if isinstance(t, str))


def remember(host: str, topics: frozenset[str], where: Path | None = None) -> None:
    """Save ``topics`` for the next start (best effort: a failure only costs
    that start one more list)."""
    path = _path(host, where)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(sorted(topics)))
        tmp.replace(path)
    except OSError as exc:
        log.warning("could not save the watch topics in %s: %s", path, exc)
