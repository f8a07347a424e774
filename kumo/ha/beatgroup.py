"""Which hosts beat: the gateway hosts of HA routers, and a few witnesses.

Pure. Liveness decides each highly available router's active gateway
among its gateway hosts; only they, and hosts that break ties for quorum,
need to hear one another. Every host computes the same group from the
same view (all hosts, all HA routers' gateway hosts), so a host knows
whether it is in the group and, if so, whom to beat to, without asking.

- The *gateway hosts*: the hosts marked as such (their agents' ``gateway``
  configuration, which every host sees on the ``agents`` topic), and any
  other host listed among the gateway hosts of an HA router in this host's
  view (a host sees only the routers it serves, so the marks are what
  make every host compute the same group).
- The *witnesses*: the first ``witnesses`` other hosts, by name. They
  decide nothing of their own; their beats let a gateway host that is
  cut off from the others tell that it is the one cut off (a partition of
  two gateway hosts alone has no majority either way).

A host outside the group sends and hears no beats and leaves every
router's active gateway where the control plane last saw it (the active
host reports its state to the API, whose router event moves the central
ports' binding). The number of beats per interval is ``G * (G - 1)`` for a
group of ``G``, whatever the number of hosts: with 1,000 hosts and four
gateway hosts, 42 instead of 999,000.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

WITNESSES = 3
"""Witnesses besides the gateway hosts."""


def beat_group(
    hosts: Iterable[str],
    routers: Mapping[str, tuple[str, ...]],
    witnesses: int = WITNESSES,
    marked: Iterable[str] = (),
) -> frozenset[str]:
    """The hosts that beat, of ``hosts`` (every known host), given the HA
    routers' gateway hosts and the hosts ``marked`` as gateway hosts;
    empty when there is no gateway host."""
    known = set(hosts)
    gateways = {h for gw in routers.values() for h in gw if h in known}
    gateways |= {h for h in marked if h in known}
    if not gateways:
        return frozenset()
    others = sorted(known - gateways)[: max(0, witnesses)]
    return frozenset(gateways | set(others))
