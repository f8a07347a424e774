"""What an agent remembers across restarts."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kumo.agent import memory


def test_topics_come_back_after_a_restart(tmp_path: Path) -> None:
    topics = frozenset({"host:h1", "agents", "network:n1", "secgroup:g1"})
    memory.remember("h1", topics, tmp_path)
    assert memory.recall("h1", tmp_path) == topics
    assert memory.recall("h2", tmp_path) == frozenset()


def test_a_damaged_or_missing_file_is_an_empty_memory(tmp_path: Path) -> None:
    assert memory.recall("h1", tmp_path / "nowhere") == frozenset()
    memory.remember("h1", frozenset({"agents"}), tmp_path)
    next(tmp_path.glob("*.json")).write_text("{not json")
    assert memory.recall("h1", tmp_path) == frozenset()
    next(tmp_path.glob("*.json")).write_text('{"a": 1}')
    assert memory.recall("h1", tmp_path) == frozenset()


def test_host_names_cannot_escape_the_directory(tmp_path: Path) -> None:
    memory.remember("../../etc/x", frozenset({"agents"}), tmp_path / "d")
    assert [p.parent for p in (tmp_path / "d").iterdir()] == [tmp_path / "d"]
    assert memory.recall("../../etc/x", tmp_path / "d") == frozenset({"agents"})


def test_an_unwritable_directory_only_costs_a_warning(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    memory.remember("h1", frozenset({"agents"}), blocker / "sub")  # no exception
    assert memory.recall("h1", blocker / "sub") == frozenset()


def test_the_kernels_probe_holds_for_its_boot_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(memory, "_this_boot", lambda: "boot-a 6.1")
    assert memory.recall_vlan_devices(tmp_path) is None  # never probed
    memory.remember_vlan_devices(False, tmp_path)
    assert memory.recall_vlan_devices(tmp_path) is False
    memory.remember_vlan_devices(True, tmp_path)
    assert memory.recall_vlan_devices(tmp_path) is True
    monkeypatch.setattr(memory, "_this_boot", lambda: "boot-b 6.1")  # rebooted
    assert memory.recall_vlan_devices(tmp_path) is None
    (tmp_path / "kernel.json").write_text("[1]")
    assert memory.recall_vlan_devices(tmp_path) is None
    monkeypatch.setattr(memory, "_this_boot", lambda: "")  # no boot id to tell
    memory.remember_vlan_devices(True, tmp_path)
    assert memory.recall_vlan_devices(tmp_path) is None


def test_this_boot_names_the_running_kernel() -> None:
    assert os.uname().release in memory._this_boot()
