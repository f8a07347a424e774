"""Orchestration's domain errors, named with Heat's fault types."""

from __future__ import annotations

from kumo.errors import BadRequest, Conflict, NotFound


class StackValidationFailed(BadRequest):
    """A template, parameter or property problem; the message names its path."""

    kind = "StackValidationFailed"

    def __init__(self, message: str, path: str = "") -> None:
        self.path = path
        super().__init__(f"{message} (at {path})" if path else message)


class InvalidTemplateVersion(BadRequest):
    kind = "InvalidTemplateVersion"


class UserParameterMissing(BadRequest):
    kind = "UserParameterMissing"

    def __init__(self, name: str) -> None:
        super().__init__(f"The Parameter ({name}) was not provided.")


class StackExists(Conflict):
    kind = "StackExists"

    def __init__(self, name: str) -> None:
        super().__init__(f"The Stack ({name}) already exists.")


class ActionInProgress(Conflict):
    kind = "ActionInProgress"


class StackNotFound(NotFound):
    kind = "EntityNotFound"

    def __init__(self, ident: str) -> None:
        super().__init__(f"The Stack ({ident}) could not be found.")


class ResourceNotFound(NotFound):
    kind = "EntityNotFound"

    def __init__(self, name: str, stack: str) -> None:
        super().__init__(f"The Resource ({name}) could not be found in Stack {stack}.")


class ResourceFailure(Exception):
    """A resource could not reach its target state; ``str()`` is the reason."""
