"""The lab: one machine becomes a small data centre of network namespaces.

``klab-ul`` holds the underlay bridge (192.0.2.0/24), ``klab-phys`` the
provider segment (physnet ``physnet1``), ``klab-ext`` the external segment
(physnet ``external``, 203.0.113.0/24) with ``klab-up`` standing for the
Internet at 203.0.113.1. Each hypervisor host is a namespace ``klab-hN``
with ``eth0`` on the underlay, ``eth1`` on the provider segment and
``eth2`` on the external segment; ``kumo up --physnet NAME:HOST,...`` adds
a physical network ``klab-pnK`` on the hosts named only (their ``eth3``...).

The agents run in the machine's own namespace, because they must reach the
API on loopback, and act on their host namespace through netlink sockets
opened inside it; instances are namespaces the agents create themselves.
Nothing is added to the machine's own namespace but the API's loopback
listener.
"""
