"""HTTP only: parse, authenticate, authorise, call the service layer, render.

Identity v3 is mounted at ``/identity``, Networking v2.0 at ``/networking``,
Compute v2.1 at ``/compute``, the agents' internal API at ``/internal/v1``.
"""
