"""Networking v2.0: /v2.0/ports."""

from kumo.api.networking.resource import Collection, routes
from kumo.network.service import PORT_EXACT_FILTERS, PORT_SQL_FILTERS, NetworkService
from kumo.network.views import ATTRIBUTES

router = routes(
    Collection(
        collection="ports",
        member="port",
        attributes=ATTRIBUTES["ports"],
        sql_filters=frozenset(PORT_SQL_FILTERS),
        list_items=NetworkService.list_ports,
        show=NetworkService.show_port,
        create=NetworkService.create_ports,
        update=NetworkService.update_port,
        delete=NetworkService.delete_port,
        cached_views=True,
        exact_sql_filters=PORT_EXACT_FILTERS,
    )
)
