"""QoS: policies, their rules, and the policy a port or network names.

``policies`` holds the policy rows (create, update, delete, the project's
default policy, sharing through RBAC); ``rules`` the bandwidth-limit,
packet-rate-limit, DSCP-marking, minimum-bandwidth and minimum-packet-rate
rules of a policy; ``attach`` the ``qos_policy_id`` of ports
and networks (a port's own policy wins over its network's) and the
effective rules each port event carries to the agents
(``kumo_qos_rules``); ``minimum`` minimum bandwidth and packet rate rules as
scheduling attributes (ports' ``resource_request`` in request groups, what
hosts offer and have given);
``service`` the calls the API makes. The agent's
compiler (``kumo.compiler.qos``) turns a local port's rules into limits
and marks on the port's device.
"""
