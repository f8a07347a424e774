"""service-type: GET /v2.0/service-providers."""

from __future__ import annotations

from tests.network.conftest import Cloud, N


def test_service_providers_listed_and_filtered(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    r = cloud.c.get(f"{N}/service-providers", headers=alice)
    assert r.status_code == 200, r.text
    providers = r.json()["service_providers"]
    assert {"service_type": "L3_ROUTER_NAT", "name": "kumo", "default": True} in providers
    r = cloud.c.get(f"{N}/service-providers?service_type=QOS&fields=name", headers=alice)
    assert r.json() == {"service_providers": [{"name": "kumo"}]}
    bad = cloud.c.get(f"{N}/service-providers?bogus=1", headers=alice)
    assert bad.status_code == 400
    assert cloud.c.get(f"{N}/service-providers").status_code == 401
    exts = {e["alias"] for e in cloud.c.get(N + "/extensions", headers=alice).json()["extensions"]}
    assert "service-type" in exts
