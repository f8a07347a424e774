"""Highly available router gateways: host liveness, fencing, connection-state sync."""
