"""Routes kumo wrote (main table, protocol ``ROUTE_PROTO``): replaced when
their gateway or device differ, removed when no longer desired. Routes with
any other protocol (the kernel's connected routes, the operator's) are never
read as kumo's."""

from __future__ import annotations

from collections.abc import Iterable

from kumo.compiler.plan import Route
from kumo.dataplane.reconcilers.keyed import KeyedReconciler


class RouteReconciler(KeyedReconciler[Route]):
    name = "routes"
    per_device = False

    def read(self, netns: str) -> Iterable[Route]:
        return self.port.list_routes(netns)

    def owned(self, obj: Route) -> bool:
        return True

    def write(self, obj: Route) -> None:
        self.port.replace_route(obj)

    def remove(self, obj: Route) -> None:
        self.port.del_route(obj)

    def order(self, obj: Route) -> tuple[object, ...]:
        # Device routes first: a route via a gateway outside every subnet
        # needs the on-link route to that gateway.
        return (obj.gateway is not None, obj.key)
