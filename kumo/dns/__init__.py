"""The internal resolver of one host: the wire format (``codec``), the
answers (``answers``: pure, a zone and a query in, a reply out) and the
server (``server``: UDP sockets on 169.254.169.254:53 and
[fe80::a9fe:a9fe]:53 in each metadata namespace of the plan, one thread)."""
