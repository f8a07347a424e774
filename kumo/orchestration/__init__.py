"""Orchestration: Heat-compatible stacks.

Inputs: a HOT template (YAML or JSON), parameters, client-side files, and
the caller's ``RequestContext``. Outputs: cloud objects made through the
other services' facades (``NetworkService``, ``ComputeService``) with the
creator's own rights, and durable stack records (stacks, resources,
events) in the database.

Stages, each its own module:

- ``template``: parse and check the document, the version table.
- ``parameters``: types, defaults and constraints of the inputs.
- ``functions``: the intrinsic functions, parsed once into ``Call`` nodes,
  resolved later against a ``Scope`` (pure; no I/O).
- ``graph``: dependencies between resources, orders for create and delete.
- ``diff``: what an update does to each resource (keep, update, replace...).
- ``resources/``: one plugin per resource type, acting through the services.
- ``store``: the stack, resource and event rows.
- ``engine``: runs an operation over the graph in threads, persists every
  step, holds a lease on the stacks it works on.
- ``delegation``: the creator's rights, rebuilt for each step.
- ``service``: the facade the API calls (policy, validation, views).
"""
