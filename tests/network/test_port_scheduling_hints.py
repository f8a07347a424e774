"""port-numa-affinity-policy and port-device-profile: kept, validated and shown."""

from __future__ import annotations

from tests.network.conftest import Cloud, N


def test_numa_affinity_policy_and_device_profile(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    net = cloud.post(alice, "/networks", {"network": {}})["network"]
    plain = cloud.post(alice, "/ports", {"port": {"network_id": net["id"]}})["port"]
    assert (plain["numa_affinity_policy"], plain["device_profile"]) == (None, None)
    body = {"network_id": net["id"], "numa_affinity_policy": "required", "device_profile": "dp1"}
    port = cloud.post(alice, "/ports", {"port": body})["port"]
    assert (port["numa_affinity_policy"], port["device_profile"]) == ("required", "dp1")
    path = f"{N}/ports/{port['id']}"
    for policy in ("preferred", "legacy", None):
        r = cloud.c.put(path, headers=alice, json={"port": {"numa_affinity_policy": policy}})
        assert r.status_code == 200, r.text
        assert r.json()["port"]["numa_affinity_policy"] == policy
    shown = cloud.c.get(path, headers=alice).json()["port"]
    assert (shown["numa_affinity_policy"], shown["device_profile"]) == (None, "dp1")
    bad = cloud.c.put(path, headers=alice, json={"port": {"numa_affinity_policy": "socketX"}})
    assert bad.status_code == 400
    assert bad.json()["NeutronError"]["type"] == "InvalidInput"
    # device_profile is set on create only
    r = cloud.c.put(path, headers=alice, json={"port": {"device_profile": "dp2"}})
    assert r.status_code == 400
    r = cloud.c.post(f"{N}/ports", headers=alice,
                     json={"port": {"network_id": net["id"], "device_profile": 5}})  # fmt: skip
    assert r.status_code == 400
    listed = cloud.c.get(f"{N}/ports?device_profile=dp1", headers=alice).json()["ports"]
    assert [p["id"] for p in listed] == [port["id"]]
    exts = {e["alias"] for e in cloud.c.get(N + "/extensions", headers=alice).json()["extensions"]}
    assert {"port-numa-affinity-policy", "port-device-profile"} <= exts


def test_direct_physical_port_takes_the_device_mac(cloud: Cloud) -> None:
    """port-mac-override: the binding profile's device_mac_address, bound port or not."""
    h = cloud.admin
    net = cloud.post(h, "/networks", {"network": {}})["network"]
    mac = "fa:16:3e:00:00:42"
    profile = {"device_mac_address": mac}
    body = {"network_id": net["id"], "binding:vnic_type": "direct-physical",
            "binding:profile": profile}  # fmt: skip
    made = cloud.post(h, "/ports", {"port": body})["port"]
    assert made["mac_address"] == mac
    # a normal port keeps its own MAC whatever the profile says
    normal = cloud.post(h, "/ports", {"port": {"network_id": net["id"],
                        "binding:profile": {"device_mac_address": "fa:16:3e:00:00:43"}}})  # fmt: skip
    assert normal["port"]["mac_address"] != "fa:16:3e:00:00:43"
    # a bound port's MAC follows a new device
    path = f"{N}/ports/{made['id']}"
    r = cloud.c.put(path, headers=h, json={"port": {"binding:host_id": "compute1"}})
    assert r.status_code == 200, r.text
    new = {"device_mac_address": "fa:16:3e:00:00:44"}
    r = cloud.c.put(path, headers=h, json={"port": {"binding:profile": new}})
    assert r.status_code == 200, r.text
    assert r.json()["port"]["mac_address"] == "fa:16:3e:00:00:44"
    taken = {"device_mac_address": normal["port"]["mac_address"]}
    r = cloud.c.put(path, headers=h, json={"port": {"binding:profile": taken}})
    assert r.status_code == 409 and r.json()["NeutronError"]["type"] == "MacAddressInUse"
    bad = {"device_mac_address": "nope"}
    r = cloud.c.put(path, headers=h, json={"port": {"binding:profile": bad}})
    assert r.status_code == 400
    exts = {e["alias"] for e in cloud.c.get(N + "/extensions", headers=h).json()["extensions"]}
    assert "port-mac-override" in exts
