"""ASGI entry for uvicorn workers: settings come from KUMO_SETTINGS_JSON."""

from __future__ import annotations

import json
import os
from pathlib import Path

from kumo.api.app import create_app
from kumo.config import Settings
from kumo.runtime import Runtime


def _settings() -> Settings:
    raw = json.loads(os.environ.get("KUMO_SETTINGS_JSON", "{}"))
    kwargs = {k: v for k, v in raw.items() if v is not None}
    if "state_dir" in kwargs:
        kwargs["state_dir"] = Path(kwargs["state_dir"])
    return Settings(**kwargs)


app = create_app(Runtime.open(_settings(), migrate=False))
