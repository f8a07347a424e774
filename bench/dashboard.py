"""Dashboard benchmark: first meaningful paint and time to interactive of the
instances and topology pages at 10 and 1,000 instances, the page-data
request alone, and how long a change takes to show in the browser.

    .venv/bin/python -m bench.dashboard [--sizes 10,1000] [--repeats 5] [--compare DIR]

Starts a throwaway ``kumo serve`` (SQLite, no hosts), makes the instances in
bulk creates (no host takes them: they are ERROR rows, each given one port
on a tenant network, which is what the pages list and draw), and drives Debian's
chromium with Playwright. First meaningful paint: navigation start to the
first instance row (instances) or instance box (topology) in the document;
interactive: to the page drawn, its data loaded and its event stream open
(both noted in the page as the DOM changes, by a script run before the
page's own).
Change to visible: a network created through the API until it is on the
open topology page. Find: an old instance's name typed in the
topology's search until that instance is drawn and marked; open: a group's
"+N more" clicked until more of it is drawn (both at the largest size).
``--compare DIR`` runs a server of another checkout's kumo beside this
tree's and interleaves the visits (before, after, ...);
where each visit's time went (document, scripts, data request, paint,
event stream) is printed per tree.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.common import Server, kumo_server, machine

CHROMIUM = "/usr/bin/chromium"
N = "/networking/v2.0"
C = "/compute/v2.1"

PAINT = {"instances": "tbody tr td", "topology": "svg [data-instance-id]"}


def _populate(c: httpx.Client, project: str, count: int, net: str) -> None:
    c.put(f"{N}/quotas/{project}", json={"quota": {"port": -1}}).raise_for_status()
    c.put(
        f"{C}/os-quota-sets/{project}",
        json={"quota_set": {"instances": -1, "cores": -1, "ram": -1}},
    ).raise_for_status()
    image = next(
        i["id"] for i in c.get("/image/v2/images").json()["images"] if i["name"] == "busybox"
    )
    have = len(c.get(f"{C}/servers").json()["servers"])
    todo = count - have
    while todo > 0:
        n = min(todo, 200)
        r = c.post(f"{C}/servers", json={"server": {
            "name": "b", "imageRef": image, "flavorRef": "1", "networks": [{"uuid": net}],
            "min_count": n, "max_count": n}})  # fmt: skip
        if r.status_code != 202:
            raise RuntimeError(f"server create failed: {r.status_code} {r.text}")
        todo -= n
    # No host takes them, so they hold no port: give each one on the network
    # (what a placed instance has), in bulk.
    with_port = {p["device_id"] for p in c.get(f"{N}/ports?network_id={net}").json()["ports"]}
    bare = [s["id"] for s in c.get(f"{C}/servers").json()["servers"] if s["id"] not in with_port]
    for start in range(0, len(bare), 200):
        ports = [
            {"network_id": net, "device_id": sid, "device_owner": "compute:nova"}
            for sid in bare[start : start + 200]
        ]
        c.post(f"{N}/ports", json={"ports": ports}).raise_for_status()


# Run in the page before its own scripts: note (performance.now(), from
# navigation start) when the first row or box is in the document and when
# the page is interactive, as the DOM changes (not when a poll from here
# next looks, which adds the driver's round trips under load).
MARKS = """(() => {
  const paint = %s;
  window.__marks = {};
  const ES = window.EventSource;
  window.EventSource = function (...args) {
    window.__marks.stream_asked = performance.now();
    const es = new ES(...args);
    es.addEventListener("hello", () => (window.__marks.stream_open = performance.now()));
    return es;
  };
  Object.assign(window.EventSource, { CONNECTING: 0, OPEN: 1, CLOSED: 2 });
  const check = () => {
    const m = window.__marks;
    for (const [name, sel] of Object.entries(paint)) {
      if (!(name in m) && document.querySelector(sel)) m[name] = performance.now();
    }
    const main = document.getElementById("main");
    if (!("ready" in m) && document.body && document.body.hasAttribute("data-live") &&
        main && main.firstChild && !main.hasAttribute("aria-busy") &&
        Object.keys(paint).some((n) => n in m)) m.ready = performance.now();
  };
  new MutationObserver(check).observe(document, { subtree: true, childList: true, attributes: true });
})();"""


# Where a visit's time went (ms from navigation start): the document's
# response (first and last byte), the scripts run (DOMContentLoaded), the
# page-data request's start, first byte and end, the paint.
TIMING = """(() => {
  const n = performance.getEntriesByType("navigation")[0];
  const d = performance.getEntriesByType("resource").filter((r) => r.name.includes("/api/pages/"))[0];
  return {doc_first_byte: n.responseStart, doc_end: n.responseEnd, scripts_run: n.domContentLoadedEventStart,
          data_start: d ? d.startTime : -1, data_first_byte: d ? d.responseStart : -1,
          data_end: d ? d.responseEnd : -1};
})()"""
BREAKDOWN: dict[tuple[str, str, str], list[dict[str, float]]] = {}


def _measure(page: Any, base: str, name: str) -> tuple[float, float]:
    page.goto("about:blank")
    page.goto(f"{base}/dashboard/#/{name}")
    deadline = time.monotonic() + 60
    while True:  # the page's policy forbids the driver's string predicates: poll
        marks = page.evaluate("window.__marks || {}")
        if name in marks and "ready" in marks:
            timing = page.evaluate(TIMING)
            timing["paint"] = float(marks[name])
            timing["stream_asked"] = float(marks.get("stream_asked", -1))
            timing["stream_open"] = float(marks.get("stream_open", -1))
            timing["ready"] = float(marks["ready"])
            BREAKDOWN.setdefault((_LABEL[0], _LABEL[1], name), []).append(timing)
            return float(marks[name]), float(marks["ready"])
        if time.monotonic() > deadline:
            raise TimeoutError(f"the {name} page did not paint within 60 s: {marks}")
        time.sleep(0.05)


def _visible_latency(page: Any, c: httpx.Client, base: str, repeats: int) -> list[float]:
    page.goto(f"{base}/dashboard/#/topology")
    page.wait_for_selector("svg[data-loaded]")
    page.wait_for_selector("body[data-live]")
    out = []
    for i in range(repeats):
        name = f"lat-{time.time_ns()}-{i}"
        t0 = time.perf_counter()
        c.post(f"{N}/networks", json={"network": {"name": name}}).raise_for_status()
        page.wait_for_selector(f"svg [data-network-name='{name}']", timeout=10_000)
        out.append(time.perf_counter() - t0)
    return out


def _find_latency(page: Any, c: httpx.Client, base: str, nth: int) -> float:
    """Typing an instance's name in the open topology's search until that
    instance is drawn, marked: the ``nth`` oldest named ``b-100``...``b-200``
    (the newest are drawn at first, the oldest are not; the bulk creates'
    names repeat per create, so such a name finds one per create)."""
    servers = c.get(f"{C}/servers").json()["servers"]  # newest first
    target = [s for s in reversed(servers) if len(s["name"]) == 5][nth]
    page.goto("about:blank")
    page.goto(f"{base}/dashboard/#/topology")
    page.wait_for_selector("svg[data-loaded]")
    t0 = time.perf_counter()
    page.fill("input[type=search]", target["name"])
    hit = f"svg .topo-inst.hit[data-instance-id='{target['id']}']"
    page.wait_for_selector(hit, timeout=10_000)
    return time.perf_counter() - t0


def _open_latency(page: Any, base: str) -> float:
    """Opening a group's "+N more" on the open topology until more of its
    instances are drawn."""
    page.goto("about:blank")
    page.goto(f"{base}/dashboard/#/topology")
    page.wait_for_selector("svg[data-loaded]")
    drawn = page.locator("svg [data-instance-id]").count()
    t0 = time.perf_counter()
    page.click("svg .topo-more text")
    while page.locator("svg [data-instance-id]").count() <= drawn:
        if time.perf_counter() - t0 > 10:
            raise TimeoutError("the group did not open within 10 s")
        time.sleep(0.01)
    return time.perf_counter() - t0


def _page_data(c: httpx.Client, name: str, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        c.get(f"/dashboard/api/pages/{name}").raise_for_status()
        out.append(time.perf_counter() - t0)
    return out


def _start(stack: contextlib.ExitStack) -> Server:
    """A ``kumo serve``; on a loaded machine its first start can outlast the
    helper's minute (migrations, image registration): try again."""
    for attempt in range(3):
        try:
            return stack.enter_context(kumo_server(None))
        except RuntimeError as exc:
            if "did not come up" not in str(exc) or attempt == 2:
                raise
            print("kumo serve was slow to start; starting another", flush=True)
    raise AssertionError("unreachable")


def ms(values: list[float], scale: float = 1000) -> str:
    if not values:
        return "n/a"
    return f"{statistics.median(values) * scale:.0f}"


_LABEL = ["", ""]
"""The tree and the size being measured."""


def breakdown() -> None:
    """Medians of the visits' timing marks, per tree, size and page."""
    keys = ("doc_first_byte", "doc_end", "scripts_run", "data_start", "data_first_byte",
            "data_end", "paint", "stream_asked", "stream_open", "ready")  # fmt: skip
    print("\nwhere a visit's time went (ms from navigation start, medians):")
    print("| tree | instances | page | " + " | ".join(keys) + " |")
    print("|---|---|---|" + "---|" * len(keys))
    for (label, size, name), visits in BREAKDOWN.items():
        cells = [f"{statistics.median(v[k] for v in visits):.0f}" for k in keys]
        print(f"| {label} | {size} | {name} | " + " | ".join(cells) + " |")


@dataclass
class Run:
    label: str
    rows: list[tuple[str, ...]] = field(default_factory=list)
    """(instances, page, paint ms, interactive ms, page data ms)"""
    latency: list[float] = field(default_factory=list)
    find: list[float] = field(default_factory=list)
    """Search for an instance not drawn at first -> drawn and marked."""
    open: list[float] = field(default_factory=list)
    """A group's "+N more" clicked -> more drawn."""


@dataclass
class Target:
    """One ``kumo serve`` under measurement, with its browser page logged in."""

    out: Run
    srv: Server
    c: httpx.Client
    page: Any
    project: str
    net: str


def _target(stack: contextlib.ExitStack, browser: Any, label: str, tree: str | None) -> Target:
    """A ``kumo serve`` of this tree, or of ``tree`` (another checkout's
    package, for a before/after comparison in one run), and a page on it."""
    saved = os.environ.get("PYTHONPATH")
    if tree is not None:
        os.environ["PYTHONPATH"] = tree
    try:
        srv = _start(stack)
    finally:
        if saved is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = saved
    token = srv.token()
    c = stack.enter_context(
        httpx.Client(base_url=srv.base, headers={"X-Auth-Token": token}, timeout=300)
    )
    project = c.get("/identity/v3/auth/tokens", headers={"X-Subject-Token": token}).json()["token"][
        "project"
    ]["id"]
    net = c.post(f"{N}/networks", json={"network": {"name": "bench"}}).json()["network"]
    c.post(f"{N}/subnets", json={"subnet": {
        "network_id": net["id"], "cidr": "10.0.0.0/20", "ip_version": 4}}).raise_for_status()  # fmt: skip
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    stack.callback(ctx.close)
    ctx.add_init_script(MARKS % json.dumps(PAINT))
    page = ctx.new_page()
    page.goto(f"{srv.base}/dashboard/")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", srv.admin_password)
    page.fill("input[name=project]", "admin")
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#app:not([hidden])")
    return Target(Run(label), srv, c, page, project, net["id"])


def run(
    browser: Any, trees: list[tuple[str, str | None]], sizes: list[int], repeats: int
) -> list[Run]:
    """Measure each tree's ``kumo serve``, all up at once and their visits
    interleaved (before, after, before, after, ...), so a change in the
    machine's load falls on both alike."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    with contextlib.ExitStack() as stack:
        targets = [_target(stack, browser, label, tree) for label, tree in trees]
        for size in sizes:
            for t in targets:
                t0 = time.perf_counter()
                _populate(t.c, t.project, size, t.net)
                print(
                    f"{t.out.label}: {size} instances made in {time.perf_counter() - t0:.1f}s",
                    flush=True,
                )
            time.sleep(2)  # the open pages' event streams catch up with the creates
            _LABEL[1] = str(size)
            for name in ("instances", "topology"):
                results: dict[str, list[tuple[float, float]]] = {t.out.label: [] for t in targets}
                data: dict[str, list[float]] = {t.out.label: [] for t in targets}
                for _ in range(repeats):
                    for t in targets:
                        _LABEL[0] = t.out.label
                        results[t.out.label].append(_measure(t.page, t.srv.base, name))
                        data[t.out.label] += _page_data(t.c, name, 1)
                for t in targets:
                    r = results[t.out.label]
                    t.out.rows.append((
                        str(size), name, ms([x[0] for x in r], 1), ms([x[1] for x in r], 1),
                        ms(data[t.out.label])))  # fmt: skip
        for _ in range(repeats):
            for t in targets:
                t.out.latency += _visible_latency(t.page, t.c, t.srv.base, 1)
        for i in range(repeats):
            for t in targets:
                try:
                    t.out.find.append(_find_latency(t.page, t.c, t.srv.base, i))
                    t.out.open.append(_open_latency(t.page, t.srv.base))
                except (TimeoutError, PlaywrightTimeout) as exc:  # reported; the rest is kept
                    print(f"{t.out.label}: {str(exc).splitlines()[0]}", flush=True)
        return [t.out for t in targets]


def report(r: Run, sizes: list[int]) -> None:
    print(f"\n{r.label}:")
    print(
        "| instances | page | first meaningful paint (ms) | interactive (ms) | page data request (ms) |"
    )
    print("|---|---|---|---|---|")
    for row in r.rows:
        print("| " + " | ".join(row) + " |")
    if len(sizes) >= 2:
        by = {(row[0], row[1]): row for row in r.rows}
        lo, hi = str(sizes[0]), str(sizes[-1])
        for name in ("instances", "topology"):
            ratio = float(by[(hi, name)][2]) / max(1.0, float(by[(lo, name)][2]))
            print(f"{name}: paint at {hi} / at {lo} = {ratio:.2f}x")
    print(
        f"network created through the API -> drawn on the open topology ({sizes[-1]} instances): "
        f"median {ms(r.latency)} ms, max {max(r.latency) * 1000:.0f} ms (n={len(r.latency)})"
    )
    print(
        f"topology at {sizes[-1]}: search for an instance not drawn -> drawn and marked: "
        f"median {ms(r.find)} ms; a group's '+N more' -> more drawn: median {ms(r.open)} ms"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,1000")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument(
        "--compare",
        metavar="DIR",
        help="also measure the kumo package of another checkout (e.g. `git worktree add "
        "/tmp/before REV`, or an unpacked `git archive REV`), first, and print both "
        "side by side with ratios",
    )
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    from playwright.sync_api import sync_playwright

    trees: list[tuple[str, str | None]] = [("this tree", None)]
    if args.compare:
        trees.insert(0, (f"before ({args.compare})", args.compare))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        runs = run(browser, trees, sizes, args.repeats)
        browser.close()
    print(f"\ndashboard benchmark, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {machine()}")
    for r in runs:
        report(r, sizes)
    breakdown()
    if len(runs) == 2:
        before, after = runs
        print(
            "\n| instances | page | paint before → after (ms) | ratio | page data before → after (ms) | ratio |"
        )
        print("|---|---|---|---|---|---|")
        for b, a in zip(before.rows, after.rows, strict=True):
            print(
                f"| {a[0]} | {a[1]} | {b[2]} → {a[2]} | {float(a[2]) / max(1.0, float(b[2])):.2f} "
                f"| {b[4]} → {a[4]} | {float(a[4]) / max(1.0, float(b[4])):.2f} |"
            )
        print(
            f"change → visible: {ms(before.latency)} → {ms(after.latency)} ms "
            f"({statistics.median(after.latency) / statistics.median(before.latency):.2f})"
        )
        for what, b, a in (("search → found", before.find, after.find),
                           ("'+N more' → drawn", before.open, after.open)):  # fmt: skip
            ratio = f"{statistics.median(a) / statistics.median(b):.2f}" if a and b else "n/a"
            print(f"{what}: {ms(b)} → {ms(a)} ms ({ratio})")


if __name__ == "__main__":
    main()
