"""Which ports are wired, worked out from what changed since the last time.

A port is wired when every object its ``PortWiring`` requires is in some
reconciler's ``in_place``. Asking that of 1,000 ports after every pass (a
union of every reconciler's keys, then a subset test per port) cost more
than the pass's own work on a busy host; so each reconciler's ``in_place``
is a ``Confirmed`` set, which notes the keys that came into it or left it,
and ``WiredPorts`` looks again only at the wirings new in the plan and
those requiring a noted key. Anything it cannot follow (a reconciler's set
replaced, as a full pass does; many wirings changed) makes it work
everything out again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from kumo.compiler.plan import ObjectKey, PortWiring


class Confirmed(set[ObjectKey]):
    """A set of keys that notes each key added or removed (``noted``; None:
    changed in a way not followed, look at everything)."""

    def __init__(self, keys: Iterable[ObjectKey] = ()) -> None:
        super().__init__(keys)
        self.noted: set[ObjectKey] | None = set()

    def _note(self, key: ObjectKey) -> None:
        if self.noted is not None:
            self.noted.add(key)

    def add(self, key: ObjectKey) -> None:
        if key not in self:
            super().add(key)
            self._note(key)

    def discard(self, key: object) -> None:
        if key in self:
            super().discard(key)
            self._note(key)  # type: ignore[arg-type]

    def remove(self, key: ObjectKey) -> None:
        super().remove(key)
        self._note(key)

    def update(self, *others: Iterable[ObjectKey]) -> None:
        for keys in others:
            for key in keys:
                self.add(key)

    def difference_update(self, *others: Iterable[Any]) -> None:
        for keys in others:
            for key in list(keys):
                self.discard(key)

    def _unfollowed(self) -> None:
        self.noted = None

    def clear(self) -> None:
        super().clear()
        self._unfollowed()

    def pop(self) -> ObjectKey:
        self._unfollowed()
        return super().pop()

    def intersection_update(self, *others: Iterable[Any]) -> None:
        super().intersection_update(*others)
        self._unfollowed()

    def symmetric_difference_update(self, other: Iterable[ObjectKey]) -> None:
        super().symmetric_difference_update(other)
        self._unfollowed()

    def __ior__(self, other: Any) -> Confirmed:  # type: ignore[override,misc]
        self.update(other)
        return self

    def __isub__(self, other: Any) -> Confirmed:  # type: ignore[misc]
        self.difference_update(other)
        return self

    def __iand__(self, other: Any) -> Confirmed:  # type: ignore[misc]
        self.intersection_update(other)
        return self

    def __ixor__(self, other: Any) -> Confirmed:  # type: ignore[override,misc]
        self.symmetric_difference_update(other)
        return self


class WiredPorts:
    """The wired ports of the latest plan, kept from one question to the next."""

    def __init__(self) -> None:
        self._wiring: frozenset[PortWiring] | None = None
        self._sets: tuple[set[ObjectKey], ...] = ()
        self._needing: dict[ObjectKey, set[PortWiring]] = {}
        """Key → the wirings that require it."""
        self._met: set[PortWiring] = set()
        self._ports: dict[str, int] = {}
        """Port id → how many of its wirings are met."""
        self._answer: frozenset[str] = frozenset()
        self._all: dict[str, int] = {}
        """Port id → how many wirings it has."""
        self._unwired: frozenset[str] | None = frozenset()

    def wired(
        self, wiring: frozenset[PortWiring], in_place: Sequence[set[ObjectKey]]
    ) -> frozenset[str]:
        """Ports whose every required object is in one of ``in_place``."""
        sets = tuple(in_place)
        known = self._wiring
        follow = (
            known is not None
            and len(sets) == len(self._sets)
            and all(a is b for a, b in zip(sets, self._sets, strict=True))
            and all(isinstance(s, Confirmed) and s.noted is not None for s in sets)
        )
        if follow and known is not None:
            gone, came = known - wiring, wiring - known
            follow = (len(gone) + len(came)) * 8 <= len(wiring)
        if not follow or known is None:
            self._start(wiring, sets)
        else:
            look = set(came)
            for w in gone:
                self._drop(w)
                self._uncount(self._all, w.port_id)
            for w in came:
                self._all[w.port_id] = self._all.get(w.port_id, 0) + 1
            for s in sets:
                noted = s.noted if isinstance(s, Confirmed) else None
                for key in noted or ():
                    look |= self._needing.get(key, set())
            for w in came:
                for key in w.requires:
                    self._needing.setdefault(key, set()).add(w)
            for w in look:
                self._check(w, sets)
            if look or gone:
                self._answer = frozenset(self._ports)
                self._unwired = None
        self._wiring = wiring
        self._sets = sets
        for s in sets:
            if isinstance(s, Confirmed):
                s.noted = set()
        return self._answer

    def _start(self, wiring: frozenset[PortWiring], sets: tuple[set[ObjectKey], ...]) -> None:
        in_place: set[ObjectKey] = set()
        for keys in sets:
            in_place |= keys
        self._needing = {}
        self._met = set()
        self._ports = {}
        self._all = {}
        self._unwired = None
        for w in wiring:
            self._all[w.port_id] = self._all.get(w.port_id, 0) + 1
            for key in w.requires:
                self._needing.setdefault(key, set()).add(w)
            if w.requires <= in_place:
                self._met.add(w)
                self._ports[w.port_id] = self._ports.get(w.port_id, 0) + 1
        self._answer = frozenset(self._ports)

    def _drop(self, w: PortWiring) -> None:
        for key in w.requires:
            needing = self._needing.get(key)
            if needing is not None:
                needing.discard(w)
                if not needing:
                    del self._needing[key]
        if w in self._met:
            self._met.discard(w)
            self._uncount(self._ports, w.port_id)

    @staticmethod
    def _uncount(counts: dict[str, int], port_id: str) -> None:
        left = counts[port_id] - 1
        if left:
            counts[port_id] = left
        else:
            del counts[port_id]

    def unwired(self) -> frozenset[str]:
        """The plan's ports that are not wired, as of the last ``wired``."""
        if self._unwired is None:
            self._unwired = frozenset(self._all) - self._answer
        return self._unwired

    def _check(self, w: PortWiring, sets: tuple[set[ObjectKey], ...]) -> None:
        met = all(any(key in s for s in sets) for key in w.requires)
        if met and w not in self._met:
            self._met.add(w)
            self._ports[w.port_id] = self._ports.get(w.port_id, 0) + 1
        elif not met and w in self._met:
            self._met.discard(w)
            self._uncount(self._ports, w.port_id)
