"""Distributed SNAT: port-block leases of routers' external addresses.

``leases`` hands blocks to the hosts that ask (``allocate``), takes them
back when a host returns them (``release``) or when its agent has been dead
long enough (``reclaim``), and renders them (``views``) for the router's
admin view and the watch feed. The hosts translate with their blocks
(``kumo.compiler.snat``); the gateways forward return traffic by them.
"""
