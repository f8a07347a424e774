"""Compute API microversions: parse the request headers, negotiate, compare."""

from __future__ import annotations

import re
from dataclasses import dataclass

from kumo.errors import BadRequest, KumoError

_RE = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")


@dataclass(frozen=True, order=True)
class Version:
    major: int
    minor: int

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    def at_least(self, text: str) -> bool:
        return self >= parse(text)


MIN = Version(2, 1)
MAX = Version(2, 79)
HEADER = "OpenStack-API-Version"
LEGACY_HEADER = "X-OpenStack-Nova-API-Version"


class VersionNotAcceptable(KumoError):
    status = 406
    kind = "VersionNotAcceptable"


def parse(text: str) -> Version:
    m = _RE.match(text.strip())
    if not m:
        raise BadRequest(
            f"API Version String {text} is of invalid format. Must be of format MajorNum.MinorNum."
        )
    return Version(int(m.group(1)), int(m.group(2)))


def requested(new_header: str | None, legacy_header: str | None) -> str | None:
    """The compute version asked for: ``OpenStack-API-Version: compute X.Y`` wins
    over the legacy header; a header naming other services asks for nothing."""
    if new_header:
        for part in new_header.split(","):
            words = part.strip().split()
            if len(words) == 2 and words[0].lower() == "compute":
                return words[1]
        return None
    return legacy_header.strip() if legacy_header else None


def negotiate(text: str | None) -> Version:
    """The version a request runs at: 2.1 when none is asked, MAX for ``latest``."""
    if text is None:
        return MIN
    if text.lower() == "latest":
        return MAX
    version = parse(text)
    if not MIN <= version <= MAX:
        raise VersionNotAcceptable(
            f"Version {version} is not supported by the API. Minimum is {MIN} and maximum is {MAX}."
        )
    return version
