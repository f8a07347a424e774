"""A cloud over HTTP with real tokens: the base both API test packages' fixtures use."""

from __future__ import annotations

from starlette.testclient import TestClient

from kumo.runtime import Runtime


class ApiCloud:
    """An in-process API with the admin's token and project members on demand."""

    def __init__(self, client: TestClient, runtime: Runtime, admin_password: str) -> None:
        self.c = client
        self.rt = runtime
        self.admin = self._token("admin", admin_password, "admin")
        self.projects: dict[str, str] = {}

    def _token(self, user: str, password: str, project: str) -> dict[str, str]:
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {"name": user, "domain": {"id": "default"}, "password": password}
                    },
                },
                "scope": {"project": {"name": project, "domain": {"id": "default"}}},
            }
        }
        r = self.c.post("/identity/v3/auth/tokens", json=body)
        assert r.status_code == 201, r.text
        return {"X-Auth-Token": r.headers["X-Subject-Token"]}

    def member(self, name: str) -> dict[str, str]:
        """A user with role member on a project of the same name."""
        ident = self.rt.identity
        project = ident.create_project({"name": name})
        self.projects[name] = project.id
        user = ident.create_user({"name": name, "password": "pw-" + name})
        role = next(r for r in ident.list_rows("role") if r.name == "member")
        ident.grant(user.id, "project", project.id, role.id)
        return self._token(name, "pw-" + name, name)
