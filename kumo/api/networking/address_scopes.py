"""Networking v2.0: /v2.0/address-scopes."""

from kumo.api.networking.resource import Collection, routes
from kumo.network.address_scopes import service as scopes

router = routes(
    Collection(
        collection="address_scopes",
        member="address_scope",
        path="address-scopes",
        attributes=scopes.ATTRIBUTES,
        sql_filters=frozenset(scopes.SQL_FILTERS),
        list_items=scopes.list_scopes,
        show=scopes.show_scope,
        create=scopes.create_scopes,
        update=scopes.update_scope,
        delete=scopes.delete_scope,
    )
)
