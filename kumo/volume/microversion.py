"""Block Storage API v3 microversions (``OpenStack-API-Version: volume 3.X``)."""

from __future__ import annotations

from kumo.compute.microversion import Version, VersionNotAcceptable, parse

MIN = Version(3, 0)
MAX = Version(3, 70)
SERVICE_NAMES = ("volume", "block-storage", "block_storage")


def requested(header: str | None) -> str | None:
    """The volume version asked for in ``OpenStack-API-Version`` (None: none)."""
    for part in (header or "").split(","):
        words = part.strip().split()
        if len(words) == 2 and words[0].lower() in SERVICE_NAMES:
            return words[1]
    return None


def negotiate(text: str | None) -> Version:
    """3.0 when none is asked, MAX for ``latest``; 406 out of range."""
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


def require(version: Version, at_least: str, what: str) -> None:
    """404 for an API the caller's microversion does not have yet (Cinder's answer)."""
    from kumo.errors import NotFound

    if version < parse(at_least):
        raise NotFound(f"{what} needs microversion {at_least} or later (asked: {version}).")
