"""Fuzz the Networking, Compute, Identity and Image APIs from their OpenAPI description.

schemathesis generates requests from ``tests.fuzz.schema.describe(app.openapi())``
for every operation, with a project member's token and with the admin's:
valid-looking bodies and queries (positive), ones that break the schema
(negative), and valid bodies with one value swapped for a hostile one
(mutated: NaN, NUL, unpaired surrogates, huge integers, wrong shapes). The
requests go to an in-process app on SQLite with real tokens and one object
of each kind already there (their ids are offered for path parameters and
references). No response may be a 5xx and no log line a traceback.

Bounded: a fixed number of examples per operation and mode (``derandomize``:
the same cases every run) within a time budget (``KUMO_FUZZ_SECONDS``,
default 80) that the run never passes; ``KUMO_FUZZ_SCALE`` multiplies the
examples for longer runs by hand. It prints how many requests it made.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.core.errors import SerializationNotPossible
from starlette.testclient import TestClient

from kumo.api.app import create_app
from kumo.config import Settings
from kumo.runtime import Runtime
from tests.apicloud import ApiCloud
from tests.fuzz.schema import describe

pytestmark = pytest.mark.slow

N = "/networking/v2.0"
C = "/compute/v2.1"
BUDGET_S = float(os.environ.get("KUMO_FUZZ_SECONDS", "80"))
"""Wall-clock budget for the whole run; operations past it are not fuzzed (and reported)."""
SCALE = int(os.environ.get("KUMO_FUZZ_SCALE", "1"))
"""Multiplies the examples per operation, for longer runs by hand."""
EXAMPLES_WITH_BODY = 5 * SCALE
EXAMPLES_WITHOUT_BODY = 2 * SCALE
MIN_REQUESTS = 1000
"""Fewer than this means the run fuzzed little (the budget ran out early, or most cases were unsendable)."""
SKIP = {
    ("GET", "/internal/v1/watch"),  # a stream that ends only when the client leaves
}
DROP_HEADERS = {"connection", "accept-encoding", "user-agent", "x-schemathesis-testcaseid"}
NO_BODY = object()
HOSTILE: list[Any] = [
    None, True, -1, 2**31, 2**64, 10**30, 1.5, float("nan"), float("inf"), "", "x", "a\x00b",
    "\ud800", "a" * 300, [], {}, ["x"], [{}], {"x": []},
]  # fmt: skip
"""What ``mutated`` runs put in place of one value of a valid body."""


class Seeded(ApiCloud):
    """A cloud with a member project holding one of each object the fuzzer aims at."""

    def ok(self, method: str, h: dict[str, str], path: str, body: Any = None) -> Any:
        r = self.c.request(method, path, headers=h, json=body)
        assert r.status_code < 300, (path, r.text)
        return r.json() if r.content else None

    def seed(self, member: dict[str, str]) -> dict[str, list[str]]:
        r = self.c.post(
            "/internal/v1/agents",
            headers=self.admin,
            json={"agent": {"host": "host1", "availability_zone": "nova", "configurations": {}}},
        )
        assert r.status_code == 201, r.text
        agent = r.json()["agent"]["id"]
        ext = self.ok(
            "POST",
            self.admin,
            N + "/networks",
            {"network": {"name": "ext", "router:external": True}},
        )["network"]["id"]
        ext_sub = self.ok(
            "POST",
            self.admin,
            N + "/subnets",
            {"subnet": {"network_id": ext, "cidr": "203.0.113.0/24", "ip_version": 4}},
        )["subnet"]["id"]
        net = self.ok("POST", member, N + "/networks", {"network": {"name": "n1"}})["network"]["id"]
        sub = self.ok(
            "POST",
            member,
            N + "/subnets",
            {"subnet": {"network_id": net, "cidr": "10.0.0.0/24", "ip_version": 4}},
        )["subnet"]["id"]
        port = self.ok("POST", member, N + "/ports", {"port": {"network_id": net}})["port"]["id"]
        router = self.ok(
            "POST",
            member,
            N + "/routers",
            {"router": {"name": "r1", "external_gateway_info": {"network_id": ext}}},
        )["router"]["id"]
        self.ok("PUT", member, f"{N}/routers/{router}/add_router_interface", {"subnet_id": sub})
        fip = self.ok(
            "POST",
            member,
            N + "/floatingips",
            {"floatingip": {"floating_network_id": ext, "port_id": port}},
        )["floatingip"]["id"]
        group = self.ok("POST", member, N + "/security-groups", {"security_group": {"name": "web"}})
        group_id = group["security_group"]["id"]
        rule = self.ok(
            "POST",
            member,
            N + "/security-group-rules",
            {
                "security_group_rule": {
                    "security_group_id": group_id,
                    "direction": "ingress",
                    "protocol": "tcp",
                    "port_range_min": 80,
                    "port_range_max": 80,
                }
            },
        )["security_group_rule"]["id"]
        image = self.ok("GET", member, "/image/v2/images")["images"][0]["id"]
        flavor = self.ok("GET", member, C + "/flavors")["flavors"][0]["id"]
        self.ok("POST", member, C + "/os-keypairs", {"keypair": {"name": "kp1"}})
        server_group = self.ok(
            "POST",
            member,
            C + "/os-server-groups",
            {"server_group": {"name": "g1", "policies": ["anti-affinity"]}},
        )["server_group"]["id"]
        server = self.ok(
            "POST",
            member,
            C + "/servers",
            {
                "server": {
                    "name": "s1",
                    "imageRef": image,
                    "flavorRef": flavor,
                    "networks": [{"uuid": net}],
                }
            },
        )["server"]["id"]
        return {
            "network": [net, ext],
            "subnet": [sub, ext_sub],
            "port": [port],
            "router": [router],
            "floatingip": [fip],
            "security_group": [group_id],
            "rule": [rule],
            "image": [image],
            "flavor": [flavor],
            "keypair": ["kp1"],
            "server_group": [server_group],
            "server": [server],
            "agent": [agent],
            "project": list(self.projects.values()),
            "domain": ["default"],
        }


@dataclass
class Tally:
    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    not_reached: list[str] = field(default_factory=list)


@pytest.fixture
def seeded(sqlite_url: str, tmp_path: Path) -> Iterator[Seeded]:
    runtime = Runtime.open(Settings(state_dir=tmp_path / "state", database_url=sqlite_url))
    password = runtime.identity.bootstrap()
    assert password
    runtime.compute.bootstrap()
    runtime.image.bootstrap()
    with TestClient(create_app(runtime), raise_server_exceptions=False) as client:
        yield Seeded(client, runtime, password)
    runtime.close()


def _leaves(value: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path to every value inside a JSON document, the document itself first."""
    yield at
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, (*at, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, (*at, i))


def _replace(doc: Any, at: tuple[Any, ...], value: Any) -> Any:
    if not at:
        return value
    out = json.loads(json.dumps(doc))
    holder = out
    for step in at[:-1]:
        holder = holder[step]
    holder[at[-1]] = value
    return out


def _mutated(op: Any) -> st.SearchStrategy[tuple[Any, Any]]:
    """A valid case of ``op`` with one value of its body replaced by a hostile one.

    Schema-negative generation changes types; this reaches what it does not:
    text no store keeps (NUL, unpaired surrogates), NaN and Infinity (which
    Python's parser accepts), integers past 32 and 64 bits, and wrong
    shapes deep inside an otherwise valid body.
    """

    def mutate(drawn: tuple[Any, Any, int]) -> tuple[Any, Any]:
        case, value, pick = drawn
        paths = list(_leaves(case.body))
        return case, _replace(case.body, paths[pick % len(paths)], value)

    return st.tuples(
        op.as_strategy(generation_mode=GenerationMode.POSITIVE),
        st.sampled_from(HOSTILE),
        st.integers(min_value=0, max_value=10_000),
    ).map(mutate)


def _send(client: TestClient, case: Any, token: dict[str, str], body: Any = NO_BODY) -> int | None:
    """Send one generated case (with ``body`` instead of its own, if given); None
    when it cannot be put on the wire at all (a header no HTTP client can send)."""
    try:
        kw = case.as_transport_kwargs(base_url="http://testserver", headers=token)
    except SerializationNotPossible:
        return None
    headers = {k: v for k, v in kw["headers"].items() if k.lower() not in DROP_HEADERS}
    content = kw.get("data")
    if body is not NO_BODY or "json" in kw:
        # json.dumps, not httpx: it keeps NaN and escapes surrogates as JSON allows.
        content = json.dumps(kw.get("json") if body is NO_BODY else body).encode()
        headers["Content-Type"] = "application/json"
    try:
        r = client.request(
            kw["method"],
            kw["url"],
            headers=headers,
            params=kw.get("params") or None,
            content=content,
        )
    except (UnicodeEncodeError, ValueError):
        return None
    return r.status_code


def _described_body(op: Any) -> bool:
    """Whether ``describe`` gave this operation a body schema (not FastAPI's "anything")."""
    body = op.definition.raw.get("requestBody", {}).get("content", {}).get("application/json", {})
    schema = body.get("schema", {})
    return "type" in schema or "anyOf" in schema


def _plan(op: Any, path_ids: list[str]) -> list[tuple[str, int, st.SearchStrategy[Any]]]:
    """(mode, examples, strategy) runs for one operation.

    Negative runs keep the path on existing objects (invalid ids only ever
    answer 404) and spend their examples on bodies, queries and headers; an
    operation with none of those described gets no negative run, and only
    one with a described body gets mutated bodies.
    """
    body = _described_body(op)
    examples = EXAMPLES_WITH_BODY if body else EXAMPLES_WITHOUT_BODY
    runs = [("positive", examples, op.as_strategy(generation_mode=GenerationMode.POSITIVE))]
    if body or len(op.query) or len(op.headers):
        fixed = {p.name: path_ids[i % len(path_ids)] for i, p in enumerate(op.path_parameters)}
        negative = op.as_strategy(generation_mode=GenerationMode.NEGATIVE, path_parameters=fixed)
        runs.append(("negative", examples, negative))
    if body:
        runs.append(("mutated", examples, _mutated(op)))
    return runs


def _priority(path: str) -> int:
    """Networking and Compute first: under a tight budget the tail is what goes unfuzzed."""
    for rank, prefix in enumerate(("/networking", "/compute", "/image", "/identity")):
        if path.startswith(prefix):
            return rank
    return 4


def _fuzz(
    client: TestClient,
    schema: Any,
    tokens: dict[str, dict[str, str]],
    path_ids: list[str],
    deadline: float,
    tally: Tally,
) -> None:
    ops = [r.ok() for r in schema.get_all_operations()]
    for op in sorted(ops, key=lambda op: _priority(op.path)):  # stable: spec order within
        if (op.method.upper(), op.path) in SKIP:
            continue
        for who, token in tokens.items():
            for mode, examples, strategy in _plan(op, path_ids):
                if time.monotonic() > deadline:
                    tally.not_reached.append(f"{who} {mode} {op.label}")
                    continue
                _run(client, strategy, examples, token, f"{who} {mode} {op.label}", deadline, tally)


def _run(
    client: TestClient,
    strategy: st.SearchStrategy[Any],
    examples: int,
    token: dict[str, str],
    label: str,
    deadline: float,
    tally: Tally,
) -> None:
    @given(drawn=strategy)
    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(drawn: Any) -> None:
        if time.monotonic() > deadline:
            return
        case, body = drawn if isinstance(drawn, tuple) else (drawn, NO_BODY)
        status = _send(client, case, token, body)
        if status is None:
            return
        tally.requests += 1
        tally.statuses[status] += 1
        if status >= 500:
            sent = case.body if body is NO_BODY else body
            tally.failures.append(f"{label} -> {status}: {case.formatted_path} {sent!r:.300}")

    try:
        run()
    except Unsatisfiable:
        pass  # nothing left to vary (a tiny parameter space, exhausted)


def test_fuzz_api(
    seeded: Seeded, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.WARNING, logger="httpx")
    member = seeded.member("fuzz")
    ids = seeded.seed(member)
    path_ids = sorted({v for vs in ids.values() for v in vs})
    doc = describe(seeded.c.app.openapi(), ids, path_ids)  # type: ignore[attr-defined]
    schema = schemathesis.openapi.from_dict(doc)
    tally = Tally()
    started = time.monotonic()
    tokens = {"member": member, "admin": seeded.admin}
    _fuzz(seeded.c, schema, tokens, path_ids, started + BUDGET_S, tally)
    took = time.monotonic() - started
    out, err = capfd.readouterr()
    logged = caplog.text + out + err
    print(
        f"\nfuzz: {tally.requests} requests in {took:.0f} s; statuses "
        f"{dict(sorted(tally.statuses.items()))}; runs not reached: {len(tally.not_reached)}"
    )
    assert not tally.failures, "\n".join(tally.failures[:20])
    assert "Traceback" not in logged, logged[logged.index("Traceback") - 2000 :][:6000]
    assert tally.requests >= MIN_REQUESTS
