"""What every reconciler shares: desired state in, minimal kernel changes out.

A reconciler owns one kernel object type. ``update_desired(...)`` stores the
plan's part for that type and marks it dirty when it changed. A pass has two
phases so the driver can run creations in dependency order and deletions in
reverse: ``apply_updates()`` reads the ACTUAL objects back from the kernel,
creates or corrects desired ones, and remembers kumo-owned leftovers;
``apply_removals()`` removes those leftovers. ``apply()`` runs both.

Each returns True when everything succeeded. A failure of one object never
stops the others; it is logged, kept in ``errors`` and the reconciler stays
dirty, so the driver retries it on the next pass. ``in_place`` holds the keys
of desired objects confirmed present in the kernel after the last pass.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable

from kumo.compiler.plan import HOST_NS, ObjectKey
from kumo.dataplane.port import DataplaneError, KernelPort

log = logging.getLogger("kumo.dataplane")


class Reconciler(ABC):
    name = "?"

    def __init__(self, port: KernelPort, host: str) -> None:
        self.port = port
        self.host = host
        self.dirty = True
        self.in_place: set[ObjectKey] = set()
        self.errors: dict[ObjectKey, str] = {}
        self._leftovers: list[tuple[ObjectKey, Callable[[], None]]] = []
        self.only: frozenset[str] | None = None
        """Namespaces this pass reads besides the host's own; None: all. The
        driver narrows a pass to the namespaces whose desired objects changed;
        objects elsewhere keep the previous pass's verdict until a full pass."""

    def _set_desired(self, current: object, new: object) -> bool:
        if current != new:
            self.dirty = True
            return True
        return False

    def apply(self) -> bool:
        ok = self.apply_updates()
        return self.apply_removals() and ok

    def apply_updates(self) -> bool:
        previous = self.in_place
        self.in_place = set()
        self.errors = {}
        self._leftovers = []
        self.updates()
        if self.only is not None:
            self.in_place |= {k for k in previous if len(k) > 2 and not self.reads(k[1])}
        return not self.errors

    def reads(self, netns: str) -> bool:
        """Whether this pass reads ``netns`` back from the kernel."""
        return self.only is None or netns == HOST_NS or netns in self.only

    def apply_removals(self) -> bool:
        leftovers, self._leftovers = self._leftovers, []
        for key, remove in leftovers:
            self.attempt(key, remove, confirm=False)
        ok = not self.errors
        self.dirty = not ok
        return ok

    @abstractmethod
    def updates(self) -> None:
        """Read actual state, fix desired objects, record leftovers."""

    # -- helpers for subclasses -----------------------------------------------
    def attempt(self, key: ObjectKey, action: Callable[[], None], *, confirm: bool = True) -> bool:
        try:
            action()
        except DataplaneError as exc:
            self.fail(key, exc)
            return False
        if confirm:
            self.in_place.add(key)
        return True

    def fail(self, key: ObjectKey, exc: DataplaneError | str) -> None:
        self.errors[key] = str(exc)
        log.warning("%s: %s failed: %s", self.name, describe_key(key), exc)

    def leftover(self, key: ObjectKey, remove: Callable[[], None]) -> None:
        self._leftovers.append((key, remove))

    @property
    def pending_removals(self) -> int:
        return len(self._leftovers)


def describe_key(key: ObjectKey) -> str:
    return " ".join(part or "host" for part in key)


def ns_order(netns: str) -> tuple[int, str]:
    """The host namespace first, then the others by name."""
    return (0 if netns == HOST_NS else 1, netns)
