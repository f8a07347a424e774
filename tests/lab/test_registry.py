"""The registry of running labs: claims, stale entries, which lab a command means."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from kumo.lab import registry


@pytest.fixture
def reg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("KUMO_LAB_REGISTRY", str(tmp_path / "labs"))
    monkeypatch.delenv("KUMO_LAB", raising=False)
    yield tmp_path / "labs"


def _entry(name: str, pid: int, port: int = 8080) -> registry.Entry:
    return registry.Entry(name, pid, f"/tmp/{name}", "kl-x-", f"http://127.0.0.1:{port}", True)


@pytest.fixture
def sleeper() -> Iterator[int]:
    proc = subprocess.Popen(["sleep", "60"])
    yield proc.pid
    proc.kill()
    proc.wait()


def test_a_name_is_claimed_once(reg: Path, sleeper: int) -> None:
    assert registry.claim(_entry("b", sleeper)) is None
    held = registry.claim(_entry("b", sleeper + 1))
    assert held is not None and held.pid == sleeper


def test_entries_of_dead_supervisors_are_dropped(reg: Path) -> None:
    proc = subprocess.Popen(["true"])
    proc.wait()
    registry.write(_entry("gone", proc.pid))
    assert registry.get("gone") is None
    assert not (reg / "gone.json").exists()
    assert registry.claim(_entry("gone", 1)) is None  # the name is free again


def test_resolve(reg: Path, sleeper: int, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(registry.LabNotFound, match="no lab is running"):
        registry.resolve(None)
    registry.write(_entry("a", sleeper, 8081))
    assert registry.resolve(None).name == "a"  # the only one
    registry.write(_entry("b", sleeper, 8082))
    with pytest.raises(registry.LabNotFound, match="several labs are running: a, b"):
        registry.resolve(None)
    assert registry.resolve("b").name == "b"
    monkeypatch.setenv("KUMO_LAB", "a")
    assert registry.resolve(None).name == "a"
    monkeypatch.delenv("KUMO_LAB")
    registry.write(_entry("default", sleeper))
    assert registry.resolve(None).name == "default"
    with pytest.raises(registry.LabNotFound, match="no lab named 'c' is running"):
        registry.resolve("c")
    assert registry.by_port(8082) is not None and registry.by_port(8082).name == "b"  # type: ignore[union-attr]
    assert registry.by_state_dir(Path("/tmp/a")).name == "a"  # type: ignore[union-attr]


def test_two_labs_that_picked_one_port_at_once_register_on_two(reg: Path, tmp_path: Path) -> None:
    from kumo.lab import supervisor

    first = supervisor.new_state("pa", tmp_path / "pa", hosts=1)
    second = supervisor.new_state("pb", tmp_path / "pb", hosts=1)
    assert first.port == second.port and first.port_picked  # neither registered yet
    supervisor.register(first)
    entry = supervisor.register(second)
    assert entry.api_url == second.api_url != first.api_url
    assert registry.get("pa").api_url == first.api_url  # type: ignore[union-attr]
    asked = supervisor.new_state("pc", tmp_path / "pc", hosts=1, port=first.port)
    assert not asked.port_picked
    assert supervisor.register(asked).api_url == first.api_url  # preflight refuses it before
