"""Networking flavors (``flavors``, ``l3-flavors``): flavors of an advanced
service, the service profiles bound to them, and routers made with one."""
