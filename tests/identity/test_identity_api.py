"""Identity v3 over HTTP: tokens, scopes, CRUD, grants, revocation, error bodies."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from kumo.api.app import create_app
from kumo.config import Settings
from kumo.runtime import Runtime


class Api:
    def __init__(self, client: TestClient, password: str) -> None:
        self.c = client
        self.admin_password = password

    def token(self, user: str, password: str, scope: Any = None) -> str:
        body: dict[str, Any] = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {"name": user, "domain": {"id": "default"}, "password": password}
                    },
                }
            }
        }
        if scope is not None:
            body["auth"]["scope"] = scope
        r = self.c.post("/identity/v3/auth/tokens", json=body)
        assert r.status_code == 201, r.text
        return r.headers["X-Subject-Token"]

    def admin(self) -> dict[str, str]:
        scope = {"project": {"name": "admin", "domain": {"id": "default"}}}
        return {"X-Auth-Token": self.token("admin", self.admin_password, scope)}


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[Api]:
    runtime = Runtime.open(Settings(state_dir=tmp_path / "state", database_url=db_url))
    password = runtime.identity.bootstrap()
    assert password
    with TestClient(create_app(runtime)) as client:
        yield Api(client, password)
    runtime.close()


def test_bootstrap_is_idempotent(api: Api) -> None:
    runtime = api.c.app.state.runtime  # type: ignore[attr-defined]
    assert runtime.identity.bootstrap() is None
    h = api.admin()
    roles = {r["name"] for r in api.c.get("/identity/v3/roles", headers=h).json()["roles"]}
    assert {"admin", "member", "reader", "service"} <= roles


def test_project_token_has_catalog_and_implied_roles(api: Api) -> None:
    scope = {"project": {"name": "admin", "domain": {"id": "default"}}}
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {
                        "name": "admin",
                        "domain": {"name": "Default"},
                        "password": api.admin_password,
                    }
                },
            },
            "scope": scope,
        }
    }
    r = api.c.post("/identity/v3/auth/tokens", json=body)
    assert r.status_code == 201
    token = r.json()["token"]
    assert token["project"]["name"] == "admin"
    assert {r["name"] for r in token["roles"]} == {"admin", "manager", "member", "reader"}
    types = {s["type"]: s for s in token["catalog"]}
    assert set(types) == {
        "identity",
        "network",
        "compute",
        "image",
        "orchestration",
        "block-storage",
        "volumev3",
    }
    project = token["project"]["id"]
    heat = {e["url"] for e in types["orchestration"]["endpoints"]}
    assert {u.split("/orchestration/")[1] for u in heat} == {f"v1/{project}"}
    assert types["block-storage"]["endpoints"][0]["url"].endswith("/volume/v3")
    urls = {e["interface"]: e["url"] for e in types["network"]["endpoints"]}
    assert urls["public"].endswith("/networking")
    assert token["expires_at"].endswith("Z")


def test_wrong_password_is_401_keystone_body(api: Api) -> None:
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {
                    "user": {"name": "admin", "domain": {"id": "default"}, "password": "nope"}
                },
            }
        }
    }
    r = api.c.post("/identity/v3/auth/tokens", json=body)
    assert r.status_code == 401
    assert r.json()["error"]["code"] == 401
    assert r.json()["error"]["title"] == "Unauthorized"


def test_malformed_json_is_400(api: Api) -> None:
    r = api.c.post(
        "/identity/v3/auth/tokens",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert r.status_code == 400
    assert "error" in r.json()


def test_member_user_lifecycle_and_scopes(api: Api) -> None:
    h = api.admin()
    project = api.c.post("/identity/v3/projects", headers=h, json={"project": {"name": "demo"}})
    assert project.status_code == 201
    pid = project.json()["project"]["id"]
    dup = api.c.post("/identity/v3/projects", headers=h, json={"project": {"name": "demo"}})
    assert dup.status_code == 409
    user = api.c.post(
        "/identity/v3/users", headers=h, json={"user": {"name": "carol", "password": "pw1"}}
    ).json()["user"]
    assert "password" not in user
    roles = {r["name"]: r["id"] for r in api.c.get("/identity/v3/roles", headers=h).json()["roles"]}

    # No role yet: a project-scoped token is refused.
    body = {
        "auth": {
            "identity": {
                "methods": ["password"],
                "password": {"user": {"id": user["id"], "password": "pw1"}},
            },
            "scope": {"project": {"id": pid}},
        }
    }
    assert api.c.post("/identity/v3/auth/tokens", json=body).status_code == 401

    grant = f"/identity/v3/projects/{pid}/users/{user['id']}/roles/{roles['member']}"
    assert api.c.put(grant, headers=h).status_code == 204
    assert api.c.head(grant, headers=h).status_code == 204
    r = api.c.post("/identity/v3/auth/tokens", json=body)
    assert r.status_code == 201
    member_token = r.headers["X-Subject-Token"]
    assert {x["name"] for x in r.json()["token"]["roles"]} == {"member", "reader"}

    mh = {"X-Auth-Token": member_token}
    assert api.c.get("/identity/v3/users", headers=mh).status_code == 403
    mine = api.c.get("/identity/v3/auth/projects", headers=mh).json()["projects"]
    assert [p["id"] for p in mine] == [pid]

    listed = api.c.get(
        "/identity/v3/role_assignments",
        headers=h,
        params={"user.id": user["id"], "effective": "true"},
    ).json()["role_assignments"]
    assert {a["role"]["id"] for a in listed} == {roles["member"], roles["reader"]}

    # Removing the role revokes the token.
    assert api.c.delete(grant, headers=h).status_code == 204
    assert api.c.get("/identity/v3/auth/projects", headers=mh).status_code == 401


def test_password_change_revokes_old_tokens(api: Api) -> None:
    h = api.admin()
    user = api.c.post(
        "/identity/v3/users", headers=h, json={"user": {"name": "dave", "password": "old"}}
    ).json()["user"]
    token = api.token("dave", "old")
    th = {"X-Auth-Token": token}
    wrong = api.c.post(
        f"/identity/v3/users/{user['id']}/password",
        headers=th,
        json={"user": {"original_password": "bad", "password": "new"}},
    )
    assert wrong.status_code == 401
    ok = api.c.post(
        f"/identity/v3/users/{user['id']}/password",
        headers=th,
        json={"user": {"original_password": "old", "password": "new"}},
    )
    assert ok.status_code == 204
    assert api.c.get("/identity/v3/auth/projects", headers=th).status_code == 401
    assert api.token("dave", "new")


def test_token_validate_and_revoke(api: Api) -> None:
    h = api.admin()
    subject = api.token("admin", api.admin_password)
    sh = {**h, "X-Subject-Token": subject}
    assert api.c.get("/identity/v3/auth/tokens", headers=sh).status_code == 200
    assert api.c.head("/identity/v3/auth/tokens", headers=sh).status_code == 200
    assert api.c.delete("/identity/v3/auth/tokens", headers=sh).status_code == 204
    assert api.c.get("/identity/v3/auth/tokens", headers=sh).status_code == 404
    garbage = {**h, "X-Subject-Token": "garbage"}
    assert api.c.get("/identity/v3/auth/tokens", headers=garbage).status_code == 404


def test_token_method_rescoping_and_system_scope(api: Api) -> None:
    unscoped = api.token("admin", api.admin_password)
    body = {
        "auth": {
            "identity": {"methods": ["token"], "token": {"id": unscoped}},
            "scope": {"system": {"all": True}},
        }
    }
    r = api.c.post("/identity/v3/auth/tokens", json=body)
    assert r.status_code == 201
    token = r.json()["token"]
    assert token["system"] == {"all": True}
    assert token["methods"] == ["password", "token"]


def test_domain_delete_requires_disable(api: Api) -> None:
    h = api.admin()
    dom = api.c.post("/identity/v3/domains", headers=h, json={"domain": {"name": "d1"}}).json()
    did = dom["domain"]["id"]
    assert api.c.delete(f"/identity/v3/domains/{did}", headers=h).status_code == 403
    assert (
        api.c.patch(
            f"/identity/v3/domains/{did}", headers=h, json={"domain": {"enabled": False}}
        ).status_code
        == 200
    )
    assert api.c.delete(f"/identity/v3/domains/{did}", headers=h).status_code == 204
    r = api.c.get(f"/identity/v3/domains/{did}", headers=h)
    assert r.status_code == 404
    assert r.json()["error"]["message"] == f"Could not find domain: {did}."
