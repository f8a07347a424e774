"""Subnet pools: prefixes subnets are carved from.

``prefixes`` is the pure prefix arithmetic (free blocks, best-fit
allocation, quota sizes); ``pools`` the rows (create, update, delete,
add_prefixes / remove_prefixes, onboarding a network's subnets, default
pools, the address scope a pool is bound to); ``allocate`` what a subnet
create asks of a pool (a given CIDR checked, or a free prefix of a given
length found) under a lock on the pool's row, so concurrent creates never
take overlapping prefixes; ``service`` the calls the API makes.
"""
