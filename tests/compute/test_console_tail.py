"""The console output's ``length``: exactly that many lines, as Nova answers."""

from __future__ import annotations

from pathlib import Path

from kumo.compute.console import _tail


def test_length_gives_that_many_lines(tmp_path: Path) -> None:
    log = tmp_path / "console.log"
    log.write_text("one\ntwo\nthree\nfour\nfive\n")
    assert _tail([log], 3) == "three\nfour\nfive"
    assert len(_tail([log], 3).split("\n")) == 3
    assert _tail([log], 0) == ""
    assert _tail([log], None) == "one\ntwo\nthree\nfour\nfive\n"
