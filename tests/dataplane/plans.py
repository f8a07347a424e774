"""Plans for dataplane tests, compiled from the compiler's named states."""

from __future__ import annotations

from kumo.compiler import ClusterView, HostPlan, compile_host
from kumo.dataplane.driver import Dataplane
from kumo.dataplane.fake import FakeKernel
from tests.compiler import states as s

HOST = "host-a"


def plan_for(state: s.State, host: str = HOST) -> HostPlan:
    view = ClusterView.from_bodies(state.networks, state.subnets, state.ports, state.agents)
    return compile_host(host, view)


def fake_dataplane(host: str = HOST) -> tuple[FakeKernel, Dataplane]:
    fake = FakeKernel()
    return fake, Dataplane(fake, host)


def mutations(fake: FakeKernel) -> list[str]:
    return [op for op in fake.journal if not op.startswith("list_")]
