"""Root test: an instance's guest files (pid files, logs, web root) go with it."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kumo.compiler import HostPlan
from kumo.compiler import names as n
from kumo.dataplane.guest import processes
from tests.compiler import states as s
from tests.dataplane.rootlab import RootLab
from tests.dataplane.test_kernel_root import apply_all, cluster

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]


@pytest.fixture
def lab() -> Iterator[RootLab]:
    lab = RootLab()
    try:
        yield lab.start()
    finally:
        lab.close()


def test_guest_files_are_removed_with_their_instance(
    lab: RootLab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "guests"
    monkeypatch.setattr(processes, "RUN_DIR", run_dir)
    view, _ = cluster(lab)
    planes = apply_all(lab, view)
    try:
        a, b = list(lab.hosts)
        mine = n.instance_netns(a, s.P1)
        deadline = time.monotonic() + 10
        while not list(run_dir.glob(f"{mine}.*.pid")):
            assert time.monotonic() < deadline, sorted(p.name for p in run_dir.iterdir())
            time.sleep(0.1)
        assert list(run_dir.glob(f"{mine}.*.log"))
        others = {p.name for p in run_dir.iterdir() if p.name.startswith(n.instance_netns(b, s.P2))}
        assert others
        result = planes[a].apply(HostPlan(host=a))  # every instance of host a deleted
        assert result.ok, result.errors
        left = [p.name for p in run_dir.iterdir() if p.name.startswith(mine)]
        assert left == []
        # the other host's instances keep theirs
        assert others <= {p.name for p in run_dir.iterdir()}
    finally:
        for host, dp in planes.items():
            dp.apply(HostPlan(host=host))
            dp.close()
