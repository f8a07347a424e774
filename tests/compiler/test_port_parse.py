"""``PortView.from_body`` (its fast path for empty lists) gives what the
field-by-field reading it replaced gives, for bodies with and without each
optional list, and fails on the same bad bodies."""

from __future__ import annotations

import random
from typing import Any

import pytest

from kumo.compiler.model import (
    AddressPair,
    DnsAssignment,
    FixedIp,
    PortView,
    QosRuleView,
    TrunkLink,
    parse_one,
)


def _reference(body: dict[str, Any]) -> PortView:
    """The reading before the fast path, kept as the definition."""
    mtu = body.get("mtu")
    mac = str(body["mac_address"]).lower()
    return PortView(
        id=str(body["id"]),
        network_id=str(body["network_id"]),
        mac=str(body["mac_address"]).lower(),
        fixed_ips=tuple(
            FixedIp(str(ip["subnet_id"]), str(ip["ip_address"]))
            for ip in body.get("fixed_ips") or ()
        ),
        host=str(body.get("binding:host_id") or ""),
        device_owner=str(body.get("device_owner") or ""),
        device_id=str(body.get("device_id") or ""),
        admin_state_up=bool(body.get("admin_state_up", True)),
        mtu=int(mtu) if mtu else None,
        port_security=bool(body.get("port_security_enabled", False)),
        security_groups=tuple(sorted(str(g) for g in body.get("security_groups") or ())),
        address_pairs=tuple(
            sorted(
                AddressPair(str(p["ip_address"]), str(p.get("mac_address") or mac).lower())
                for p in body.get("allowed_address_pairs") or ()
            )
        ),
        extra_dhcp_opts=tuple(
            sorted(
                (str(o["opt_name"]), str(o.get("opt_value") or ""), int(o.get("ip_version") or 4))
                for o in body.get("extra_dhcp_opts") or ()
            )
        ),
        hostname=str(body.get("kumo_hostname") or ""),
        qos=tuple(sorted(QosRuleView.from_body(r) for r in body.get("kumo_qos_rules") or ())),
        trunk=TrunkLink.from_body(body.get("kumo_trunk")),
        project_id=str(body.get("project_id") or ""),
        dns=tuple(
            DnsAssignment(str(d["hostname"]), str(d["ip_address"]), str(d["fqdn"]))
            for d in body.get("dns_assignment") or ()
        ),
    )


def _body(rng: random.Random) -> dict[str, Any]:
    def maybe(value: Any) -> Any:
        return rng.choice([value, None, [], value])

    body: dict[str, Any] = {
        "id": f"p{rng.randrange(100)}",
        "network_id": "n1",
        "mac_address": rng.choice(["FA:16:3E:00:00:01", "fa:16:3e:00:00:02"]),
        "fixed_ips": maybe(
            [{"subnet_id": "s1", "ip_address": f"10.0.0.{i}"} for i in range(rng.randrange(1, 3))]
        ),  # fmt: skip
        "security_groups": maybe(rng.sample(["g3", "g1", "g2"], rng.randrange(1, 4))),
        "allowed_address_pairs": maybe(
            [
                {"ip_address": "10.0.1.0/24"},
                {"ip_address": "10.0.0.9", "mac_address": "AA:BB:CC:00:00:01"},
            ]
        ),  # fmt: skip
        "extra_dhcp_opts": maybe(
            [
                {"opt_name": "mtu", "opt_value": "1400"},
                {"opt_name": "dns", "opt_value": None, "ip_version": 6},
            ]
        ),  # fmt: skip
        "kumo_qos_rules": maybe(
            [{"type": "bandwidth_limit", "max_kbps": 10}, {"type": "dscp_marking", "dscp_mark": 8}]
        ),  # fmt: skip
        "dns_assignment": maybe([{"hostname": "h", "ip_address": "10.0.0.1", "fqdn": "h.x."}]),
        "kumo_trunk": rng.choice([None, {}, {"parent_port_id": "p0", "segmentation_id": "7"}]),
        "binding:host_id": rng.choice([None, "", "host-1"]),
        "mtu": rng.choice([None, 0, 1400, "1300"]),
        "port_security_enabled": rng.choice([True, False]),
        "admin_state_up": rng.choice([True, False]),
        "kumo_hostname": rng.choice([None, "vm-1"]),
        "project_id": rng.choice([None, "proj"]),
    }
    for key in list(body):
        if key not in ("id", "network_id", "mac_address") and rng.random() < 0.2:
            del body[key]
    return body


def test_random_bodies_parse_as_the_reference_does() -> None:
    rng = random.Random(25)
    for _ in range(2000):
        body = _body(rng)
        assert PortView.from_body(body) == _reference(body), body


@pytest.mark.parametrize(
    "bad",
    [
        {"fixed_ips": [{"ip_address": "10.0.0.1"}]},
        {"fixed_ips": {"subnet_id": "s1"}},
        {"allowed_address_pairs": [{"mac_address": "aa:bb:cc:dd:ee:ff"}]},
        {"extra_dhcp_opts": [{"opt_value": "x"}]},
        {"kumo_qos_rules": [{"max_kbps": 1}]},
        {"dns_assignment": [{"hostname": "h"}]},
        {"security_groups": 5},
        {"kumo_trunk": {"parent_port_id": "p0"}},
        {"mtu": "big"},
    ],
)
def test_bad_bodies_fail_as_the_reference_does(bad: dict[str, Any]) -> None:
    body = {"id": "p1", "network_id": "n1", "mac_address": "fa:16:3e:00:00:01", **bad}
    with pytest.raises((KeyError, TypeError, ValueError, AttributeError)):
        _reference(body)
    assert parse_one("port", body) is None
