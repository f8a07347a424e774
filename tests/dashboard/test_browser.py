"""The dashboard in a real browser (chromium, driven by Playwright) on a
3-host lab: log in, launch a busybox instance and watch it go ACTIVE
without reloading, see a network made through the API appear on the
topology within a second, type ``hostname`` in the browser console, give
the instance a floating IP, delete it; a member of another project sees
none of it, a reader sees it but has no way to change it. Ports, images
(uploaded from the browser) and stacks are made and deleted through their
pages, and what the CLI changes shows on them without a reload; a volume
is made, attached to the instance, detached, extended, snapshotted and
deleted through its page (the lab's first host is a storage host).

One lab and one browser for the module; the tests run in order (later ones
use the instance the launch test made).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import yaml

from kumo.identity.authbody import password_auth
from tests.dashboard.conftest import browser_available
from tests.lab.labs import running_lab

pytestmark = [
    pytest.mark.root,
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root and network namespaces"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2"),
    pytest.mark.skipif(not browser_available(), reason="needs playwright and /usr/bin/chromium"),
]
N = "/networking/v2.0"
I = "/identity/v3"  # noqa: E741


@dataclass
class Lab:
    url: str
    tokens: dict[str, str]
    """user -> token (admin, dm: member of dash, dr: reader of dash, om: member of other)."""

    def call(self, user: str, method: str, path: str, body: Any = None) -> Any:
        r = httpx.request(
            method, self.url + path, json=body, headers={"X-Auth-Token": self.tokens[user]},
            timeout=30,
        )  # fmt: skip
        assert r.status_code < 300, r.text
        return r.json() if r.content else None


def _token(url: str, user: str, password: str, project: str) -> str:
    r = httpx.post(
        f"{url}{I}/auth/tokens", json=password_auth(user, password, project_name=project)
    )
    assert r.status_code == 201, r.text
    return r.headers["X-Subject-Token"]


USERS = {"dm": ("dash", "member"), "dr": ("dash", "reader"), "om": ("other", "member")}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("dashlab"), "kdb", "--storage-hosts", "1") as (
        state,
        _prefix,
    ):
        auth = yaml.safe_load((state / "clouds.yaml").read_text())["clouds"]["kumo"]["auth"]
        url = auth["auth_url"].split("/identity")[0]
        lab = Lab(url, {"admin": _token(url, auth["username"], auth["password"],
                                        auth["project_name"])})  # fmt: skip
        roles = {r["name"]: r["id"] for r in lab.call("admin", "GET", f"{I}/roles")["roles"]}
        projects = {
            name: lab.call("admin", "POST", f"{I}/projects", {"project": {"name": name}})[
                "project"
            ]["id"]
            for name in ("dash", "other")
        }
        for user, (project, role) in USERS.items():
            made = lab.call(
                "admin", "POST", f"{I}/users", {"user": {"name": user, "password": "pw-" + user}}
            )
            path = (
                f"{I}/projects/{projects[project]}/users/{made['user']['id']}/roles/{roles[role]}"
            )
            lab.call("admin", "PUT", path)
            lab.tokens[user] = _token(url, user, "pw-" + user, project)
        net = lab.call("dm", "POST", f"{N}/networks", {"network": {"name": "dnet"}})["network"]
        sub = lab.call("dm", "POST", f"{N}/subnets", {"subnet": {
            "network_id": net["id"], "cidr": "10.77.0.0/24", "ip_version": 4}})["subnet"]  # fmt: skip
        public = lab.call("dm", "GET", f"{N}/networks?name=public")["networks"][0]
        router = lab.call("dm", "POST", f"{N}/routers", {"router": {
            "name": "drouter", "external_gateway_info": {"network_id": public["id"]}}})["router"]  # fmt: skip
        lab.call("dm", "PUT", f"{N}/routers/{router['id']}/add_router_interface",
                 {"subnet_id": sub["id"]})  # fmt: skip
        yield lab


def login(context: Any, lab: Lab, user: str) -> Any:
    page = context.new_page()
    page.goto(lab.url + "/dashboard/")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", "pw-" + user)
    page.fill("input[name=project]", USERS[user][0])
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#app:not([hidden])")
    page.wait_for_selector("body[data-live]")  # the event stream is open
    return page


def instance_row(page: Any, name: str) -> Any:
    return page.locator("tbody tr", has=page.locator("td[data-col=Name]", has_text=name))


def test_log_in_and_launch_an_instance_that_goes_active_without_reload(
    context: Any, lab: Lab
) -> None:
    page = login(context, lab, "dm")
    page.click("nav >> text=Instances")
    page.wait_for_selector("h2:has-text('Instances')")
    page.evaluate("window.__sameDocument = true")
    page.click("text=Launch instance")
    dlg = page.locator("dialog")
    dlg.locator("button[type=submit]").click()  # empty: refused before sending
    assert dlg.locator(".field-error", has_text="Required.").count() >= 1
    dlg.locator("input[name=name]").fill("web1")
    dlg.locator("select[name=image]").select_option(label="busybox")
    dlg.locator("select[name=flavor]").select_option(index=0)
    dlg.locator("select[name=networks]").select_option(label="dnet")
    dlg.locator("button[type=submit]").click()
    row = instance_row(page, "web1")
    row.wait_for()
    page.wait_for_selector(
        "tbody tr:has(td[data-col=Name]:text-is('web1')) .badge.ACTIVE", timeout=90_000
    )
    assert page.evaluate("window.__sameDocument") is True


def test_a_network_made_through_the_api_appears_on_the_topology_within_a_second(
    context: Any, lab: Lab
) -> None:
    page = login(context, lab, "dm")
    fetches: list[str] = []
    page.on("request", lambda r: fetches.append(r.url) if "pages/topology" in r.url else None)
    page.click("nav >> text=Network Topology")
    page.wait_for_selector("svg[data-loaded] [data-network-name=dnet]")
    page.wait_for_selector("svg [data-instance-name=web1]")
    assert len(fetches) == 1
    made = lab.call("dm", "POST", f"{N}/networks", {"network": {"name": "cli-net"}})["network"]
    start = time.monotonic()
    page.wait_for_selector("svg [data-network-name=cli-net]", timeout=5_000)
    took = time.monotonic() - start
    assert took < 1.0, f"the network took {took:.2f}s to appear"
    lab.call("dm", "DELETE", f"{N}/networks/{made['id']}")
    page.wait_for_selector("svg [data-network-name=cli-net]", state="detached", timeout=5_000)
    # drawn from the event stream's patches: the graph was fetched once
    assert len(fetches) == 1, fetches


def test_type_hostname_in_the_browser_console(context: Any, lab: Lab) -> None:
    page = login(context, lab, "dm")
    page.click("nav >> text=Instances")
    instance_row(page, "web1").locator("text=Console").click()
    page.wait_for_selector("[role=status]:has-text('Connected')")
    page.locator(".xterm").click()
    deadline = time.monotonic() + 30
    screen = ""
    while time.monotonic() < deadline:
        page.keyboard.type("hostname\n")
        time.sleep(1.0)
        screen = page.evaluate("""() => { const b = window.kumoTerminal.buffer.active; const out = [];
            for (let i = 0; i < b.length; i++) out.push(b.getLine(i).translateToString(true));
            return out.join('\\n'); }""")
        lines = [line.strip() for line in screen.splitlines()]
        if "web1" in lines:
            return
    raise AssertionError(f"no hostname answer on the console:\n{screen}")


def test_associate_a_floating_ip(context: Any, lab: Lab) -> None:
    page = login(context, lab, "dm")
    page.click("nav >> text=Instances")
    instance_row(page, "web1").locator("text=Associate floating IP").click()
    dlg = page.locator("dialog")
    dlg.locator("select[name=fip]").select_option(label="New address from public")
    dlg.locator("button[type=submit]").click()
    page.wait_for_selector(
        "tbody tr:has(td[data-col=Name]:text-is('web1')) td[data-col=Addresses]:has-text('203.0.113.')"
    )
    fips = lab.call("dm", "GET", f"{N}/floatingips")["floatingips"]
    assert [f["port_id"] is not None for f in fips] == [True]


def test_another_project_sees_none_of_it(context: Any, lab: Lab) -> None:
    page = login(context, lab, "om")
    page.click("nav >> text=Instances")
    page.wait_for_selector("h2:has-text('Instances')")
    assert page.locator("tbody tr").count() == 0
    page.click("nav >> text=Network Topology")
    page.wait_for_selector("svg[data-loaded]")
    assert (
        page.locator(
            "[data-instance-name=web1], [data-network-name=dnet], [data-router-name=drouter]"
        ).count()
        == 0
    )
    lab.call("dm", "POST", f"{N}/networks", {"network": {"name": "not-for-om"}})
    time.sleep(1.0)
    assert page.locator("[data-network-name=not-for-om]").count() == 0


def test_a_reader_sees_but_cannot_change(context: Any, lab: Lab) -> None:
    page = login(context, lab, "dr")
    page.click("nav >> text=Instances")
    instance_row(page, "web1").wait_for()
    assert page.locator("text=Launch instance").count() == 0
    assert instance_row(page, "web1").locator("button").count() == 0
    server = instance_row(page, "web1")
    assert server.count() == 1
    status = page.evaluate("""async () => { const r = await fetch('/dashboard/api/os/networking/v2.0/networks',
        {method: 'POST', headers: {'Content-Type': 'application/json', 'X-CSRF-Token': K.session.csrf},
         body: JSON.stringify({network: {name: 'reader-net'}})}); return r.status; }""")
    assert status == 403
    for name, create in (("Ports", "Create port"), ("Volumes", "Create volume"),
                         ("Images", "Upload image"), ("Stacks", "Launch stack")):  # fmt: skip
        page.click(f"nav >> text={name}")
        page.wait_for_selector(f"h2:has-text('{name}')")
        assert page.locator(f"text={create}").count() == 0, name


def _create(
    page: Any, button: str, fields: dict[str, str], files: dict[str, str] | None = None
) -> None:
    page.click(f"text={button}")
    dlg = page.locator("dialog")
    for name, value in fields.items():
        field = dlg.locator(f"[name={name}]")
        if field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(label=value)
        else:
            field.fill(value)
    for name, path in (files or {}).items():
        dlg.locator(f"input[name={name}]").set_input_files(path)
    dlg.locator("button[type=submit]").click()
    dlg.wait_for(state="detached", timeout=60_000)


def _row(page: Any, name: str) -> Any:
    return page.locator("tbody tr", has=page.locator("td[data-col=Name]", has_text=name))


def _badge(page: Any, name: str, status: str, timeout: float = 60_000) -> None:
    _row(page, name).locator(f"td[data-col=Status] .badge.{status}").wait_for(timeout=timeout)


def _live(page: Any) -> None:
    """From here on, a reload of the document fails the test."""
    page.evaluate("window.__sameDocument = true")


def _same_document(page: Any) -> None:
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"


def test_ports_images_and_stacks(context: Any, lab: Lab, tmp_path: Any) -> None:
    page = login(context, lab, "dm")
    page.on("dialog", lambda d: d.accept())
    page.click("nav >> text=Ports")
    _create(page, "Create port", {"name": "dport", "network": "dnet"})
    _row(page, "dport").locator("td[data-col='Fixed IPs']", has_text="10.77.0.").wait_for()
    _live(page)
    net = lab.call("dm", "GET", f"{N}/networks?name=dnet")["networks"][0]
    made = lab.call("dm", "POST", f"{N}/ports", {"port": {"network_id": net["id"],
                                                          "name": "cli-port"}})  # fmt: skip
    _row(page, "cli-port").wait_for(timeout=5_000)  # made with the CLI: no reload
    lab.call("dm", "DELETE", f"{N}/ports/{made['port']['id']}")
    _row(page, "cli-port").wait_for(state="detached", timeout=5_000)
    _row(page, "dport").locator("text=Delete").click()
    _row(page, "dport").wait_for(state="detached")
    _same_document(page)

    data = tmp_path / "disk.raw"
    data.write_bytes(os.urandom(2 << 20))
    page.click("nav >> text=Images")
    _create(page, "Upload image", {"name": "dimg", "disk_format": "raw"}, {"file": str(data)})
    _row(page, "dimg").locator(".badge.active").wait_for()
    images = lab.call("dm", "GET", "/image/v2/images")["images"]
    assert [i["size"] for i in images if i["name"] == "dimg"] == [2 << 20]
    _live(page)
    cli = lab.call("dm", "POST", "/image/v2/images", {"name": "cli-img", "disk_format": "raw",
                                                      "container_format": "bare"})  # fmt: skip
    _badge(page, "cli-img", "queued", 5_000)
    lab.call("dm", "DELETE", f"/image/v2/images/{cli['id']}")
    _row(page, "cli-img").wait_for(state="detached", timeout=5_000)
    _row(page, "dimg").locator("text=Delete").click()
    _row(page, "dimg").wait_for(state="detached")

    page.click("nav >> text=Stacks")
    _create(page, "Launch stack", {"stack_name": "dstack"})
    page.click("td[data-col=Name] a:text-is('dstack')")
    page.wait_for_selector("h2:has-text('Stack dstack')")
    _live(page)  # the stack's page follows it without a reload
    page.wait_for_selector("p .badge.CREATE_COMPLETE", timeout=60_000)
    assert _row(page, "net").locator("td[data-col=Type]").inner_text() == "OS::Neutron::Net"
    _same_document(page)
    page.click("text=Delete stack")
    page.wait_for_selector("h2:has-text('Stacks')")
    project = net["project_id"]
    deadline = time.monotonic() + 60
    while lab.call("dm", "GET", f"/orchestration/v1/{project}/stacks")["stacks"]:
        assert time.monotonic() < deadline, "the stack was not deleted"
        time.sleep(0.5)
    _row(page, "dstack").wait_for(state="detached", timeout=10_000)


def test_volume_actions(context: Any, lab: Lab) -> None:
    """Create, attach to the instance, detach, extend, snapshot, delete, in
    the browser, the statuses following without a reload; a volume made
    with the CLI appears; the other project's member sees none of it."""
    page = login(context, lab, "dm")
    page.on("dialog", lambda d: d.accept())
    page.click("nav >> text=Volumes")
    _create(page, "Create volume", {"name": "dvol", "size": "1"})
    _live(page)
    _badge(page, "dvol", "available")
    _row(page, "dvol").locator("text=Attach").click()
    dlg = page.locator("dialog")
    dlg.locator("select[name=server]").select_option(label="web1")
    dlg.locator("button[type=submit]").click()
    _badge(page, "dvol", "in-use", 90_000)
    assert "web1" in _row(page, "dvol").locator("td[data-col='Attached to']").inner_text()
    _row(page, "dvol").locator("text=Detach").click()
    _badge(page, "dvol", "available", 90_000)
    _row(page, "dvol").locator("text=Extend").click()
    page.locator("dialog input[name=size]").fill("1")  # checked before sending
    page.locator("dialog button[type=submit]").click()
    assert page.locator("dialog .field-error", has_text="2 or more").count() == 1
    page.locator("dialog input[name=size]").fill("2")
    page.locator("dialog button[type=submit]").click()
    _row(page, "dvol").locator("td[data-col='Size (GiB)']", has_text="2").wait_for(timeout=60_000)
    _badge(page, "dvol", "available")
    _row(page, "dvol").locator("text=Snapshot").click()
    page.locator("dialog input[name=name]").fill("dsnap")
    page.locator("dialog button[type=submit]").click()
    snap = page.locator("tr[data-snapshot=dsnap]")
    snap.locator(".badge.available").wait_for(timeout=60_000)
    assert snap.locator("td[data-col=Volume]").inner_text() == "dvol"

    cli = lab.call("dm", "POST", "/volume/v3/volumes", {"volume": {"name": "cli-vol", "size": 1}})
    _badge(page, "cli-vol", "available")  # made with the CLI: appears, then goes available

    elsewhere = context.browser.new_context()  # its own cookie jar
    try:
        other = login(elsewhere, lab, "om")
        other.click("nav >> text=Volumes")
        other.wait_for_selector("h2:has-text('Volumes')")
        assert other.locator("tbody tr").count() == 0 and other.locator("text=dsnap").count() == 0
    finally:
        elsewhere.close()

    snap.locator("text=Delete").click()
    snap.wait_for(state="detached", timeout=60_000)
    _row(page, "dvol").locator("text=Delete").click()
    _row(page, "dvol").wait_for(state="detached", timeout=60_000)
    lab.call("dm", "DELETE", f"/volume/v3/volumes/{cli['volume']['id']}")
    _row(page, "cli-vol").wait_for(state="detached", timeout=60_000)
    _same_document(page)


def test_delete_the_instance(context: Any, lab: Lab) -> None:
    page = login(context, lab, "dm")
    page.click("nav >> text=Instances")
    row = instance_row(page, "web1")
    row.wait_for()
    page.on("dialog", lambda d: d.accept())
    row.locator("text=Delete").click()
    row.wait_for(state="detached", timeout=60_000)
    deadline = time.monotonic() + 60
    while lab.call("dm", "GET", "/compute/v2.1/servers")["servers"]:
        assert time.monotonic() < deadline, "the instance was not deleted"
        time.sleep(0.5)
