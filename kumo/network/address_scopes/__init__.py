"""Address scopes: address spaces routed to each other without translation.

``scopes`` holds the rows (create, update, delete, visibility); ``service``
the calls the API makes. Subnet pools bind to a scope (their prefixes are
then unique in it); a subnet takes its pool's scope, a network shows the
scope of its subnets per IP version (``ipv4_address_scope``), and a router
does not SNAT between a subnet and its external network when both are in
the same scope (the router events carry each interface's scope).
"""
