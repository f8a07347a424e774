"""Networks and their address space: networks, subnets, segments, IPAM."""
