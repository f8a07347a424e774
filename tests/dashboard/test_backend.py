"""The dashboard's backend without a browser: login and its cookie, CSRF,
logout, project switch, page data per project, the event stream's filter."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from starlette.testclient import TestClient

from kumo.api.app import create_app
from kumo.config import Settings
from kumo.dashboard import events, session
from kumo.runtime import Runtime
from kumo.watch.tailer import Event
from tests.apicloud import ApiCloud

N = "/networking/v2.0"


@dataclass
class Cloud:
    api: ApiCloud
    client: TestClient
    admin_password: str

    def browser(self) -> TestClient:
        """A fresh cookie jar on the same app (another browser)."""
        return TestClient(self.client.app, base_url="http://testserver")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    tmp = tmp_path_factory.mktemp("dash")
    rt = Runtime.open(Settings(state_dir=tmp / "state", database_url=f"sqlite:///{tmp}/k.db"))
    password = rt.identity.bootstrap()
    assert password
    rt.compute.bootstrap()
    rt.image.bootstrap()
    rt.volume.bootstrap()
    with TestClient(create_app(rt)) as client:
        api = ApiCloud(client, rt, password)
        alice = api.member("alice")
        api.member("bob")
        # alice is also a reader of bob's project (for the switch)
        ident = rt.identity
        user = next(u for u in ident.list_rows("user") if u.name == "alice")
        reader = next(r for r in ident.list_rows("role") if r.name == "reader")
        ident.grant(user.id, "project", api.projects["bob"], reader.id)
        r = client.post(f"{N}/networks", headers=alice, json={"network": {"name": "alice-net"}})
        assert r.status_code == 201, r.text
        yield Cloud(api, client, password)
    rt.close()


def login(c: TestClient, user: str, project: str, password: str | None = None) -> dict:  # type: ignore[type-arg]
    r = c.post(
        "/dashboard/api/login",
        json={"username": user, "password": password or "pw-" + user, "project": project},
    )
    assert r.status_code == 200, r.text
    out: dict = r.json()  # type: ignore[type-arg]
    return out


def test_page_and_static_files_are_served(cloud: Cloud) -> None:
    c = cloud.browser()
    r = c.get("/dashboard/")
    assert r.status_code == 200 and 'name="username"' in r.text and "Network Topology" in r.text
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert c.get("/dashboard/static/app.js").headers["content-type"].startswith("text/javascript")
    assert c.get("/dashboard/static/vendor/xterm/xterm.js").status_code == 200
    assert c.get("/dashboard/static/../routes.py").status_code == 404


def test_login_sets_an_httponly_strict_cookie_and_no_token_in_the_body(cloud: Cloud) -> None:
    c = cloud.browser()
    r = c.post(
        "/dashboard/api/login",
        json={"username": "alice", "password": "pw-alice", "project": "alice"},
    )
    assert r.status_code == 200, r.text
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(session.COOKIE + "=")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    token = cookie.split(";")[0].split("=", 1)[1]
    assert token not in r.text
    body = r.json()
    assert body["project"]["name"] == "alice" and body["csrf"] == session.csrf_token(token)
    assert body["expires_at"] > time.time()
    assert c.get("/dashboard/api/session").json()["user"]["name"] == "alice"


def test_a_wrong_password_is_refused_with_the_identity_message(cloud: Cloud) -> None:
    r = cloud.browser().post(
        "/dashboard/api/login", json={"username": "alice", "password": "nope", "project": "alice"}
    )
    assert r.status_code == 401 and "set-cookie" not in r.headers
    assert r.json()["error"]["message"]
    r = cloud.browser().post("/dashboard/api/login", json={"username": "alice"})
    assert r.status_code == 400
    # a form of another site (text/plain) cannot log the browser in
    r = cloud.browser().post(
        "/dashboard/api/login",
        content=b'{"username": "alice", "password": "pw-alice", "project": "alice"}',
        headers={"Content-Type": "text/plain"},
    )
    assert r.status_code == 400 and "set-cookie" not in r.headers


def test_state_changing_requests_need_the_csrf_token(cloud: Cloud) -> None:
    c = cloud.browser()
    s = login(c, "alice", "alice")
    body = {"network": {"name": "csrf"}}
    r = c.post(f"/dashboard/api/os{N}/networks", json=body)
    assert r.status_code == 403 and "CSRF" in r.text
    r = c.post(f"/dashboard/api/os{N}/networks", json=body, headers={"X-CSRF-Token": "x" * 64})
    assert r.status_code == 403
    r = c.post(f"/dashboard/api/os{N}/networks", json=body, headers={"X-CSRF-Token": s["csrf"]})
    assert r.status_code == 201, r.text
    net = r.json()["network"]
    assert net["project_id"] == s["project"]["id"]
    r = c.post("/dashboard/api/logout")
    assert r.status_code == 403  # logout too is a state change
    # reads go without it; the APIs' own faults come back unchanged
    r = c.get(f"/dashboard/api/os{N}/networks/nope")
    assert r.status_code == 404 and "NeutronError" in r.json()
    assert c.get("/dashboard/api/os/nowhere/x").status_code == 404


def test_logout_revokes_the_token(cloud: Cloud) -> None:
    c = cloud.browser()
    s = login(c, "alice", "alice")
    token = c.cookies[session.COOKIE]
    assert s["csrf"] in c.get("/dashboard/").text  # the page carries the session
    r = c.post("/dashboard/api/logout", headers={"X-CSRF-Token": s["csrf"]})
    assert r.status_code == 204 and "Max-Age=0" in r.headers["set-cookie"]
    r = cloud.client.get(f"{N}/networks", headers={"X-Auth-Token": token})
    assert r.status_code == 401
    c.cookies.set(session.COOKIE, token)
    assert c.get("/dashboard/api/session").status_code == 401
    page = c.get("/dashboard/")
    assert page.status_code == 200 and s["csrf"] not in page.text


def test_switch_project_rescopes_the_session(cloud: Cloud) -> None:
    c = cloud.browser()
    s = login(c, "alice", "alice")
    assert {p["name"] for p in s["projects"]} == {"alice", "bob"}
    bob = next(p["id"] for p in s["projects"] if p["name"] == "bob")
    r = c.post(
        "/dashboard/api/switch-project", json={"project": bob}, headers={"X-CSRF-Token": s["csrf"]}
    )
    assert r.status_code == 200, r.text
    s2 = r.json()
    assert s2["project"]["id"] == bob and s2["roles"] == ["reader"]
    page = c.get("/dashboard/api/pages/networks").json()
    assert "alice-net" not in {n["name"] for n in page["networks"]["items"]}
    assert page["can_write"] is False
    # a reader reads but cannot write
    r = c.post(
        f"/dashboard/api/os{N}/networks",
        json={"network": {"name": "no"}},
        headers={"X-CSRF-Token": s2["csrf"]},
    )
    assert r.status_code == 403


def test_pages_show_only_the_project_and_page_on_the_server(cloud: Cloud) -> None:
    a = cloud.browser()
    sa = login(a, "alice", "alice")
    for i in range(5):
        r = a.post(
            f"/dashboard/api/os{N}/networks",
            json={"network": {"name": f"page-{i}"}},
            headers={"X-CSRF-Token": sa["csrf"]},
        )
        assert r.status_code == 201
    page = a.get("/dashboard/api/pages/networks?q=page-&per=2&page=2").json()["networks"]
    assert page["total"] == 5 and page["pages"] == 3 and page["page"] == 2
    assert [n["name"] for n in page["items"]] == ["page-2", "page-3"]
    assert a.get("/dashboard/api/pages/networks?per=0").status_code == 400
    b = cloud.browser()
    login(b, "bob", "bob")
    names = {
        n["name"]
        for n in b.get("/dashboard/api/pages/networks?per=500").json()["networks"]["items"]
    }
    assert not names & {"alice-net", "page-0"}
    topo = b.get("/dashboard/api/pages/topology").json()
    assert topo["networks"] == [] and topo["instances"] == [] and topo["show_hosts"] is False
    assert b.get("/dashboard/api/admin/projects").status_code == 403
    for name in ("overview", "routers", "floatingips", "security-groups", "keypairs"):
        assert b.get(f"/dashboard/api/pages/{name}").status_code == 200, name
    assert b.get("/dashboard/api/pages/instances").json()["instances"]["items"] == []


def test_admin_pages(cloud: Cloud) -> None:
    c = cloud.browser()
    s = login(c, "admin", "admin", cloud.admin_password)
    assert s["admin"] is True
    names = {p["name"] for p in c.get("/dashboard/api/admin/projects").json()["projects"]["items"]}
    assert {"alice", "bob", "admin"} <= names
    assert c.get("/dashboard/api/admin/hypervisors").status_code == 200
    assert c.get("/dashboard/api/admin/agents").status_code == 200
    assert c.get("/dashboard/api/pages/topology").json()["show_hosts"] is True


def _event(kind: str, body: dict, op: str = "upsert") -> Event:  # type: ignore[type-arg]
    return Event(1, kind, op, frozenset(), body)


def test_the_event_stream_keeps_only_the_callers_project() -> None:
    from kumo.context import RequestContext

    ctx = RequestContext(user_id="u", project_id="A", roles=frozenset({"member", "reader"}))
    batch = events.relevant(
        ctx,
        [
            _event("server", {"id": "s1", "project_id": "A"}),
            _event("server", {"id": "s2", "project_id": "B"}),
            _event("server", {"id": "s3", "project_id": "A"}, "delete"),
            _event(
                "port",
                {"id": "p1", "project_id": "A", "device_id": "s4", "device_owner": "compute:nova"},
            ),  # fmt: skip
            _event(
                "port",
                {"id": "p2", "project_id": "B", "device_id": "s5", "device_owner": "compute:nova"},
            ),  # fmt: skip
            _event("network", {"id": "n1", "project_id": "B", "shared": False}),
            _event("network", {"id": "n3", "project_id": "A", "name": "mine"}),
            _event("network", {"id": "n2", "project_id": "B", "router:external": True}),
            _event("router", {"id": "r1", "project_id": "B"}),
            _event("agent", {"id": "a1"}),
        ],
    )
    assert batch.refresh == {"s1", "s4"}
    assert batch.deleted == {"s3"}
    assert batch.changed == {"instances": {"s1", "s3", "s4"}, "networks": {"n2", "n3"}}
    assert [(n["id"], n["name"]) for n in batch.new_networks] == [("n3", "mine")]
    assert batch.pages == {"ports"}  # p1 (p2 is B's)
    lists = events.relevant(
        ctx,
        [
            _event("volume", {"id": "v1", "project_id": "B"}),
            _event("volume_snapshot", {"id": "x1", "project_id": "B"}),
            _event("image", {"id": "i1", "project_id": "B", "visibility": "private"}),
            _event("stack", {"id": "k1", "project_id": "B"}),
        ],
    )
    assert lists.pages == set()  # nothing of B's, not even that it changed
    lists = events.relevant(
        ctx,
        [
            _event("volume_snapshot", {"id": "x2", "project_id": "A"}, "delete"),
            _event("image", {"id": "i2", "project_id": "B", "visibility": "public"}),
            _event("stack", {"id": "k2", "project_id": "A"}),
        ],
    )
    assert lists.pages == {"volumes", "images", "stacks"}


def test_instances_page_pages_summaries_and_topology_patches(cloud: Cloud) -> None:
    from kumo.dashboard import topology

    a = cloud.browser()
    sa = login(a, "alice", "alice")
    csrf = {"X-CSRF-Token": sa["csrf"]}
    os_ = "/dashboard/api/os"
    net = a.post(f"{os_}{N}/networks", json={"network": {"name": "inst-net"}}, headers=csrf)
    net_id = net.json()["network"]["id"]
    sub = {"network_id": net_id, "cidr": "10.9.0.0/24", "ip_version": 4}
    assert a.post(f"{os_}{N}/subnets", json={"subnet": sub}, headers=csrf).status_code == 201
    launch = a.get("/dashboard/api/pages/launch").json()
    image = next(i["id"] for i in launch["launch"]["images"] if i["name"] == "busybox")
    flavor = launch["launch"]["flavors"][0]
    server = {"name": "s", "imageRef": image, "flavorRef": flavor["id"], "min_count": 3,
              "max_count": 3, "networks": [{"uuid": net_id}]}  # fmt: skip
    r = a.post(f"{os_}/compute/v2.1/servers", json={"server": server}, headers=csrf)
    assert r.status_code == 202, r.text
    page = a.get("/dashboard/api/pages/instances?per=2").json()
    assert "launch" not in page  # the forms load it when opened
    listing = page["instances"]
    assert listing["total"] == 3 and len(listing["items"]) == 2 and listing["pages"] == 2
    row = listing["items"][0]
    assert row["flavor"] == flavor["name"] and row["image"] == image
    assert row["created"].endswith("Z") and row["status"] in ("BUILD", "ERROR")
    detail = a.get(f"{os_}/compute/v2.1/servers/detail").json()["servers"]
    assert [s["id"] for s in detail[:2]] == [i["id"] for i in listing["items"]]
    assert {s["status"] for s in detail} >= {row["status"]}
    second = a.get("/dashboard/api/pages/instances?per=2&page=2").json()["instances"]
    assert [i["id"] for i in second["items"]] == [detail[2]["id"]] and second["page"] == 2
    found = a.get(f"/dashboard/api/pages/instances?q={detail[1]['id']}").json()["instances"]
    assert [i["id"] for i in found["items"]] == [detail[1]["id"]] and found["total"] == 1
    assert found["items"][0] == listing["items"][1]

    rt = cloud.api.rt
    alice = rt.identity.validate_token(
        cloud.api._token("alice", "pw-alice", "alice")["X-Auth-Token"]
    )
    bob = rt.identity.validate_token(cloud.api._token("bob", "pw-bob", "bob")["X-Auth-Token"])
    ids = {s["id"] for s in detail}
    changed = {"networks": {net_id, "gone-net"}, "instances": ids | {"gone-server"}}
    patch = topology.patch(rt, alice, changed)
    [drawn] = patch["networks"]
    assert drawn["id"] == net_id and [s["cidr"] for s in drawn["subnets"]] == ["10.9.0.0/24"]
    assert {i["id"] for i in patch["instances"]} == ids
    assert patch["removed"] == {
        "networks": ["gone-net"], "routers": [], "instances": ["gone-server"], "floatingips": []
    }  # fmt: skip
    full = a.get("/dashboard/api/pages/topology").json()
    assert [i for i in full["instances"] if i["id"] in ids] == sorted(
        patch["instances"], key=lambda i: [x["id"] for x in full["instances"]].index(i["id"])
    )
    other = topology.patch(rt, bob, changed)  # another project's: nothing but "gone"
    assert other["networks"] == other["instances"] == []
    assert sorted(other["removed"]["instances"]) == sorted(ids | {"gone-server"})


def test_topology_sends_each_networks_count_and_its_newest_instances_the_rest_on_demand(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kumo.dashboard import topology

    monkeypatch.setattr(topology, "GROUP", 2)
    cloud.api.member("carol")
    c = cloud.browser()
    sc = login(c, "carol", "carol")
    csrf = {"X-CSRF-Token": sc["csrf"]}
    os_ = "/dashboard/api/os"
    net = c.post(f"{os_}{N}/networks", json={"network": {"name": "grp"}}, headers=csrf)
    net_id = net.json()["network"]["id"]
    sub = {"network_id": net_id, "cidr": "10.7.0.0/24", "ip_version": 4}
    assert c.post(f"{os_}{N}/subnets", json={"subnet": sub}, headers=csrf).status_code == 201
    image = next(
        i["id"]
        for i in c.get("/dashboard/api/pages/launch").json()["launch"]["images"]
        if i["name"] == "busybox"
    )
    server = {"name": "g", "imageRef": image, "flavorRef": "1", "min_count": 5, "max_count": 5,
              "networks": [{"uuid": net_id}]}  # fmt: skip
    r = c.post(f"{os_}/compute/v2.1/servers", json={"server": server}, headers=csrf)
    assert r.status_code == 202, r.text
    detail = c.get(f"{os_}/compute/v2.1/servers/detail").json()["servers"]
    ids = [s["id"] for s in detail]  # newest first
    ports = [{"network_id": net_id, "device_id": i, "device_owner": "compute:nova"} for i in ids]
    r = c.post(f"{os_}{N}/ports", json={"ports": ports}, headers=csrf)  # what a host would add
    assert r.status_code == 201, r.text
    addr = {p["device_id"]: p["fixed_ips"][0]["ip_address"] for p in r.json()["ports"]}

    topo = c.get("/dashboard/api/pages/topology").json()
    assert topo["groups"] == {net_id: 5}
    assert [i["id"] for i in topo["instances"]] == ids[:2]  # only the newest GROUP
    assert {i["network_id"] for i in topo["instances"]} == {net_id}
    assert topo["instances"][0]["ports"][0]["ips"] == [addr[ids[0]]]

    more = c.get(f"/dashboard/api/pages/network-members?network={net_id}&start=2&per=2").json()
    assert [i["id"] for i in more["instances"]] == ids[2:4] and more["total"] == 5
    assert more["instances"][0]["ports"][0]["ips"] == [addr[ids[2]]]
    found = c.get(f"/dashboard/api/pages/network-members?q={addr[ids[4]]}").json()
    assert [i["id"] for i in found["instances"]] == [ids[4]]
    found = c.get(f"/dashboard/api/pages/network-members?q={ids[3][:13].upper()}").json()
    assert [i["id"] for i in found["instances"]] == [ids[3]]
    assert c.get("/dashboard/api/pages/network-members").status_code == 400

    carol = cloud.api.rt.identity.validate_token(
        cloud.api._token("carol", "pw-carol", "carol")["X-Auth-Token"]
    )
    patch = topology.patch(cloud.api.rt, carol, {"instances": {ids[0]}})
    assert patch["groups"] == {net_id: 5} and patch["instances"][0]["network_id"] == net_id

    b = cloud.browser()  # another project: none of carol's, not even the count
    login(b, "bob", "bob")
    other = b.get(f"/dashboard/api/pages/network-members?network={net_id}").json()
    assert other == {"instances": [], "floatingips": [], "total": 0, "revision": other["revision"]}
    assert b.get(f"/dashboard/api/pages/network-members?q={ids[0]}").json()["instances"] == []
    assert net_id not in b.get("/dashboard/api/pages/topology").json()["groups"]


def test_ports_volumes_images_and_stacks_pages_act_as_the_user(cloud: Cloud) -> None:
    a = cloud.browser()
    sa = login(a, "alice", "alice")
    csrf = {"X-CSRF-Token": sa["csrf"]}
    os_ = "/dashboard/api/os"
    project = sa["project"]["id"]

    def made(path: str, body: dict, status: int = 201) -> dict:  # type: ignore[type-arg]
        r = a.post(os_ + path, json=body, headers=csrf)
        assert r.status_code == status, r.text
        out: dict = r.json()  # type: ignore[type-arg]
        return out

    net = made(f"{N}/networks", {"network": {"name": "svc-net"}})["network"]
    made(f"{N}/subnets", {"subnet": {"network_id": net["id"], "cidr": "10.8.0.0/24",
                                      "ip_version": 4}})  # fmt: skip
    port = made(f"{N}/ports", {"port": {"network_id": net["id"], "name": "svc-port"}})["port"]
    vol = made("/volume/v3/volumes", {"volume": {"name": "svc-vol", "size": 1}}, 202)["volume"]
    image = made("/image/v2/images", {"name": "svc-img", "disk_format": "raw",
                                      "container_format": "bare"})  # fmt: skip
    template = "heat_template_version: 2018-08-31\nresources:\n  n:\n    type: OS::Neutron::Net\n"
    stack = made(f"/orchestration/v1/{project}/stacks",
                 {"stack_name": "svc-stack", "template": template})["stack"]  # fmt: skip

    ports = a.get("/dashboard/api/pages/ports?q=svc-port").json()
    [row] = ports["ports"]["items"]
    assert row["id"] == port["id"] and row["network"] == "svc-net" and row["fixed_ips"]
    assert ports["can_write"] is True and "svc-net" in {n["name"] for n in ports["networks"]}
    vols = a.get("/dashboard/api/pages/volumes").json()
    assert [v["id"] for v in vols["volumes"]["items"]] == [vol["id"]]
    assert vols["can_write"] is True and vols["can_attach"] is True
    imgs = a.get("/dashboard/api/pages/images?q=svc-img").json()
    [img] = imgs["images"]["items"]
    assert img["id"] == image["id"] and img["mine"] is True and imgs["can_write"] is True
    stacks = a.get("/dashboard/api/pages/stacks").json()
    assert [s["id"] for s in stacks["stacks"]["items"]] == [stack["id"]]
    shown = a.get(f"/dashboard/api/pages/stack?id={stack['id']}").json()["stack"]
    assert shown["name"] == "svc-stack" and [r["name"] for r in shown["resources"]] == ["n"]
    assert a.get("/dashboard/api/pages/stack").status_code == 400

    b = cloud.browser()  # another project sees none of it
    login(b, "bob", "bob")
    assert not b.get("/dashboard/api/pages/ports?per=500").json()["ports"]["items"]
    assert not b.get("/dashboard/api/pages/volumes").json()["volumes"]["items"]
    assert image["id"] not in {
        i["id"] for i in b.get("/dashboard/api/pages/images?per=500").json()["images"]["items"]
    }
    assert not b.get("/dashboard/api/pages/stacks").json()["stacks"]["items"]
    assert b.get(f"/dashboard/api/pages/stack?id={stack['id']}").status_code == 404

    bob = next(p["id"] for p in sa["projects"] if p["name"] == "bob")  # alice reads bob's
    r = a.post("/dashboard/api/switch-project", json={"project": bob}, headers=csrf)
    assert r.status_code == 200, r.text
    for name in ("ports", "volumes", "images", "stacks"):
        page = a.get(f"/dashboard/api/pages/{name}").json()
        assert page["can_write"] is False, name
    assert a.get("/dashboard/api/pages/volumes").json()["can_attach"] is False


def test_volume_actions_act_as_the_user_and_snapshots_stay_in_the_project(cloud: Cloud) -> None:
    """Create, extend, snapshot, delete through the dashboard's API path with
    the session's own token: the page lists the project's snapshots with
    their volume's name, a reader's page offers no action and the API
    refuses a reader's request with its own message, another project sees
    none of it."""
    api, c = cloud.api, cloud.client
    r = c.post("/internal/v1/storage-hosts", headers=api.admin, json={"storage_host": {
        "host": "dash-s1", "availability_zone": "nova",
        "pools": [{"name": "p1", "total_gb": 100, "free_bytes": 100 << 30}]}})  # fmt: skip
    assert r.status_code == 200, r.text

    def report(**kinds: list[tuple[str, str]]) -> None:
        body = {k: [{"id": i, "status": s} for i, s in kinds.get(k, [])]
                for k in ("volumes", "snapshots")}  # fmt: skip
        r = c.post("/internal/v1/storage-reports", headers=api.admin, json=body)
        assert r.status_code == 200, r.text

    a = cloud.browser()
    sa = login(a, "alice", "alice")
    csrf = {"X-CSRF-Token": sa["csrf"]}
    V = "/dashboard/api/os/volume/v3"
    r = a.post(f"{V}/volumes", json={"volume": {"name": "act-vol", "size": 1}}, headers=csrf)
    assert r.status_code == 202, r.text
    vol = r.json()["volume"]
    report(volumes=[(vol["id"], "available")])
    page = a.get("/dashboard/api/pages/volumes?q=act-vol").json()
    assert page["can_extend"] is True and page["can_snapshot"] is True
    assert isinstance(page["revision"], int)

    # the API's own refusal, as it said it (a smaller size)
    r = a.post(f"{V}/volumes/{vol['id']}/action", json={"os-extend": {"new_size": 1}},
               headers=csrf)  # fmt: skip
    assert r.status_code == 400, r.text
    assert "size" in r.json()["badRequest"]["message"], r.text
    r = a.post(f"{V}/volumes/{vol['id']}/action", json={"os-extend": {"new_size": 2}},
               headers=csrf)  # fmt: skip
    assert r.status_code == 202, r.text
    assert a.get(f"{V}/volumes/{vol['id']}").json()["volume"]["status"] == "extending"
    report(volumes=[(vol["id"], "available")])

    r = a.post(f"{V}/snapshots", json={"snapshot": {"volume_id": vol["id"], "name": "act-snap",
                                                    "force": False}}, headers=csrf)  # fmt: skip
    assert r.status_code == 202, r.text
    snap = r.json()["snapshot"]
    report(snapshots=[(snap["id"], "available")])
    [row] = [x for x in a.get("/dashboard/api/pages/volumes").json()["snapshots"]
             if x["id"] == snap["id"]]  # fmt: skip
    assert row["name"] == "act-snap" and row["volume_name"] == "act-vol", row

    b = cloud.browser()  # another project: neither the volume nor its snapshot
    sb = login(b, "bob", "bob")
    seen = b.get("/dashboard/api/pages/volumes").json()
    assert vol["id"] not in {v["id"] for v in seen["volumes"]["items"]}
    assert snap["id"] not in {x["id"] for x in seen["snapshots"]}

    # alice reading bob's project: no action offered, and the API says no
    bv = b.post(f"{V}/volumes", json={"volume": {"name": "bob-vol", "size": 1}},
                headers={"X-CSRF-Token": sb["csrf"]})  # fmt: skip
    assert bv.status_code == 202, bv.text
    bob = next(p["id"] for p in sa["projects"] if p["name"] == "bob")
    r = a.post("/dashboard/api/switch-project", json={"project": bob}, headers=csrf)
    assert r.status_code == 200, r.text
    csrf_bob = {"X-CSRF-Token": r.json()["csrf"]}
    page = a.get("/dashboard/api/pages/volumes").json()
    assert page["can_extend"] is False and page["can_snapshot"] is False
    assert page["can_write"] is False
    r = a.post(f"{V}/snapshots", json={"snapshot": {"volume_id": bv.json()["volume"]["id"]}},
               headers=csrf_bob)  # fmt: skip
    assert r.status_code == 403, r.text
    assert r.json()["forbidden"]["message"], r.text

    r = a.post("/dashboard/api/switch-project", json={"project": sa["project"]["id"]},
               headers=csrf_bob)  # fmt: skip
    csrf = {"X-CSRF-Token": r.json()["csrf"]}
    r = a.delete(f"{V}/snapshots/{snap['id']}", headers=csrf)
    assert r.status_code == 202, r.text
    r = a.delete(f"{V}/volumes/{vol['id']}", headers=csrf)  # its snapshot is being deleted
    assert r.status_code == 400 and r.json()["badRequest"]["message"], r.text


def test_images_and_stacks_changes_reach_the_watch_feed(cloud: Cloud) -> None:
    """The image and stack services write their changes to the outbox (in
    the same transaction), so an open Images or Stacks page hears of a
    change made with the CLI; another project's stream does not. (Last in
    the module: it leaves a stack in alice's project.)"""
    from kumo.dashboard import sources
    from kumo.watch.tailer import Tailer

    rt = cloud.api.rt
    before = sources.revision(rt)
    a = cloud.browser()
    sa = login(a, "alice", "alice")
    csrf = {"X-CSRF-Token": sa["csrf"]}
    os_ = "/dashboard/api/os"
    r = a.post(f"{os_}/image/v2/images", json={"name": "feed-img", "disk_format": "raw",
               "container_format": "bare"}, headers=csrf)  # fmt: skip
    assert r.status_code == 201, r.text
    assert (
        a.put(
            f"{os_}/image/v2/images/{r.json()['id']}/file",
            content=b"x" * 512,
            headers={**csrf, "Content-Type": "application/octet-stream"},
        ).status_code
        == 204
    )
    assert a.delete(f"{os_}/image/v2/images/{r.json()['id']}", headers=csrf).status_code == 204
    template = "heat_template_version: 2018-08-31\nresources: {}\n"
    r = a.post(f"{os_}/orchestration/v1/{sa['project']['id']}/stacks", headers=csrf,
               json={"stack_name": "feed-stack", "template": template})  # fmt: skip
    assert r.status_code == 201, r.text
    feed = Tailer(rt.db)._read_after(before)
    kinds = [(e.kind, e.op, e.body.get("status")) for e in feed if e.kind in ("image", "stack")]
    assert ("image", "upsert", "queued") in kinds and ("image", "upsert", "active") in kinds
    assert ("image", "delete", "active") in kinds
    assert ("stack", "upsert", "CREATE_IN_PROGRESS") in kinds, kinds
    alice = rt.identity.validate_token(a.cookies[session.COOKIE])
    assert {"images", "stacks"} <= events.relevant(alice, feed).pages
    b = cloud.browser()
    login(b, "bob", "bob")
    bob = rt.identity.validate_token(b.cookies[session.COOKIE])
    assert events.relevant(bob, feed).pages == set()
