"""Trunks (VLAN-aware instances): a parent port whose instance reaches
other networks through subports, each told apart by a VLAN id on the parent.

``subports`` checks and binds the carried ports (Neutron's rules: a port
is in at most one trunk, as parent or subport; a subport is not in use by
a device; a (segmentation type, id) once per trunk; a subport's network
MTU not above the parent's); subports follow the parent's
``binding:host_id`` and carry ``device_owner`` ``trunk:subport``.
``trunks`` holds the trunk rows (create, update, delete, the view);
``service`` the calls the API makes. Port events of subports carry
``kumo_trunk`` (the parent and VLAN id), which is all the parent's host
needs to wire them (``kumo.compiler.trunks``).
"""
