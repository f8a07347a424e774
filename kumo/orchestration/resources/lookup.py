"""Names to ids, as Heat resolves them: a property may name a network, subnet,
flavor, image or key pair by name or by id. Also the custom constraints of
parameters (``nova.flavor``...). Every lookup uses the caller's context."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kumo.compute.microversion import parse as microversion
from kumo.context import RequestContext
from kumo.errors import NotFound
from kumo.network.l3 import floatingip_service, router_service
from kumo.network.secgroups import service as secgroup_service
from kumo.orchestration.errors import StackValidationFailed

if TYPE_CHECKING:
    from kumo.runtime import Runtime

COMPUTE_VERSION = microversion("2.79")


def _pick(items: list[dict[str, Any]], value: str, what: str, key: str = "name") -> str:
    by_id = [i for i in items if i.get("id") == value]
    if by_id:
        return str(by_id[0]["id"])
    named = [i for i in items if i.get(key) == value]
    if len(named) > 1:
        raise StackValidationFailed(f"Multiple {what}s named {value!r}; use an id")
    if not named:
        raise NotFound(f"The {what} ({value}) could not be found.", kind="EntityNotFound")
    return str(named[0]["id"])


def _by_id_or_name(
    show: Callable[[str], dict[str, Any]],
    named: Callable[[dict[str, list[str]]], list[dict[str, Any]]],
    value: str,
    what: str,
) -> str:
    """The object with id ``value``, else the one named ``value``: one show, then a
    list filtered by name (listing every object per lookup made a stack's
    creates slower the more it had made; docs/PERFORMANCE.md)."""
    try:
        return str(show(value)["id"])
    except NotFound:
        return _pick(named({"name": [value]}), value, what)


def network(rt: Runtime, ctx: RequestContext, value: str) -> str:
    return _by_id_or_name(lambda v: rt.network.show_network(ctx, v),
                          lambda q: rt.network.list_networks(ctx, q), value, "network")  # fmt: skip


def subnet(rt: Runtime, ctx: RequestContext, value: str) -> str:
    return _by_id_or_name(lambda v: rt.network.show_subnet(ctx, v),
                          lambda q: rt.network.list_subnets(ctx, q), value, "subnet")  # fmt: skip


def port(rt: Runtime, ctx: RequestContext, value: str) -> str:
    return _by_id_or_name(lambda v: rt.network.show_port(ctx, v),
                          lambda q: rt.network.list_ports(ctx, q), value, "port")  # fmt: skip


def router(rt: Runtime, ctx: RequestContext, value: str) -> str:
    return _pick(router_service.list_routers(rt.network, ctx, {}), value, "router")


def security_group(rt: Runtime, ctx: RequestContext, value: str) -> str:
    return _by_id_or_name(
        lambda v: secgroup_service.show_group(rt.network, ctx, v),
        lambda q: secgroup_service.list_groups(rt.network, ctx, q), value, "security group",
    )  # fmt: skip


def floatingip(rt: Runtime, ctx: RequestContext, value: str) -> str:
    items = floatingip_service.list_floatingips(rt.network, ctx, {})
    return _pick(items, value, "floating IP", key="floating_ip_address")


def flavor(rt: Runtime, ctx: RequestContext, value: str) -> str:
    items = rt.compute.list_flavors(ctx, {}, "", COMPUTE_VERSION, detail=False)
    return _pick(items, value, "flavor")


def image(rt: Runtime, ctx: RequestContext, value: str) -> str:
    return _pick(rt.image.list_images(ctx, {}), value, "image")


def keypair(rt: Runtime, ctx: RequestContext, value: str) -> str:
    rt.compute.show_keypair(ctx, value, None, COMPUTE_VERSION)
    return value


FINDERS = {
    "nova.flavor": flavor,
    "glance.image": image,
    "neutron.network": network,
    "nova.keypair": keypair,
}


class ServiceLookups:
    """``parameters.Lookups`` over the real services, with the caller's rights."""

    def __init__(self, rt: Runtime, ctx: RequestContext) -> None:
        self.rt, self.ctx = rt, ctx

    def exists(self, kind: str, value: str) -> bool:
        try:
            FINDERS[kind](self.rt, self.ctx, value)
        except (NotFound, StackValidationFailed):
            return False
        return True
