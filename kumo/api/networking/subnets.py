"""Networking v2.0: /v2.0/subnets."""

from kumo.api.networking.resource import Collection, routes
from kumo.network.service import SUBNET_HIDDEN_FILTERS, SUBNET_SQL_FILTERS, NetworkService
from kumo.network.views import ATTRIBUTES

router = routes(
    Collection(
        collection="subnets",
        member="subnet",
        attributes=ATTRIBUTES["subnets"],
        sql_filters=frozenset(SUBNET_SQL_FILTERS),
        list_items=NetworkService.list_subnets,
        service_filters=SUBNET_HIDDEN_FILTERS,
        show=NetworkService.show_subnet,
        create=NetworkService.create_subnets,
        update=NetworkService.update_subnet,
        delete=NetworkService.delete_subnet,
    )
)
