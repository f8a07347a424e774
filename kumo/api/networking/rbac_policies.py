"""Networking v2.0: /v2.0/rbac-policies (sharing objects with other projects)."""

from kumo.api.networking.resource import Collection, routes
from kumo.network.rbac import service as rbac

router = routes(
    Collection(
        collection="rbac_policies",
        member="rbac_policy",
        path="rbac-policies",
        attributes=rbac.ATTRIBUTES,
        sql_filters=frozenset(rbac.SQL_FILTERS),
        list_items=rbac.list_policies,
        show=rbac.show_policy,
        create=rbac.create_policies,
        update=rbac.update_policy,
        delete=rbac.delete_policy,
    )
)
