"""Router namespaces send no ICMP redirects: ``all``, ``default`` and every device."""

from __future__ import annotations

import pytest

from kumo.compiler import compile_host
from kumo.compiler import names as n
from tests.compiler.test_ha import view


@pytest.mark.parametrize(("host", "distributed"), [("c", True), ("g1", True), ("g1", False)])
def test_router_namespaces_send_no_redirects(host: str, distributed: bool) -> None:
    plan = compile_host(host, view(distributed=distributed, ha=False))
    routers = {x.name for x in plan.netns if n.is_router_netns(x.name, host)}
    assert routers
    off = {(x.netns, x.path) for x in plan.sysctls if x.value == "0"}
    for ns in routers:
        devices = {x.name for x in plan.links if x.netns == ns and x.name != "lo"}
        assert devices
        for conf in ("all", "default", *devices):
            assert (ns, f"net/ipv4/conf/{conf}/send_redirects") in off, (ns, conf)
    # nowhere else: instance namespaces and the host keep the kernel's defaults
    elsewhere = {x.netns for x in plan.sysctls if "send_redirects" in x.path} - routers
    assert elsewhere == set()
