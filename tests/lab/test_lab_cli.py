"""The lab commands' command line: what ``--help`` tells a newcomer, and
that every lab command takes ``--name``."""

from __future__ import annotations

import pytest

from kumo.cli.main import build_parser, main


def test_exec_help_shows_the_command_form(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["exec", "--help"])
    out = capsys.readouterr().out
    assert "kumo exec [--name LAB] [--network NET] NAME -- CMD [ARGS...]" in out
    assert "kumo exec vm1 -- ping" in out


@pytest.mark.parametrize(
    "words",
    [
        ["up"],
        ["down"],
        ["exec", "vm1"],
        ["lab", "status"],
        ["lab", "instance", "list"],
        ["lab", "instance", "create", "vm1", "--network", "n"],
        ["lab", "instance", "delete", "vm1"],
        ["lab", "stop", "agent", "host2"],
        ["lab", "start", "agent", "host2"],
        ["lab", "restart", "api"],
    ],
)
def test_every_lab_command_takes_a_lab_name(words: list[str]) -> None:
    args = build_parser().parse_args([*words, "--name", "b"])
    assert args.lab == "b"
    if words[0] in ("exec",) or words[-2:-1] == ["create"] or words[-1] == "vm1":
        assert args.name == "vm1"  # the instance's name is not the lab's
