"""Networking v2.0: /v2.0/default-security-group-rules (the templates of new
security groups' rules)."""

from kumo.api.networking.resource import Collection, routes
from kumo.network.secgroups import templates

router = routes(
    Collection(
        collection="default_security_group_rules",
        member="default_security_group_rule",
        path="default-security-group-rules",
        attributes=templates.ATTRIBUTES,
        sql_filters=frozenset(),
        list_items=templates.list_rules,
        show=templates.show_rule,
        create=templates.create_rules,
        update=templates.update_rule,
        delete=templates.delete_rule,
    )
)
