"""L3: routers, their interfaces and gateway hosts, floating IPs, auto-allocated topologies."""
