"""Ports: the port API, plain-SQL port rows, a port's security groups."""
