"""Floating IP port forwarding: a floating IP's protocol and external port
sent on to one internal port's fixed IP and port.

``forwardings`` holds the rows (create, update, delete) with Neutron's
checks: the floating IP has no port of its own, the internal port has no
floating IP, its address is one of its fixed IPs, a router joins its
subnet to the floating IP's network (and it is the floating IP's router,
once it has one), and neither the outside (floating IP, protocol,
external port) nor the inside (port, address, protocol, internal port)
is taken twice. ``service`` holds the calls the API makes.
"""
