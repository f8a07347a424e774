"""Log formats: the plain one-liner, or one JSON object per line.

``--log-format json`` (``kumo serve``, ``kumo agent``) writes each record
as ``{"time", "level", "logger", "message"}`` plus ``request_id`` when the
line belongs to an API request (or names the request that caused a change
an agent applied), ``exception`` when one was logged, and any of the
record's ``extra`` fields listed in ``EXTRA``. Worker processes of
``kumo serve --workers N`` learn the format from ``KUMO_LOG_FORMAT``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os

from kumo.telemetry.request_id import current

PLAIN = "%(asctime)s %(levelname)s %(name)s: %(message)s"
FORMATS = ("text", "json")
ENV = "KUMO_LOG_FORMAT"
EXTRA = ("request_id", "port_id", "host", "router_id", "object_type")
"""Fields a log call may pass with ``extra=`` to have them in the JSON object."""


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in EXTRA:
            value = getattr(record, key, None)
            if value is not None:
                out[key] = value
        if "request_id" not in out:
            rid = current()
            if rid is not None:
                out["request_id"] = rid
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure(fmt: str | None = None, level: int | None = None) -> None:
    """Set the format of the root logger's handlers (adding one when there
    is none); ``fmt`` None: from ``KUMO_LOG_FORMAT``, default text."""
    fmt = fmt or os.environ.get(ENV) or "text"
    if fmt not in FORMATS:
        raise SystemExit(f"unknown log format {fmt!r} (use one of {', '.join(FORMATS)})")
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level or logging.INFO, format=PLAIN)
    elif level is not None:
        root.setLevel(level)
    formatter = JsonFormatter() if fmt == "json" else logging.Formatter(PLAIN)
    for handler in root.handlers:
        handler.setFormatter(formatter)
