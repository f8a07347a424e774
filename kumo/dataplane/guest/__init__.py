"""What runs inside instance namespaces (their "guest OS"): the DHCP client and its event script."""
