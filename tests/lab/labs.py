"""A throwaway 3-host lab for end-to-end tests: ``kumo up`` with its own
prefix, state directory and API port; ``kumo down`` afterwards, and any
namespace of its own left behind (the lab's, its hosts' instances, routers
and metadata) removed even after a failed test."""

from __future__ import annotations

import contextlib
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

from kumo.compiler import names
from kumo.dataplane import uts
from tests.lab.test_lab_root import kumo, netns_list
from tests.live import _free_port


def owned(ns: str, prefix: str, hosts: int = 3) -> bool:
    if ns.startswith(prefix):
        return True
    return any(
        names.is_instance_netns(ns, host)
        or names.is_router_netns(ns, host)
        or names.is_metadata_netns(ns, host)
        for host in (f"{prefix}host{i}" for i in range(1, hosts + 1))
    )


@contextlib.contextmanager
def running_lab(tmp_path: Path, tag: str, *extra: str) -> Iterator[tuple[Path, str]]:
    """(state directory, prefix) of a lab that is up for the block; ``extra``
    arguments go to ``kumo up``."""
    prefix = f"{tag}{uuid.uuid4().hex[:4]}-"
    state = tmp_path / "lab"
    try:
        kumo(state, "up", "--hosts", "3", "--port", str(_free_port()), "--prefix", prefix,
             "--detach", *extra)  # fmt: skip
        yield state, prefix
    finally:
        kumo(state, "down", check=False)
        for ns in netns_list():
            if owned(ns, prefix):
                subprocess.run(["ip", "netns", "delete", ns], check=False)
        for ns in uts.list_names():  # the instances' UTS namespaces
            if owned(ns, prefix):
                uts.remove(ns)
