"""Networking v2.0: /v2.0/security-groups and /v2.0/security-group-rules."""

from kumo.api.networking.resource import Collection, routes
from kumo.api.routing import GatedRouter
from kumo.network.secgroups import service as sg
from kumo.network.secgroups.views import ATTRIBUTES

router = GatedRouter()
router.include_router(
    routes(
        Collection(
            collection="security_groups",
            path="security-groups",
            member="security_group",
            attributes=ATTRIBUTES["security_groups"],
            sql_filters=frozenset(sg.GROUP_SQL_FILTERS),
            list_items=sg.list_groups,
            show=sg.show_group,
            create=sg.create_groups,
            update=sg.update_group,
            delete=sg.delete_group,
        )
    )
)
router.include_router(
    routes(
        Collection(
            collection="security_group_rules",
            path="security-group-rules",
            member="security_group_rule",
            attributes=ATTRIBUTES["security_group_rules"],
            sql_filters=frozenset(sg.RULE_SQL_FILTERS),
            list_items=sg.list_rules,
            show=sg.show_rule,
            create=sg.create_rules,
            update=sg.update_rule,
            delete=sg.delete_rule,
        )
    )
)
