"""The internal resolver of one host: the wire format (``codec``), the
answers (``answers``: pure, a zone and a query in, a reply out) and the
server (``server``: a UDP socket on 169.254.169.254:53 in each metadata
namespace of the plan, one thread)."""
