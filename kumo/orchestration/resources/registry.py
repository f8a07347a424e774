"""Every resource type kumo knows, by Heat type name."""

from __future__ import annotations

from kumo.orchestration.resources import cinder, heat, neutron, nova, software, testing
from kumo.orchestration.resources.base import Plugin

TYPES: dict[str, type[Plugin]] = {
    p.type_name: p
    for p in (
        *heat.PLUGINS,
        *neutron.PLUGINS,
        *nova.PLUGINS,
        *cinder.PLUGINS,
        *software.PLUGINS,
        *testing.PLUGINS,
    )
}


def known(type_name: str) -> bool:
    return type_name in TYPES


def plugin(type_name: str) -> Plugin:
    return TYPES[type_name]()


def update_allowed(type_name: str) -> frozenset[str]:
    return TYPES[type_name].update_allowed()
