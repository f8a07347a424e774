"""The naming scheme: short, derived, recognisable, host-scoped."""

from __future__ import annotations

import pytest

from kumo.compiler import names

NET = "1f0e2d3c-4b5a-4978-8796-a5b4c3d2e1f0"


def test_link_names_are_derived_and_fit_ifnamsiz() -> None:
    assert names.bridge_name(NET) == "kb1f0e2d3c4b5"
    assert names.vxlan_name(NET) == "kx1f0e2d3c4b5"
    assert names.vlan_name(NET) == "kv1f0e2d3c4b5"
    assert names.tap_name(NET.upper()) == "kt1f0e2d3c4b5"
    for fn in (names.bridge_name, names.vxlan_name, names.vlan_name, names.tap_name):
        for object_id in (NET, "x", "not-hex-at-all-but-long-enough"):
            name = fn(object_id)
            assert len(name) <= names.IFNAMSIZ
            assert names.is_kumo_name(name)


def test_non_hex_ids_are_hashed_stably() -> None:
    assert names.bridge_name("net one") == names.bridge_name("net one")
    assert names.bridge_name("net one") != names.bridge_name("net two")


@pytest.mark.parametrize(
    "name",
    [
        "eth0",
        "lo",
        "br0",
        "kh-host1",
        "kb1f0e2d3c4b",
        "kb1f0e2d3c4b5x",
        "kz1f0e2d3c4b5",
        "kbXf0e2d3c4b5",
        "vxlan0",
        "kul0",
    ],
)
def test_foreign_names_are_not_kumo_names(name: str) -> None:
    assert not names.is_kumo_name(name)


def test_instance_namespaces_are_scoped_by_host() -> None:
    a = names.instance_netns("host-a", "p1")
    b = names.instance_netns("host-b", "p1")
    assert a != b
    assert names.is_instance_netns(a, "host-a")
    assert not names.is_instance_netns(a, "host-b")
    assert names.is_instance_netns(b)
    assert names.instance_port_id(a) == "p1"
    assert names.instance_port_id("kh-host1") is None
    # a host whose name extends another's never shares its prefix
    assert not names.is_instance_netns(names.instance_netns("host-a-2", "p"), "host-a")
