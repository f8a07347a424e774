"""Networking v2.0: /v2.0/floatingips."""

from kumo.api.networking.resource import Collection, routes
from kumo.network.l3 import floatingip_service as fs
from kumo.network.l3.views import ATTRIBUTES

router = routes(
    Collection(
        collection="floatingips",
        member="floatingip",
        attributes=ATTRIBUTES["floatingips"],
        sql_filters=frozenset(fs.FLOATINGIP_SQL_FILTERS),
        list_items=fs.list_floatingips,
        show=fs.show_floatingip,
        create=fs.create_floatingips,
        update=fs.update_floatingip,
        delete=fs.delete_floatingip,
    )
)
