"""Entry point of the ``kumo`` command.

Each feature contributes its sub-commands through an ``add_parsers(sub)``
function; this module only assembles them and dispatches to the function
a sub-command stored as ``func``.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

# Modules that contribute sub-commands, in help order.
COMMAND_MODULES = (
    "kumo.cli.serve",
    "kumo.cli.keys",
    "kumo.cli.status",
    "kumo.agent.cli",
    "kumo.storage.cli",
    "kumo.lab.cli",
    "kumo.guestimage.cli",
)


LAB_COMMANDS = frozenset({"up", "down", "lab", "exec"})
"""Commands of ``kumo.lab.cli``: parsed without importing the other modules
(the agent's pull in the whole data plane), so ``kumo down`` starts fast."""

OWN_MODULES = {"agent": ("kumo.agent.cli",), **{c: ("kumo.lab.cli",) for c in LAB_COMMANDS}}
"""Commands parsed with their own module only: ``kumo agent`` without the
server's, storage's and images' (SQLAlchemy, the identity keys, ~0.2 s of
imports an agent's start, or restart, does not need)."""


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kumo", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    modules = OWN_MODULES.get(command or "", COMMAND_MODULES)
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.add_parsers(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    tail: list[str] = []
    if "--" in words:
        cut = words.index("--")
        words, tail = words[:cut], words[cut + 1 :]
    parser = build_parser(next((w for w in words if not w.startswith("-")), None))
    args = parser.parse_args(words)
    args.tail = tail
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    result = args.func(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
