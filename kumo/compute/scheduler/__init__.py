"""The scheduler: filters then weighers over the compute hosts, in the caller's transaction.

``hosts.load`` reads every agent (locking their rows, so two concurrent
creates cannot both claim the last room on a host) with the resources its
servers use; ``select`` keeps the hosts every filter passes and returns the
one the weighers rank first. Filters and weighers are plain functions named
in ``Settings.scheduler_filters`` / ``scheduler_weighers``.
"""

from kumo.compute.scheduler.hosts import HostState, RequestSpec
from kumo.compute.scheduler.select import NO_VALID_HOST, select

__all__ = ["NO_VALID_HOST", "HostState", "RequestSpec", "select"]
