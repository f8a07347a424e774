"""Nova v2.1 semantics: flavors, keypairs, servers, server groups, scheduling, quotas.

Inputs: calls from ``kumo/api/compute`` with a ``RequestContext`` and the
negotiated microversion. Outputs: rows in ``kumo/db/compute_models.py`` and
ports made through ``kumo/network`` (with their outbox events), in the same
transaction. A server's status is derived on read from its ports.
"""
