"""The lab's shape: names, addresses, host naming per prefix."""

from __future__ import annotations

import pytest

from kumo.lab.topology import make, parse_physnet


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


def test_further_physical_networks_on_some_hosts() -> None:
    topo = make(3, "klt1-", physnets={"rack1": [1], "rack2": [2, 1]})
    assert [(p.name, p.netns, p.hosts) for p in topo.physnets] == [
        ("rack1", "klt1-pn1", (1,)), ("rack2", "klt1-pn2", (1, 2)),
    ]  # fmt: skip
    # each host maps its own to its next devices, in the order given; host3 neither
    assert topo.hosts[0].bridge_mappings == {
        "physnet1": "eth1", "external": "eth2", "rack1": "eth3", "rack2": "eth4",
    }  # fmt: skip
    assert topo.hosts[1].bridge_mappings == {
        "physnet1": "eth1",
        "external": "eth2",
        "rack2": "eth3",
    }
    assert topo.hosts[2].bridge_mappings == {"physnet1": "eth1", "external": "eth2"}
    assert {"klt1-pn1", "klt1-pn2"} <= set(topo.namespaces)  # kumo down removes them


@pytest.mark.parametrize(
    "physnets", [{"physnet1": [1]}, {"external": [2]}, {"rack1": [4]}, {"rack1": []}]
)
def test_further_physical_networks_refused(physnets: dict[str, list[int]]) -> None:
    with pytest.raises(ValueError):
        make(3, physnets=physnets)


def test_physnet_option_names_hosts_as_the_lab_does() -> None:
    hosts = ["b-host1", "b-host2", "b-host3"]
    assert parse_physnet("rack1:host1,b-host3", hosts) == ("rack1", [1, 3])
    assert parse_physnet("rack2:2", hosts) == ("rack2", [2])
    for wrong in ("rack1", "rack1:", ":host1", "rack1:host4", "rack1:other"):
        with pytest.raises(ValueError, match="--physnet"):
            parse_physnet(wrong, hosts)
