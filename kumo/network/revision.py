"""``If-Match: revision_number=N`` (the revision-if-match extension)."""

from __future__ import annotations

from kumo.errors import BadRequest, PreconditionFailed


def parse_if_match(header: str | None) -> int | None:
    if not header:
        return None
    wanted = None
    for part in header.split(","):
        part = part.strip()
        if part.startswith("revision_number="):
            try:
                wanted = int(part.split("=", 1)[1])
            except ValueError as exc:
                raise BadRequest(f"Invalid If-Match header value: {header}") from exc
    return wanted


def check_revision(current: int, wanted: int | None) -> None:
    if wanted is not None and wanted != current:
        raise PreconditionFailed(
            f"Constraint {wanted} is not satisfied by revision {current}.",
            kind="RevisionNumberConstraintFailed",
        )
