"""An agent's own credential on disk: written by ``kumo agent enroll``, read
by ``kumo agent`` (``--credentials FILE``, or ``HOST.credentials.json`` in
its state directory). Only root may read the file (mode 0600)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from kumo.agent.config import Credentials
from kumo.agent.memory import STATE_DIR

FIELDS = ("auth_url", "username", "password", "project_name", "user_domain_id", "project_domain_id")


def path_for(host: str, where: Path | None = None) -> Path:
    """Where the credential of ``host``'s agent lives in a state directory."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in host)
    return (where or STATE_DIR) / f"{safe}.credentials.json"


def write(path: Path, host: str, creds: Credentials) -> None:
    """Write ``creds`` to ``path``, replacing any file there; mode 0600 from
    the start (the password is never readable by others, not even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"host": host, **{k: getattr(creds, k) for k in FIELDS}}, f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def read(path: Path) -> tuple[str, Credentials]:
    """The host and credential in ``path``."""
    data = json.loads(path.read_text())
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in FIELDS):
        raise ValueError(f"{path} is not an agent credential (fields {', '.join(FIELDS)})")
    return str(data.get("host", "")), Credentials(**{k: data[k] for k in FIELDS})
