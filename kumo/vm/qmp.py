"""A small, blocking QMP client: JSON objects over a unix socket.

The protocol as QEMU speaks it: on connect the server sends a greeting
(``{"QMP": {...}}``) and accepts only ``qmp_capabilities`` until that is
sent; each command (``{"execute": ..., "arguments": ..., "id": ...}``) is
answered by exactly one ``{"return": ...}`` or ``{"error": {"class": ...,
"desc": ...}}`` carrying the same ``id``; asynchronous ``{"event": ...}``
objects may arrive at any time, before or between answers. They are kept
(bounded) for ``wait_event``.

Failures are typed: ``QmpConnectError`` (no socket, nobody listening),
``QmpClosed`` (QEMU went away mid-conversation, as it does after ``quit``),
``QmpTimeout`` and ``QmpCommandError`` (QEMU refused a command; ``cls`` is
QEMU's error class such as ``GenericError`` or ``DeviceNotFound``)."""

from __future__ import annotations

import collections
import itertools
import json
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_LINE = 1 << 20
MAX_EVENTS = 256


class QmpError(Exception):
    """Anything that went wrong talking to QEMU."""


class QmpConnectError(QmpError):
    pass


class QmpClosed(QmpError):
    pass


class QmpTimeout(QmpError):
    pass


class QmpProtocolError(QmpError):
    """The peer sent something that is not QMP."""


class QmpCommandError(QmpError):
    def __init__(self, command: str, cls: str, desc: str) -> None:
        super().__init__(f"{command}: {cls}: {desc}")
        self.command = command
        self.cls = cls
        self.desc = desc


@dataclass(frozen=True)
class Event:
    name: str
    data: dict[str, Any]
    timestamp: float


class QmpClient:
    """One connection. Use as a context manager, or ``connect``/``close``."""

    def __init__(self, path: Path | str, timeout: float = 5.0) -> None:
        self.path = str(path)
        self.timeout = timeout
        self.greeting: dict[str, Any] = {}
        self.events: collections.deque[Event] = collections.deque(maxlen=MAX_EVENTS)
        self._sock: socket.socket | None = None
        self._buffer = b""
        self._ids = itertools.count(1)

    def __enter__(self) -> QmpClient:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            sock.close()
            raise QmpConnectError(f"{self.path}: {exc.strerror}") from exc
        except OSError as exc:
            sock.close()
            raise QmpConnectError(f"{self.path}: {exc}") from exc
        self._sock = sock
        try:
            greeting = self._read(time.monotonic() + self.timeout)
            if "QMP" not in greeting:
                raise QmpProtocolError(f"expected the QMP greeting, got {greeting!r}")
            self.greeting = greeting["QMP"]
            self.execute("qmp_capabilities")
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
            self._buffer = b""

    def execute(
        self, command: str, arguments: dict[str, Any] | None = None, timeout: float | None = None
    ) -> Any:
        """Run one command; its ``return`` value, or ``QmpCommandError``."""
        if self._sock is None:
            raise QmpClosed("not connected")
        request_id = f"kumo-{next(self._ids)}"
        request: dict[str, Any] = {"execute": command, "id": request_id}
        if arguments:
            request["arguments"] = arguments
        try:
            self._sock.sendall(json.dumps(request).encode() + b"\n")
        except OSError as exc:
            self.close()
            raise QmpClosed(f"{command}: {exc}") from exc
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            message = self._read(deadline)
            if "event" in message:
                self._keep(message)
                continue
            if message.get("id") != request_id:
                continue  # an answer to a request of an earlier, timed-out call
            if "error" in message:
                error = message["error"]
                raise QmpCommandError(
                    command, str(error.get("class", "")), str(error.get("desc", ""))
                )
            if "return" not in message:
                raise QmpProtocolError(f"{command}: unexpected answer {message!r}")
            return message["return"]

    def wait_event(self, name: str, timeout: float, match: dict[str, Any] | None = None) -> Event:
        """The first event called ``name`` (whose data contains ``match``),
        including one that arrived earlier and is still kept."""
        deadline = time.monotonic() + timeout
        while True:
            for event in list(self.events):
                if event.name == name and _matches(event.data, match):
                    self.events.remove(event)
                    return event
            message = self._read(deadline)
            if "event" in message:
                self._keep(message)

    def _keep(self, message: dict[str, Any]) -> None:
        stamp = message.get("timestamp") or {}
        when = float(stamp.get("seconds", 0)) + float(stamp.get("microseconds", 0)) / 1e6
        data = message.get("data")
        self.events.append(
            Event(str(message["event"]), data if isinstance(data, dict) else {}, when)
        )

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\n" not in self._buffer:
            if self._sock is None:
                raise QmpClosed(f"{self.path}: not connected")
            left = deadline - time.monotonic()
            if left <= 0:
                raise QmpTimeout(f"{self.path}: no answer in time")
            self._sock.settimeout(left)
            try:
                chunk = self._sock.recv(65536)
            except TimeoutError as exc:
                raise QmpTimeout(f"{self.path}: no answer in time") from exc
            except OSError as exc:
                self.close()
                raise QmpClosed(f"{self.path}: {exc}") from exc
            if not chunk:
                self.close()
                raise QmpClosed(f"{self.path}: connection closed by QEMU")
            self._buffer += chunk
            if len(self._buffer) > MAX_LINE and b"\n" not in self._buffer:
                self.close()
                raise QmpProtocolError("message too long")
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            message = json.loads(line)
        except ValueError as exc:
            self.close()
            raise QmpProtocolError(f"not JSON: {line[:200]!r}") from exc
        if not isinstance(message, dict):
            self.close()
            raise QmpProtocolError(f"not a JSON object: {line[:200]!r}")
        return message


def _matches(data: dict[str, Any], match: dict[str, Any] | None) -> bool:
    return all(data.get(k) == v for k, v in (match or {}).items())
