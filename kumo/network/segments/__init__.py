"""Network segments (Neutron's ``segment`` extension): the L2 segments of a network.

Every network has a first segment, made with it from its provider
attributes; an admin adds more to make a routed provider network, whose
subnets each belong to one segment (``segment_id``). ``rows`` holds the
segment rows' create, update and delete and the checks subnets make
against them; ``service`` the calls the API makes. Each segment reserves
its VNI, VLAN or flat physical network like a network does
(``core.segments``).
"""
