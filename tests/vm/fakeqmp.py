"""A QMP server on a unix socket that answers the way QEMU 7.2 does: the
greeting, ``CommandNotFound`` until ``qmp_capabilities``, the request's
``id`` echoed, events written before answers, ``quit`` answered and then
the connection closed, ``DeviceNotFound`` for unknown devices. Faults:
``hang`` (read, never answer), ``garbage`` (a line that is not JSON),
``split`` (every message written a few bytes at a time), ``slow`` (each
answer after negotiation 0.4 s late), ``deaf`` (a guest that ignores the
power button). As QEMU 7.2 does (measured): ``cont`` is refused while a
guest that powered off under ``-no-shutdown`` is not reset yet, and a
``system_reset`` is done before the next command is read (RESET event)."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Any


class FakeQmp:
    def __init__(self, path: Path, fault: str = "") -> None:
        self.path = path
        self.fault = fault
        self.status = "running"
        self.devices: set[str] = {"root-disk"}
        self.received: list[dict[str, Any]] = []
        self.quit = threading.Event()
        self._server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._server.bind(str(path))
        self._server.listen(4)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.close()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            with conn:
                try:
                    self._talk(conn)
                except OSError:
                    pass

    def _send(self, conn: socket.socket, message: dict[str, Any]) -> None:
        data = json.dumps(message).encode() + b"\r\n"
        if self.fault == "split":
            for i in range(0, len(data), 7):
                conn.sendall(data[i : i + 7])
                time.sleep(0.001)
        else:
            conn.sendall(data)

    def _event(self, conn: socket.socket, name: str, data: dict[str, Any] | None = None) -> None:
        now = time.time()
        message: dict[str, Any] = {
            "timestamp": {"seconds": int(now), "microseconds": int(now % 1 * 1e6)},
            "event": name,
        }
        if data is not None:
            message["data"] = data
        self._send(conn, message)

    def _talk(self, conn: socket.socket) -> None:
        self._send(
            conn,
            {"QMP": {"version": {"qemu": {"major": 7, "minor": 2, "micro": 0}, "package": ""},
                     "capabilities": ["oob"]}},
        )  # fmt: skip
        negotiated = False
        buffer = b""
        while True:
            chunk = conn.recv(4096)
            if not chunk:
                return
            buffer += chunk
            while b"\n" in buffer:
                line, _, buffer = buffer.partition(b"\n")
                request = json.loads(line)
                self.received.append(request)
                if self.fault == "hang":
                    continue
                if self.fault == "slow" and negotiated:
                    time.sleep(0.4)
                if self.fault == "garbage" and negotiated:
                    conn.sendall(b"this is not json\r\n")
                    continue
                command = request.get("execute")
                reply = self._answer(conn, command, request.get("arguments") or {}, negotiated)
                if command == "qmp_capabilities" and "return" in reply:
                    negotiated = True
                if "id" in request:
                    reply["id"] = request["id"]
                self._send(conn, reply)
                if command == "quit":
                    self._event(conn, "SHUTDOWN", {"guest": False, "reason": "host-qmp-quit"})
                    self.quit.set()
                    return

    def _answer(
        self, conn: socket.socket, command: str, args: dict[str, Any], negotiated: bool
    ) -> dict[str, Any]:
        if command == "qmp_capabilities":
            if negotiated:
                return _error(
                    "CommandNotFound",
                    "Capabilities negotiation is already complete, command ignored",
                )
            return {"return": {}}
        if not negotiated:
            return _error(
                "CommandNotFound", "Expecting capabilities negotiation with 'qmp_capabilities'"
            )
        if command == "query-status":
            return {"return": {"status": self.status, "singlestep": False,
                               "running": self.status == "running"}}  # fmt: skip
        if command == "stop":
            self.status = "paused"
            self._event(conn, "STOP")
            return {"return": {}}
        if command == "cont":
            if self.status == "shutdown":
                return _error("GenericError", "Resetting the Virtual Machine is required")
            self.status = "running"
            self._event(conn, "RESUME")
            return {"return": {}}
        if command == "system_powerdown":
            self._event(conn, "POWERDOWN")
            if self.fault != "deaf":
                threading.Timer(0.2, self._guest_off, [conn]).start()
            return {"return": {}}
        if command == "system_reset":
            self._reset(conn)
            return {"return": {}}
        if command == "device_add":
            if args.get("id") in self.devices:
                return _error("GenericError", f"Duplicate device ID '{args.get('id')}'")
            self.devices.add(str(args.get("id")))
            return {"return": {}}
        if command == "device_del":
            if args.get("id") not in self.devices:
                return _error("DeviceNotFound", f"Device '{args.get('id')}' not found")
            self.devices.discard(str(args.get("id")))
            threading.Timer(
                0.1, self._event, [conn, "DEVICE_DELETED", {"device": args.get("id"), "path": ""}]
            ).start()
            return {"return": {}}
        if command in ("quit", "netdev_add", "netdev_del"):
            return {"return": {}}
        return _error("CommandNotFound", f"The command {command} has not been found")

    def _reset(self, conn: socket.socket) -> None:
        if self.status == "shutdown":
            self.status = "prelaunch"
        try:
            self._event(conn, "RESET", {"guest": False, "reason": "host-qmp-system-reset"})
        except OSError:
            pass

    def _guest_off(self, conn: socket.socket) -> None:
        self.status = "shutdown"
        try:
            self._event(conn, "SHUTDOWN", {"guest": True, "reason": "guest-shutdown"})
        except OSError:
            pass


def _error(cls: str, desc: str) -> dict[str, Any]:
    return {"error": {"class": cls, "desc": desc}}


def main(argv: list[str]) -> int:
    """Stand in for ``qemu-system-x86_64 ... -daemonize``: serve QMP on the
    ``-chardev socket,id=qmp,path=...`` socket, write ``-pidfile``, detach
    once listening, exit on ``quit``. ``KUMO_FAKE_QMP_FAULT`` picks a fault;
    ``immortal`` ignores ``quit`` (answers it, keeps running)."""
    import os
    import sys

    qmp = next(
        a.split("path=", 1)[1].split(",", 1)[0] for a in argv if a.startswith("socket,id=qmp,")
    )
    pidfile = argv[argv.index("-pidfile") + 1]
    read_end, write_end = os.pipe()
    if os.fork():
        os.close(write_end)
        return 0 if os.read(read_end, 1) == b"1" else 1
    os.setsid()
    fault = os.environ.get("KUMO_FAKE_QMP_FAULT", "")
    fake = FakeQmp(Path(qmp), "" if fault == "immortal" else fault)
    Path(pidfile).write_text(f"{os.getpid()}\n")
    os.write(write_end, b"1")
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    while True:
        fake.quit.wait()
        if fault != "immortal":
            break
        fake.quit.clear()
    fake.close()
    Path(qmp).unlink(missing_ok=True)
    sys.exit(0)


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
