"""RBAC policies: a project shares one of its objects with other projects.

``access`` is the read side every visibility decision asks (which of a
project's grants apply to which objects); ``policies`` the rows' create,
update and delete with Neutron's checks (owner only, duplicates, rules in
use); ``service`` the calls the API makes. A network's ``shared`` flag and
its wildcard ``access_as_shared`` rule are kept equal here, as Neutron
keeps them: setting one sets the other.
"""
