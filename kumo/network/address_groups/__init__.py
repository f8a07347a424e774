"""Address groups: named CIDR lists as the remote end of security-group rules.

``groups`` holds the rows' create, update, delete and the address changes
(each re-emits the security groups whose rules name the address group, so
agents recompile the sets the rules match); ``service`` the calls the API
makes. The data plane sees an address group as the addresses carried in
the rules of the security-group events (``kumo_remote_addresses``), which
the firewall compiler turns into an address set per group and family.
"""
