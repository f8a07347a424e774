"""ASGI entry for uvicorn workers: settings come from KUMO_SETTINGS_JSON."""

from __future__ import annotations

import gc
import json
import logging
import os
from pathlib import Path

from kumo.api.app import create_app
from kumo.config import Settings
from kumo.runtime import Runtime
from kumo.telemetry import logs


def _settings() -> Settings:
    raw = json.loads(os.environ.get("KUMO_SETTINGS_JSON", "{}"))
    kwargs = {k: v for k, v in raw.items() if v is not None}
    if "state_dir" in kwargs:
        kwargs["state_dir"] = Path(kwargs["state_dir"])
    if "physical_networks" in kwargs:
        kwargs["physical_networks"] = tuple(kwargs["physical_networks"])
    return Settings(**kwargs)


if not logging.getLogger().handlers:  # a worker process of its own (``--workers``)
    logs.configure(level=logging.INFO)
app = create_app(Runtime.open(_settings(), migrate=False))
# Everything made so far (modules, routes, mappers) lives as long as the
# process: keep it out of the collector's full passes, which otherwise walk
# all ~150,000 objects every few thousand requests (65-75 ms each time).
# Startup's garbage goes first, so that none of it is kept for good.
gc.collect()
gc.freeze()
