"""Networking service layer (Neutron v2.0 semantics): networks, subnets, ports, IPAM."""
