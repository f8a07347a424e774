"""DHCPv4 for the ports of one host: the wire format (``codec``), the
answers (``server``: pure, lease in, reply out) and the responder thread on
a raw socket in the host namespace (``responder``)."""
