"""The pool-aware volume scheduler: pure functions, no I/O.

Input: the pools the storage hosts reported (``PoolState``: capacity,
what is provisioned there, capabilities, zone, whether its host is up)
and what a volume needs (``Request``). Stages, in order:

1. filters (``filters.py``) drop pools that cannot take the volume
   (host down or disabled, availability zone, capacity under thin
   provisioning and the reserved percentage, the type's extra specs
   against the pool's capabilities), each with a reason;
2. weighers (``weighers.py``) score the rest (capacity, allocated
   capacity, volume count), each normalised to 0..1 and multiplied;
3. the best pool wins (ties: the first by host and pool name).

A replicated volume (``replication_enabled='<is> True'`` in its type's
extra specs) is placed twice by ``place_pair``: its primary, then its
replica among the pools of the other storage hosts.

Output: a ``Placement`` (``PairPlacement``) or ``NoValidPool`` with the reasons, which the
service layer turns into the volume's ``error`` status and a message.
"""

from kumo.volume.scheduler.filters import wants_replication
from kumo.volume.scheduler.model import (
    NoValidPool,
    PairPlacement,
    Placement,
    PoolState,
    Request,
)
from kumo.volume.scheduler.scheduler import place, place_pair

__all__ = [
    "NoValidPool",
    "PairPlacement",
    "Placement",
    "PoolState",
    "Request",
    "place",
    "place_pair",
    "wants_replication",
]
