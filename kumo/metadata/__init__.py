"""The metadata service at 169.254.169.254 and fe80::a9fe:a9fe, answered by
each host's agent for its own instances (no central proxy).

``documents`` (pure): a server body, its key and the agent's view of its
ports → ``meta_data.json``, ``network_data.json``, user data and the EC2
tree, and the reply to a path. ``server``: two listening sockets (IPv4,
IPv6) per metadata namespace of the plan (``kumo/compiler/metadata.py`` makes the
namespaces), the caller identified by namespace and source address.
``connections``: every client connection read and written by one thread
without blocking, with caps per caller and in total and short deadlines,
so one instance's slow clients never hold up another's request.
``source``: servers and keys from the compute API, cached briefly.
"""
