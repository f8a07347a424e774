"""What an agent remembers across restarts."""

from __future__ import annotations

from pathlib import Path

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
