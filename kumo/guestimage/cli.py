"""``kumo image build``: build the cirros guest bundle (see ``kumo.guestimage``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from kumo.guestimage import build


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    image = sub.add_parser("image", help="guest images")
    image_sub = image.add_subparsers(dest="image_command", metavar="IMAGE_COMMAND")
    p = image_sub.add_parser(
        "build", help="build the cirros guest bundle from Debian packages (skipped if up to date)"
    )
    p.add_argument("--output", type=Path, default=build.DEFAULT_OUTPUT, help="output directory")
    p.add_argument("--cache", type=Path, default=build.DEFAULT_CACHE, help=".deb cache directory")
    p.add_argument("--force", action="store_true", help="build even if up to date")
    p.set_defaults(func=_build)


def _build(args: argparse.Namespace) -> int:
    result = build.build(args.output, args.cache, force=args.force)
    summary = {k: result.record[k] for k in ("file", "size", "sha256")}
    print(json.dumps({"image": str(result.image), "built": result.built, **summary}))
    return 0
