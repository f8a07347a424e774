"""The one exception hierarchy of the service layer.

Services raise these; ``api/faults.py`` is the only place that turns them
into HTTP responses (a NeutronError body for networking, a Keystone error
body for identity, a Nova fault for compute). ``kind`` is the Neutron type
name clients see (``NetworkNotFound``, ``IpAddressAlreadyAllocated``...).
"""

from __future__ import annotations


class KumoError(Exception):
    status = 500
    kind = "InternalError"

    def __init__(self, message: str, *, kind: str | None = None, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        if kind is not None:
            self.kind = kind
        self.detail = detail


class BadRequest(KumoError):
    status = 400
    kind = "BadRequest"


class InvalidInput(BadRequest):
    kind = "InvalidInput"

    def __init__(self, message: str, *, kind: str | None = None, detail: str = "") -> None:
        if not message.startswith("Invalid input"):
            message = f"Invalid input for operation: {message}"
        super().__init__(message, kind=kind, detail=detail)


class Unauthorized(KumoError):
    status = 401
    kind = "Unauthorized"


class Forbidden(KumoError):
    status = 403
    kind = "PolicyNotAuthorized"


class NotFound(KumoError):
    status = 404
    kind = "NotFound"


class Conflict(KumoError):
    status = 409
    kind = "Conflict"


class InUse(Conflict):
    kind = "InUse"


class OverQuota(Conflict):
    kind = "OverQuota"


class Gone(KumoError):
    status = 410
    kind = "Gone"


class TooLarge(KumoError):
    """413: a body over a size limit or a storage quota (Glance's ``StorageQuotaFull``)."""

    status = 413
    kind = "OverLimit"


class Unavailable(KumoError):
    status = 503
    kind = "ServiceUnavailable"


class PreconditionFailed(KumoError):
    status = 412
    kind = "PreconditionFailed"


class ServiceUnavailable(KumoError):
    """A resource the service hands out has run out (Neutron's ResourceExhausted)."""

    status = 503
    kind = "ServiceUnavailable"


class NotImplementedYet(KumoError):
    status = 501
    kind = "NotImplemented"


def not_found(resource: str, ident: str) -> NotFound:
    """A NotFound named as Neutron names it: ``NetworkNotFound`` and so on."""
    name = "".join(part.capitalize() for part in resource.split("_"))
    return NotFound(f"{_human(resource)} {ident} could not be found.", kind=f"{name}NotFound")


def _human(resource: str) -> str:
    words = resource.split("_")
    return " ".join([words[0].capitalize(), *words[1:]])


ECHO_LIMIT = 64
"""Characters of a caller's value an error message repeats at most."""


def shown(value: object, limit: int = ECHO_LIMIT) -> str:
    """``value`` as an error message repeats it: its first ``limit``
    characters and an ellipsis when longer (a 100 KB name is not sent back)."""
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"
