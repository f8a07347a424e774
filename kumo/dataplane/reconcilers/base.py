"""What every reconciler shares: desired state in, minimal kernel changes out.

A reconciler owns one kernel object type. ``update_desired(...)`` stores the
plan's part for that type and marks it dirty when it changed. A pass has two
phases so the driver can run creations in dependency order and deletions in
reverse: ``apply_updates()`` reads the ACTUAL objects back from the kernel,
creates or corrects desired ones, and remembers kumo-owned leftovers;
``apply_removals()`` removes those leftovers. ``apply()`` runs both.

A pass is full (everything of this type is read back and compared) or, between
resyncs, narrowed by a ``Scope``: the reconciler then reads back only the
objects its desired state changed since its last successful pass (where they
are now and where they were: leftovers of the previous desired state are
found there), the objects on links whose desired state changed (a recreated
link loses them), and whole namespaces new in the plan. Everything else keeps
the previous pass's verdict until the next full pass.

Each returns True when everything succeeded. A failure of one object never
stops the others; it is logged, kept in ``errors`` and the reconciler stays
dirty, so the driver retries it on the next pass. ``in_place`` holds the keys
of desired objects confirmed present in the kernel after the last pass.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kumo.compiler.plan import HOST_NS, ObjectKey
from kumo.dataplane.port import DataplaneError, KernelPort

log = logging.getLogger("kumo.dataplane")


@dataclass(frozen=True)
class Scope:
    """What an event pass reads back besides each reconciler's own changes."""

    fresh: frozenset[str] = frozenset()
    """Namespaces new in the plan: read whole."""
    devices: frozenset[tuple[str, str]] = frozenset()
    """(netns, name) of links whose desired state changed."""


def touched(objects: Iterable[object]) -> set[tuple[str, str]]:
    """(netns, device) of each object; the device is "" for objects on none."""
    out: set[tuple[str, str]] = set()
    for obj in objects:
        device = getattr(obj, "ifname", None)
        if device is None:
            device = getattr(obj, "name", "")
        out.add((str(getattr(obj, "netns", "")), str(device or "")))
    return out


class Reconciler(ABC):
    name = "?"

    def __init__(self, port: KernelPort, host: str) -> None:
        self.port = port
        self.host = host
        self.dirty = True
        self.in_place: set[ObjectKey] = set()
        self.errors: dict[ObjectKey, str] = {}
        self._leftovers: list[tuple[ObjectKey, Callable[[], None]]] = []
        self.scope: Scope | None = None
        """None: this pass reads everything back; else it is narrowed (above)."""
        self.changed: set[tuple[str, str]] = set()
        """(netns, device) of desired objects added, changed or removed since
        the last successful pass ("" when not on a device)."""

    def _set_desired(self, current: object, new: object) -> bool:
        if current != new:
            self.dirty = True
            return True
        return False

    def _note_changes(self, old: frozenset[object], new: frozenset[object]) -> None:
        self.changed |= touched(old ^ new)

    def apply(self) -> bool:
        ok = self.apply_updates()
        return self.apply_removals() and ok

    def apply_updates(self) -> bool:
        previous = self.in_place
        self.in_place = set()
        self.errors = {}
        self._leftovers = []
        self.updates()
        if self.scope is not None:
            # Objects examined this pass are in ``in_place`` or ``errors``
            # now; the others keep the last verdict.
            self.in_place |= {k for k in previous if k not in self.errors}
        return not self.errors

    def reads(self, netns: str) -> bool:
        """Whether this pass reads ``netns`` (or part of it) back."""
        scope = self.scope
        if scope is None or netns in scope.fresh:
            return True
        if any(ns == netns for ns, _ in self.changed):
            return True
        return any(ns == netns and self.uses_device(ns, dev) for ns, dev in scope.devices)

    def devices(self, netns: str) -> frozenset[str] | None:
        """The devices of ``netns`` this pass reads back; None: all of it."""
        scope = self.scope
        if scope is None or netns in scope.fresh:
            return None
        own = {dev for ns, dev in self.changed if ns == netns}
        if "" in own:
            return None
        own |= {dev for ns, dev in scope.devices if ns == netns and self.uses_device(ns, dev)}
        return frozenset(own)

    def uses_device(self, netns: str, device: str) -> bool:
        """Whether a desired object of this type lives on the device (it
        must be read again when the device changes)."""
        return False

    def apply_removals(self) -> bool:
        leftovers, self._leftovers = self._leftovers, []
        for key, remove in leftovers:
            self.attempt(key, remove, confirm=False)
        ok = not self.errors
        self.dirty = not ok
        if ok:
            self.changed = set()
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
