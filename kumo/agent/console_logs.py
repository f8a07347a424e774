"""An instance's console output on its host: a VM's serial log, or what a
namespace instance's guest processes wrote; read by the host agent's
console endpoint (``console_server``) and by an API server that sees the
files itself."""

from __future__ import annotations

from pathlib import Path

MAX_LOG_BYTES = 1 << 20
"""The end of each log read for its output (a VM's grows with every boot)."""


def vm_files(vm_dir: Path, server_id: str) -> tuple[Path, Path]:
    """(serial socket, serial log) of a VM in its host's VM directory."""
    base = vm_dir / "vms" / server_id
    return base / "console.sock", base / "console.log"


def guest_logs(netns: str) -> list[Path]:
    """A namespace instance's guest process logs, oldest first."""
    from kumo.dataplane.guest.processes import RUN_DIR

    found = []
    for log in RUN_DIR.glob(f"{netns}.*.log"):
        try:
            found.append((log.stat().st_mtime, log))
        except OSError:
            continue
    return [log for _, log in sorted(found)]


def read_lines(logs: list[Path]) -> list[str]:
    """The lines of the ends of ``logs`` (missing ones skipped), in order."""
    lines: list[str] = []
    for log in logs:
        try:
            with log.open("rb") as f:
                size = f.seek(0, 2)
                f.seek(max(0, size - MAX_LOG_BYTES))
                text = f.read().decode(errors="replace")
        except OSError:
            continue
        lines += [line.rstrip("\r") for line in text.splitlines()]
    return lines


def tail(lines: list[str], length: int | None) -> str:
    """The console output as Nova gives it: the last ``length`` lines (all for None)."""
    if length is not None and length >= 0:
        # as Nova: the last ``length`` pieces of the text split at newlines,
        # so the answer splits into exactly ``length`` lines
        return "\n".join(lines[-length:]) if length else ""
    return "\n".join(lines) + ("\n" if lines else "")
