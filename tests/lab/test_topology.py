"""The lab's shape: names, addresses, host naming per prefix."""

from __future__ import annotations

import pytest

from kumo.lab.topology import make


def test_default_lab_hosts_and_addresses() -> None:
    topo = make(3)
    assert [h.name for h in topo.hosts] == ["host1", "host2", "host3"]
    assert [h.netns for h in topo.hosts] == ["klab-h1", "klab-h2", "klab-h3"]
    assert [h.tunnel_ip for h in topo.hosts] == ["192.0.2.11", "192.0.2.12", "192.0.2.13"]
    assert topo.hosts[0].bridge_mappings == {"physnet1": "eth1", "external": "eth2"}
    assert set(topo.namespaces) == {
        "klab-ul", "klab-phys", "klab-ext", "klab-up", "klab-h1", "klab-h2", "klab-h3",
    }  # fmt: skip


def test_other_prefix_names_its_hosts_apart() -> None:
    topo = make(2, "klt1-")
    assert [h.name for h in topo.hosts] == ["klt1-host1", "klt1-host2"]
    assert all(ns.startswith("klt1-") for ns in topo.namespaces)


def test_bounds() -> None:
    with pytest.raises(ValueError):
        make(0)
