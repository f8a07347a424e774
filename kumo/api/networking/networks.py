"""Networking v2.0: /v2.0/networks."""

from kumo.api.networking.resource import Collection, routes
from kumo.network.service import NETWORK_SQL_FILTERS, NetworkService
from kumo.network.views import ATTRIBUTES

router = routes(
    Collection(
        collection="networks",
        member="network",
        attributes=ATTRIBUTES["networks"],
        sql_filters=frozenset(NETWORK_SQL_FILTERS),
        list_items=NetworkService.list_networks,
        show=NetworkService.show_network,
        create=NetworkService.create_networks,
        update=NetworkService.update_network,
        delete=NetworkService.delete_network,
    )
)
