"""The request body of a password authentication, for kumo's own clients."""

from __future__ import annotations

from typing import Any


def password_auth(
    username: str,
    password: str,
    *,
    project_name: str | None = None,
    user_domain_id: str = "default",
    project_domain_id: str = "default",
) -> dict[str, Any]:
    """``POST /v3/auth/tokens`` body: a user by name, scoped to a project by name."""
    auth: dict[str, Any] = {
        "identity": {
            "methods": ["password"],
            "password": {
                "user": {"name": username, "domain": {"id": user_domain_id}, "password": password}
            },
        }
    }
    if project_name is not None:
        auth["scope"] = {"project": {"name": project_name, "domain": {"id": project_domain_id}}}
    return {"auth": auth}
