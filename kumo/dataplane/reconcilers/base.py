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
from typing import TypeVar

from kumo.compiler.plan import HOST_NS, Link, ObjectKey
from kumo.dataplane.port import DataplaneError, KernelPort
from kumo.dataplane.wired import Confirmed

log = logging.getLogger("kumo.dataplane")
T = TypeVar("T")


@dataclass(frozen=True)
class Scope:
    """What an event pass reads back besides each reconciler's own changes."""

    fresh: frozenset[str] = frozenset()
    """Namespaces new in the plan: read whole."""
    devices: frozenset[tuple[str, str]] = frozenset()
    """(netns, name) of links whose desired state changed."""
    named: frozenset[tuple[str, str]] = frozenset()
    """(netns, name) of links read back with everything on them, by every
    reconciler (a resync's slice of a namespace too large to read whole)."""


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
        self.in_place: set[ObjectKey] = Confirmed()
        self.errors: dict[ObjectKey, str] = {}
        self._leftovers: list[tuple[ObjectKey, Callable[[], None]]] = []
        self.scope: Scope | None = None
        """None: this pass reads everything back; else it is narrowed (above)."""
        self.changed: set[tuple[str, str]] = set()
        """(netns, device) of desired objects added, changed or removed since
        the last successful pass ("" when not on a device)."""

    def _set_desired(self, current: object, new: object) -> bool:
        if current is not new and current != new:
            self.dirty = True
            return True
        return False

    def _note_changes(self, old: frozenset[object], new: frozenset[object]) -> None:
        self.changed |= touched(difference(old, new))

    def apply(self) -> bool:
        ok = self.apply_updates()
        return self.apply_removals() and ok

    def apply_updates(self) -> bool:
        self.errors = {}
        self._leftovers = []
        if self.scope is None:
            # A plain set while everything is confirmed again (the wired
            # check starts over after a full pass: nothing to note).
            self.in_place = set()
            self._plan_reads(None)
        else:
            # Objects examined this pass end in ``in_place`` or ``errors``;
            # the others keep the last verdict.
            self._plan_reads(self.scope)
        self.updates()
        if self.scope is not None:
            self.in_place.difference_update(self.errors)
        elif not isinstance(self.in_place, Confirmed):
            self.in_place = Confirmed(self.in_place)
        return not self.errors

    _whole: frozenset[str] = frozenset()
    _narrow: dict[str, frozenset[str]] = {}

    def _plan_reads(self, scope: Scope | None) -> None:
        """Work out once per pass which namespaces and devices it reads."""
        if scope is None:
            return
        whole = set(scope.fresh)
        narrow: dict[str, set[str]] = {}
        for ns, dev in self.changed:
            if dev == "":
                whole.add(ns)
            else:
                narrow.setdefault(ns, set()).add(dev)
        for ns, dev in scope.devices:
            if self.uses_device(ns, dev):
                narrow.setdefault(ns, set()).add(dev)
        for ns, dev in scope.named:
            narrow.setdefault(ns, set()).add(dev)
        self._whole = frozenset(whole)
        self._narrow = {ns: frozenset(devs) for ns, devs in narrow.items() if ns not in whole}

    def read_namespaces(self) -> frozenset[str] | None:
        """The namespaces this pass reads (part of); None: every one."""
        if self.scope is None:
            return None
        return self._whole | self._narrow.keys()

    def namespaces_to_read(self, desired: Iterable[str]) -> list[str]:
        """``desired`` namespaces and the host's, narrowed to what this pass
        reads, host first."""
        namespaces = set(desired) | {HOST_NS}
        narrowed = self.read_namespaces()
        if narrowed is not None:
            namespaces &= narrowed
        return sorted(namespaces, key=ns_order)

    def reads(self, netns: str) -> bool:
        """Whether this pass reads ``netns`` (or part of it) back."""
        return self.scope is None or netns in self._whole or netns in self._narrow

    def devices(self, netns: str) -> frozenset[str] | None:
        """The devices of ``netns`` this pass reads back; None: all of it."""
        if self.scope is None or netns in self._whole:
            return None
        return self._narrow.get(netns, frozenset())

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

    def read_failed(self, netns: str, wanted: Iterable[ObjectKey], exc: DataplaneError) -> None:
        """Reading ``netns`` back failed: so did every object wanted there,
        and the search for leftovers, under a key of its own (a namespace
        with nothing wanted but leftovers to remove stays dirty too)."""
        keys = list(wanted)
        for key in keys:
            self.fail(key, exc)
        if not keys:
            self.fail((self.name, netns, "read"), exc)

    def leftover(self, key: ObjectKey, remove: Callable[[], None]) -> None:
        self._leftovers.append((key, remove))

    @property
    def pending_removals(self) -> int:
        return len(self._leftovers)


_DIFFS: list[tuple[frozenset[object], frozenset[object], frozenset[object]]] = []


def difference(old: frozenset[T], new: frozenset[T]) -> frozenset[T]:
    """``old ^ new``; the last few answers are kept (several reconcilers and
    the driver diff the same plan parts)."""
    if old is new:
        return frozenset()
    for a, b, known in _DIFFS:
        if a is old and b is new:
            return known  # type: ignore[return-value]
    diff = old ^ new
    _DIFFS.insert(0, (old, new, diff))
    del _DIFFS[4:]
    return diff


_LINKS_BY_NS: list[tuple[frozenset[Link], dict[str, dict[str, Link]]]] = []


def links_by_namespace(links: frozenset[Link]) -> dict[str, dict[str, Link]]:
    """Links per namespace, by name; the last answer is kept (the links and
    masters reconcilers ask about the same desired links, pass after pass)."""
    if _LINKS_BY_NS and _LINKS_BY_NS[0][0] is links:
        return _LINKS_BY_NS[0][1]
    by_ns: dict[str, dict[str, Link]] = {}
    if _LINKS_BY_NS and few_changes(_LINKS_BY_NS[0][0], links):
        # An event pass: patch the namespaces whose links changed (a copy of
        # each: the last answer stays as it was).
        old, known = _LINKS_BY_NS[0]
        by_ns.update(known)
        gone, came = old - links, links - old
        for ns in {x.netns for x in gone} | {x.netns for x in came}:
            by_ns[ns] = dict(by_ns.get(ns, {}))
        for x in gone:
            if by_ns[x.netns].get(x.name) == x:
                del by_ns[x.netns][x.name]
        for x in came:
            by_ns[x.netns][x.name] = x
        for ns in [ns for ns, named in by_ns.items() if not named]:
            del by_ns[ns]
    else:
        for link in links:
            by_ns.setdefault(link.netns, {})[link.name] = link
    _LINKS_BY_NS[:] = [(links, by_ns)]
    return by_ns


def links_wanted(
    by_ns: dict[str, dict[str, Link]], netns: str, devices: frozenset[str] | None
) -> list[Link]:
    """The desired links of ``netns`` (only those named in ``devices``
    unless None)."""
    links = by_ns.get(netns, {})
    if devices is None:
        return list(links.values())
    return [x for name in devices if (x := links.get(name)) is not None]


def few_changes(old: frozenset[T], new: frozenset[T]) -> bool:
    """Whether ``new`` differs from ``old`` in a few objects (an event pass),
    so that patching what was worked out for ``old`` beats starting over."""
    return len(difference(old, new)) * 8 <= len(new)


def describe_key(key: ObjectKey) -> str:
    return " ".join(part or "host" for part in key)


def ns_order(netns: str) -> tuple[int, str]:
    """The host namespace first, then the others by name."""
    return (0 if netns == HOST_NS else 1, netns)
