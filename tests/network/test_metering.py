"""Metering: labels and rules with Neutron's checks (admin-only), the label
events agents follow, and the counts agents report summed per label."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from kumo.db.outbox_models import OutboxEvent
from tests.network.conftest import Cloud, N

M = "/metering"


def _req(cloud: Cloud, method: str, h: dict[str, str], path: str, body: Any = None,
         status: int = 200) -> Any:  # fmt: skip
    r = cloud.c.request(method, f"{N}{path}", headers=h, json=body)
    assert r.status_code == status, r.text
    return r.json() if r.content else None


def _events(cloud: Cloud, label_id: str) -> list[tuple[str, dict[str, Any]]]:
    with cloud.rt.db.read_session() as s:
        q = select(OutboxEvent).where(
            OutboxEvent.kind == "metering_label", OutboxEvent.object_id == label_id
        )
        return [(e.op, e.body) for e in s.scalars(q.order_by(OutboxEvent.revision))]


def _rule(cloud: Cloud, label_id: str, status: int = 201, **fields: Any) -> Any:
    body = {"metering_label_rule": {"metering_label_id": label_id, **fields}}
    return _req(cloud, "POST", cloud.admin, f"{M}/metering-label-rules", body, status)


def test_labels_and_rules(cloud: Cloud) -> None:
    admin, alice = cloud.admin, cloud.member("alice")
    label = cloud.post(admin, f"{M}/metering-labels",
                       {"metering_label": {"name": "l1", "description": "d"}})["metering_label"]  # fmt: skip
    assert label["shared"] is False and label["name"] == "l1" and label["description"] == "d"
    assert label["project_id"] == label["tenant_id"]
    lid = label["id"]
    r = _rule(cloud, lid, direction="egress", remote_ip_prefix="10.0.0.0/24")
    rule = r["metering_label_rule"]
    assert rule == {"id": rule["id"], "metering_label_id": lid, "direction": "egress",
                    "excluded": False, "remote_ip_prefix": "10.0.0.0/24",
                    "source_ip_prefix": None, "destination_ip_prefix": None}  # fmt: skip
    # overlapping prefix, same direction and excluded: 409; excluded or ingress: fine
    err = _rule(cloud, lid, 409, direction="egress", remote_ip_prefix="10.0.0.128/25")
    assert err["NeutronError"]["type"] == "MeteringLabelRuleOverlaps"
    _rule(cloud, lid, direction="egress", remote_ip_prefix="10.0.0.128/25", excluded=True)
    _rule(cloud, lid, direction="ingress", remote_ip_prefix="10.0.0.0/24")
    both = _rule(cloud, lid, direction="egress", source_ip_prefix="192.0.2.0/24",
                 destination_ip_prefix="198.51.100.0/24")["metering_label_rule"]  # fmt: skip
    assert both["remote_ip_prefix"] is None and both["source_ip_prefix"] == "192.0.2.0/24"
    for bad in (
        {"direction": "up", "remote_ip_prefix": "10.1.0.0/16"},
        {"remote_ip_prefix": "10.1.0.0/16"},
        {"direction": "egress"},
        {"direction": "egress", "remote_ip_prefix": "x"},
        {"direction": "egress", "remote_ip_prefix": "10.1.0.0/16", "source_ip_prefix": "1.0.0.0/8"},
        {"direction": "egress", "source_ip_prefix": "1.0.0.0/8", "destination_ip_prefix": "::/0"},
    ):
        _rule(cloud, lid, 400, **bad)
    err = _rule(cloud, "00000000-0000-0000-0000-000000000000", 404, direction="egress",
                remote_ip_prefix="10.9.0.0/16")  # fmt: skip
    assert err["NeutronError"]["type"] == "MeteringLabelNotFound"
    listed = _req(cloud, "GET", admin, f"{M}/metering-label-rules?metering_label_id={lid}")
    assert len(listed["metering_label_rules"]) == 4
    only = _req(cloud, "GET", admin, f"{M}/metering-label-rules?excluded=true")
    assert [x["remote_ip_prefix"] for x in only["metering_label_rules"]] == ["10.0.0.128/25"]
    assert _req(cloud, "GET", admin, f"{M}/metering-label-rules/{rule['id']}")[
        "metering_label_rule"] == rule  # fmt: skip
    # no update (as in Neutron)
    assert cloud.c.put(f"{N}{M}/metering-labels/{lid}", headers=admin,
                json={"metering_label": {"name": "x"}}).status_code in (404, 405)  # fmt: skip
    # admin-only
    _req(cloud, "GET", alice, f"{M}/metering-labels", status=403)
    _req(cloud, "POST", alice, f"{M}/metering-labels", {"metering_label": {}}, status=403)
    # events carry the label with its rules
    ops = _events(cloud, lid)
    assert ops[0][0] == "upsert" and ops[0][1]["rules"] == []
    assert len(ops[-1][1]["rules"]) == 4
    _req(cloud, "DELETE", admin, f"{M}/metering-label-rules/{rule['id']}", status=204)
    assert len(_events(cloud, lid)[-1][1]["rules"]) == 3
    err = _req(cloud, "GET", admin, f"{M}/metering-label-rules/{rule['id']}", status=404)
    assert err["NeutronError"]["type"] == "MeteringLabelRuleNotFound"
    _req(cloud, "DELETE", admin, f"{M}/metering-labels/{lid}", status=204)
    assert _events(cloud, lid)[-1][0] == "delete"
    assert _req(cloud, "GET", admin, f"{M}/metering-label-rules?metering_label_id={lid}")[
        "metering_label_rules"] == []  # fmt: skip
    err = _req(cloud, "GET", admin, f"{M}/metering-labels/{lid}", status=404)
    assert err["NeutronError"]["type"] == "MeteringLabelNotFound"


def test_counts_are_summed_over_hosts_and_survive_agent_restarts(cloud: Cloud) -> None:
    admin = cloud.admin
    lid = cloud.post(admin, f"{M}/metering-labels", {"metering_label": {"shared": True}})[
        "metering_label"]["id"]  # fmt: skip
    agents = {}
    for host in ("h1", "h2"):
        r = cloud.c.post("/internal/v1/agents", headers=admin,
                         json={"agent": {"host": host}})  # fmt: skip
        assert r.status_code in (200, 201), r.text
        agents[host] = r.json()["agent"]["id"]

    def report(host: str, nbytes: int, packets: int) -> None:
        r = cloud.c.post(f"/internal/v1/agents/{agents[host]}/metering", headers=admin,
                         json={"counts": {lid: [nbytes, packets], "gone": [1, 1]}})  # fmt: skip
        assert r.status_code == 200, r.text
        assert r.json() == {"recorded": 1}

    def counts() -> Any:
        return _req(cloud, "GET", admin, f"{M}/metering-labels/{lid}/counts")["counts"]

    assert counts() == {"metering_label_id": lid, "bytes": 0, "packets": 0, "hosts": 0}
    report("h1", 1000, 10)
    report("h2", 500, 5)
    report("h1", 1500, 15)
    assert counts() == {"metering_label_id": lid, "bytes": 2000, "packets": 20, "hosts": 2}
    report("h2", 100, 1)  # h2's agent started again: its 500 are kept
    assert counts()["bytes"] == 2100 and counts()["packets"] == 21
    bad = cloud.c.post(f"/internal/v1/agents/{agents['h1']}/metering", headers=admin,
                       json={"counts": {lid: [-1, 0]}})  # fmt: skip
    assert bad.status_code == 400
    _req(cloud, "GET", cloud.member("alice"), f"{M}/metering-labels/{lid}/counts", status=403)


def test_listed_as_extensions(cloud: Cloud) -> None:
    found = cloud.c.get(f"{N}/extensions", headers=cloud.admin).json()["extensions"]
    aliases = {e["alias"] for e in found}
    assert {"metering", "metering_source_and_destination_fields"} <= aliases
