"""Scheduling: filters, spread vs pack, zones, server groups, NoValidHost, concurrency."""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from typing import Any

from sqlalchemy import update

from kumo.compute.microversion import MAX
from kumo.compute.scheduler import RequestSpec, select
from kumo.compute.scheduler.hosts import HostState
from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.agent_models import Agent
from kumo.image.images import BUSYBOX_ID
from tests.compute.conftest import Cloud


def boot(cloud: Cloud, h: dict[str, str], name: str, flavor: str = "1", **extra: Any) -> str:
    top = extra.pop("top", {})
    server = {"name": name, "imageRef": BUSYBOX_ID, "flavorRef": flavor, "networks": "none"}
    sid: str = cloud.post(h, "/servers", {"server": {**server, **extra}, **top})["server"]["id"]
    return sid


def host_of(cloud: Cloud, sid: str) -> str | None:
    server = cloud.get(cloud.admin, f"/servers/{sid}")["server"]
    return server["OS-EXT-SRV-ATTR:host"]


def state(host: str, **kw: Any) -> HostState:
    base = dict(
        host=host,
        agent_id=host,
        zone="nova",
        alive=True,
        enabled=True,
        compute=True,
        vcpus=8,
        memory_mb=16384,
    )
    base.update(kw)
    return HostState(**base)  # type: ignore[arg-type]


def test_each_filter_unit() -> None:
    s = Settings()
    spec = RequestSpec(vcpus=1, memory_mb=512)
    assert select([state("a", alive=False)], spec, s) is None
    assert select([state("a", enabled=False)], spec, s) is None
    assert select([state("a", compute=False)], spec, s) is None
    assert select([state("a", zone="z1")], dataclasses.replace(spec, zone="z2"), s) is None
    # RAM: 1024 MB * 1.5 = 1536 MB of room; CPU: 1 * 16 = 16 vCPUs
    assert select([state("a", memory_mb=1024, memory_mb_used=1024)], spec, s) is not None
    assert select([state("a", memory_mb=1024, memory_mb_used=1100)], spec, s) is None
    assert select([state("a", vcpus=1, vcpus_used=16)], spec, s) is None
    anti = dataclasses.replace(spec, group_policy="anti-affinity", group_hosts=("a",))
    assert select([state("a"), state("b")], anti, s).host == "b"  # type: ignore[union-attr]
    aff = dataclasses.replace(spec, group_policy="affinity", group_hosts=("b",))
    assert select([state("a"), state("b", memory_mb_used=9000)], aff, s).host == "b"  # type: ignore[union-attr]
    soft = dataclasses.replace(spec, group_policy="soft-affinity", group_hosts=("b", "b"))
    assert select([state("a"), state("b", memory_mb_used=1000)], soft, s).host == "b"  # type: ignore[union-attr]
    forced = dataclasses.replace(spec, force_host="b")
    assert select([state("a"), state("b")], forced, s).host == "b"  # type: ignore[union-attr]


def test_spread_and_pack_weighers() -> None:
    spec = RequestSpec(vcpus=1, memory_mb=512)
    hosts = [state("a", memory_mb_used=4096), state("b", memory_mb_used=1024)]
    assert select(hosts, spec, Settings()).host == "b"  # type: ignore[union-attr]
    assert select(hosts, spec, Settings(scheduler_spread=False)).host == "a"  # type: ignore[union-attr]
    custom = Settings(scheduler_weighers=("tests.compute.test_scheduler:prefer_z",))
    hosts = [state("a"), state("z")]
    assert select(hosts, spec, custom).host == "z"  # type: ignore[union-attr]


def prefer_z(host: HostState, spec: RequestSpec, settings: Settings) -> float:
    return 1.0 if host.host == "z" else 0.0


def test_spread_over_hosts_and_no_valid_host(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    sid = boot(cloud, alice, "lonely")
    server = cloud.get(alice, f"/servers/{sid}")["server"]
    assert server["status"] == "ERROR"
    assert server["fault"]["code"] == 500
    assert server["fault"]["message"].startswith("No valid host was found.")
    cloud.host("host1")
    cloud.host("host2")
    cloud.host("gw", compute=False, gateway=True)
    hosts = [host_of(cloud, boot(cloud, alice, f"s{i}")) for i in range(4)]
    assert sorted(hosts) == ["host1", "host1", "host2", "host2"]  # type: ignore[type-var]
    # a dead agent takes no servers
    with cloud.rt.db.write_session() as s:
        s.execute(
            update(Agent)
            .where(Agent.host == "host1")
            .values(heartbeat_timestamp=dt.datetime(2000, 1, 1))
        )
        s.commit()
    assert {host_of(cloud, boot(cloud, alice, f"t{i}")) for i in range(2)} == {"host2"}
    hyper = cloud.get(cloud.admin, "/os-hypervisors/detail")["hypervisors"]
    assert [h["hypervisor_hostname"] for h in hyper] == ["host1", "host2"]
    assert [h["state"] for h in hyper] == ["down", "up"]
    assert hyper[1]["running_vms"] == 4 and hyper[1]["memory_mb_used"] == 2048
    assert (hyper[1]["vcpus"], hyper[1]["memory_mb"]) == (8, 16384)


def test_zones_capacity_and_forced_host(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    cloud.host("east1", az="east", vcpus=1, memory_mb=2048)  # room: 16 vCPUs, 3072 MB
    cloud.host("west1", az="west")
    s1 = boot(cloud, alice, "e", flavor="2", availability_zone="east")
    assert cloud.get(alice, f"/servers/{s1}")["server"]["OS-EXT-AZ:availability_zone"] == "east"
    assert host_of(cloud, s1) == "east1"
    s2 = boot(cloud, alice, "e2", flavor="2", availability_zone="east")
    assert cloud.get(alice, f"/servers/{s2}")["server"]["status"] == "ERROR"
    boot_bad = {
        "server": {
            "name": "x",
            "imageRef": BUSYBOX_ID,
            "flavorRef": "1",
            "networks": "none",
            "availability_zone": "nowhere",
        }
    }
    cloud.post(alice, "/servers", boot_bad, status=400)
    boot_bad["server"]["availability_zone"] = "west:west1"
    cloud.post(alice, "/servers", boot_bad, status=403)
    forced = boot(cloud, cloud.admin, "f", availability_zone="east:east1")
    assert host_of(cloud, forced) == "east1"
    zones = cloud.get(alice, "/os-availability-zone")["availabilityZoneInfo"]
    assert [z["zoneName"] for z in zones] == ["east", "west"]
    cloud.get(alice, "/os-availability-zone/detail", status=403)
    detail = cloud.get(cloud.admin, "/os-availability-zone/detail")["availabilityZoneInfo"]
    assert "east1" in detail[0]["hosts"] and detail[-1]["zoneName"] == "internal"


def test_server_groups_anti_affinity_and_affinity(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    for h in ("host1", "host2", "host3"):
        cloud.host(h)
    anti = cloud.post(
        alice,
        "/os-server-groups",
        {"server_group": {"name": "g", "policy": "anti-affinity"}},
        status=200,
    )["server_group"]
    assert anti["policy"] == "anti-affinity" and anti["rules"] == {}
    placed = [
        host_of(
            cloud, boot(cloud, alice, f"a{i}", top={"os:scheduler_hints": {"group": anti["id"]}})
        )
        for i in range(4)
    ]
    assert sorted(placed[:3]) == ["host1", "host2", "host3"] and placed[3] is None  # type: ignore[type-var]
    assert len(cloud.get(alice, f"/os-server-groups/{anti['id']}")["server_group"]["members"]) == 4
    aff = cloud.post(
        alice,
        "/os-server-groups",
        {"server_group": {"name": "g2", "policies": ["affinity"]}},
        status=200,
        version="2.63",
    )["server_group"]
    assert aff["policies"] == ["affinity"]
    hosts = {
        host_of(
            cloud, boot(cloud, alice, f"b{i}", top={"os:scheduler_hints": {"group": aff["id"]}})
        )
        for i in range(3)
    }
    assert len(hosts) == 1
    cloud.post(
        alice, "/os-server-groups", {"server_group": {"name": "g3", "policy": "bogus"}}, status=400
    )
    bob = cloud.member("bob")
    cloud.get(bob, f"/os-server-groups/{aff['id']}", status=404)
    assert {g["id"] for g in cloud.get(alice, "/os-server-groups")["server_groups"]} == {
        anti["id"],
        aff["id"],
    }
    cloud.call("DELETE", alice, f"/os-server-groups/{aff['id']}", status=204)


def test_concurrent_creates_fill_a_small_host_exactly(cloud: Cloud) -> None:
    # host room: 1 vCPU * 16 = 16 vCPUs; 2731 MB * 1.5 = 4096 MB = 8 m1.tiny
    cloud.host("small", vcpus=1, memory_mb=2731)
    rt = cloud.rt
    project = rt.identity.create_project({"name": "load"})
    rt.compute._write(lambda uow: None)
    from kumo.compute import quotas

    rt.compute._write(
        lambda uow: quotas.update(
            uow.session,
            rt.settings,
            project.id,
            {"quota_set": {"instances": 50, "cores": 50, "ram": 100000}},
        )
    )
    ctx = RequestContext(user_id="u", project_id=project.id, roles=frozenset({"member"}))
    errors: list[BaseException] = []

    def create(i: int) -> None:
        try:
            body = {
                "server": {
                    "name": f"c{i}",
                    "imageRef": BUSYBOX_ID,
                    "flavorRef": "1",
                    "networks": "none",
                }
            }
            rt.compute.create_servers(ctx, body, "http://x/compute", MAX)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(9)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    servers = rt.compute.list_servers(ctx, {}, "http://x/compute", MAX, detail=True)
    statuses = sorted(s["status"] for s in servers)
    assert statuses == ["ACTIVE"] * 8 + ["ERROR"]
    (hyper,) = cloud.get(cloud.admin, "/os-hypervisors/detail")["hypervisors"]
    assert hyper["memory_mb_used"] == 4096 and hyper["running_vms"] == 8


def test_server_group_rules_must_be_positive_integers(cloud: Cloud) -> None:
    # An empty string was a 500 (int("") raised ValueError).
    alice = cloud.member("alice")
    for value in ("", "x", 0, 2**31, [], True):
        body = {
            "server_group": {
                "name": "g",
                "policy": "anti-affinity",
                "rules": {"max_server_per_host": value},
            }
        }
        r = cloud.post(alice, "/os-server-groups", body, status=400)
        assert "max_server_per_host" in r["badRequest"]["message"], r
    body = {
        "server_group": {
            "name": "g",
            "policy": "anti-affinity",
            "rules": {"max_server_per_host": "2"},
        }
    }
    made = cloud.post(alice, "/os-server-groups", body, status=200)["server_group"]
    assert made["rules"] == {"max_server_per_host": 2}


def test_bandwidth_filter_unit() -> None:
    s = Settings()
    spec = RequestSpec(vcpus=1, memory_mb=512, bandwidth={"physnet1": (600, 100)})
    offers = {"bandwidths": {"physnet1": {"egress": 1000, "ingress": 1000}}}
    assert select([state("a")], spec, s) is None  # offers nothing on physnet1
    assert select([state("a", configurations=offers)], spec, s) is not None
    full = state("a", configurations=offers, bandwidth_used={"physnet1": (500, 0)})
    assert select([full], spec, s) is None  # 500 + 600 > 1000
    room = state("b", configurations=offers, bandwidth_used={"physnet1": (400, 900)})
    assert select([full, room], spec, s).host == "b"  # type: ignore[union-attr]
    assert select([state("a")], RequestSpec(vcpus=1, memory_mb=512), s) is not None


def test_minimum_bandwidth_places_servers_where_the_physnet_has_room(cloud: Cloud) -> None:
    n = "/networking/v2.0"
    alice = cloud.member("alice")
    cloud.host("big", bandwidths={"physnet1": {"egress": 1000, "ingress": 1000}})
    cloud.host("none")
    pol = cloud.c.post(f"{n}/qos/policies", headers=cloud.admin,
                       json={"policy": {"name": "min", "shared": True}}).json()["policy"]  # fmt: skip
    r = cloud.c.post(f"{n}/qos/policies/{pol['id']}/minimum_bandwidth_rules", headers=cloud.admin,
                     json={"minimum_bandwidth_rule": {"min_kbps": 600}})  # fmt: skip
    assert r.status_code == 201, r.text
    net = cloud.c.post(f"{n}/networks", headers=cloud.admin, json={"network": {
        "name": "phys", "shared": True, "provider:network_type": "flat",
        "provider:physical_network": "physnet1", "qos_policy_id": pol["id"]}}).json()["network"]  # fmt: skip
    r = cloud.c.post(f"{n}/subnets", headers=cloud.admin, json={"subnet": {
        "network_id": net["id"], "cidr": "10.9.0.0/24", "ip_version": 4}})  # fmt: skip
    assert r.status_code == 201, r.text
    first = boot(cloud, alice, "one", networks=[{"uuid": net["id"]}])
    assert host_of(cloud, first) == "big"
    (port,) = cloud.ports_of(first)
    shown = cloud.c.get(f"{n}/ports/{port['id']}", headers=cloud.admin).json()["port"]
    (group,) = shown["resource_request"]["request_groups"]
    assert group["required"] == ["CUSTOM_PHYSNET_PHYSNET1", "CUSTOM_VNIC_TYPE_NORMAL"]
    assert group["resources"] == {"NET_BW_EGR_KILOBIT_PER_SEC": 600}
    mine = cloud.c.get(f"{n}/ports/{port['id']}", headers=alice).json()["port"]
    assert "resource_request" not in mine  # admins only, as in Neutron
    # 400 kbps left on big, nothing offered on none: the second does not fit
    second = boot(cloud, alice, "two", networks=[{"uuid": net["id"]}])
    assert cloud.get(alice, f"/servers/{second}")["server"]["status"] == "ERROR"
    # without a network asking anything it goes anywhere
    assert host_of(cloud, boot(cloud, alice, "three")) in ("big", "none")


def test_packet_rate_filter_unit() -> None:
    s = Settings()
    anyway = RequestSpec(vcpus=1, memory_mb=512, packet_rate={"any": 400})
    both = {"packet_rates": {"any": 1000}}
    split = {"packet_rates": {"egress": 1000, "ingress": 500}}
    assert select([state("a")], anyway, s) is None  # offers no packet rate
    assert select([state("a", configurations=both)], anyway, s) is not None
    # 700 + 400 > 1000; 600 + 400 fits exactly
    full = state("a", configurations=both, packet_rate_used={"any": 700})
    assert select([full], anyway, s) is None
    fits = state("a", configurations=both, packet_rate_used={"any": 600})
    assert select([fits], anyway, s) is not None
    # Placement's resource classes: a direction-less ask needs a
    # direction-less offer, a directed ask an offer in that direction
    assert select([state("a", configurations=split)], anyway, s) is None
    egress = RequestSpec(vcpus=1, memory_mb=512, packet_rate={"egress": 900, "ingress": 100})
    assert select([state("a", configurations=both)], egress, s) is None
    assert select([state("a", configurations=split)], egress, s) is not None
    crowded = state("a", configurations=split, packet_rate_used={"egress": 0, "ingress": 450})
    assert select([crowded], egress, s) is None  # 450 + 100 > 500 ingress
    room = state("b", configurations=split, packet_rate_used={"egress": 100})
    assert select([crowded, room], egress, s).host == "b"  # type: ignore[union-attr]
    # asking nothing goes anywhere, a zero ask asks nothing
    assert select([state("a")], RequestSpec(vcpus=1, memory_mb=512), s) is not None
    zero = RequestSpec(vcpus=1, memory_mb=512, packet_rate={"any": 0})
    assert select([state("a")], zero, s) is not None


def _pps_policy(cloud: Cloud, name: str, *rules: dict[str, Any]) -> str:
    n = "/networking/v2.0"
    pol = cloud.c.post(f"{n}/qos/policies", headers=cloud.admin,
                       json={"policy": {"name": name, "shared": True}}).json()["policy"]  # fmt: skip
    for rule in rules:
        r = cloud.c.post(f"{n}/qos/policies/{pol['id']}/minimum_packet_rate_rules",
                         headers=cloud.admin, json={"minimum_packet_rate_rule": rule})  # fmt: skip
        assert r.status_code == 201, r.text
    policy_id: str = pol["id"]
    return policy_id


def test_minimum_packet_rate_places_servers_where_the_switch_has_room(cloud: Cloud) -> None:
    n = "/networking/v2.0"
    alice = cloud.member("alice")
    # the first host by name would win every tie: it has the least room
    cloud.host("a-small", packet_rates={"any": 300})
    cloud.host("b-big", packet_rates={"any": 1000})
    cloud.host("c-split", packet_rates={"egress": 500, "ingress": 500})
    pps = _pps_policy(cloud, "pps", {"min_kpps": 400, "direction": "any"})
    r = cloud.c.post(f"{n}/networks", headers=cloud.admin, json={"network": {
        "name": "tunnelled", "shared": True, "qos_policy_id": pps}})  # fmt: skip
    assert r.status_code == 201, r.text
    net = r.json()["network"]["id"]
    r = cloud.c.post(f"{n}/subnets", headers=cloud.admin, json={"subnet": {
        "network_id": net, "cidr": "10.8.0.0/24", "ip_version": 4}})  # fmt: skip
    assert r.status_code == 201, r.text
    # 400 kpps without direction: only b-big offers that (a tunnelled network
    # asks too: the packets cross the host's switch whatever the network)
    first = boot(cloud, alice, "one", networks=[{"uuid": net}])
    assert host_of(cloud, first) == "b-big"
    (port,) = cloud.ports_of(first)
    shown = cloud.c.get(f"{n}/ports/{port['id']}", headers=cloud.admin).json()["port"]
    (group,) = shown["resource_request"]["request_groups"]
    assert group["resources"] == {"NET_PACKET_RATE_KILOPACKET_PER_SEC": 400}
    second = boot(cloud, alice, "two", networks=[{"uuid": net}])
    assert host_of(cloud, second) == "b-big"
    # 200 kpps left on b-big: the third does not fit anywhere
    third = boot(cloud, alice, "three", networks=[{"uuid": net}])
    found = cloud.get(alice, f"/servers/{third}")["server"]
    assert found["status"] == "ERROR"
    assert "No valid host" in cloud.get(cloud.admin, f"/servers/{third}")["server"]["fault"][
        "message"]  # fmt: skip
    # deleting a server frees what its port held
    cloud.call("DELETE", alice, f"/servers/{first}", status=204)
    fourth = boot(cloud, alice, "four", networks=[{"uuid": net}])
    assert host_of(cloud, fourth) == "b-big"
    # ports made first, with their own policy, are counted once servers bind them
    small = _pps_policy(cloud, "small", {"min_kpps": 150, "direction": "any"})
    made = []
    for _ in range(4):
        r = cloud.c.post(f"{n}/ports", headers=alice, json={"port": {
            "network_id": net, "qos_policy_id": small}})  # fmt: skip
        assert r.status_code == 201, r.text
        made.append(r.json()["port"]["id"])
    # spreading prefers the emptier a-small while it has room (300 = 2 x 150)
    placed = [boot(cloud, alice, f"small-{i}", networks=[{"port": made[i]}]) for i in range(3)]
    assert [host_of(cloud, sid) for sid in placed] == ["a-small", "a-small", "b-big"]
    # a-small full, b-big 50 left
    last = boot(cloud, alice, "small-3", networks=[{"port": made[3]}])
    assert cloud.get(alice, f"/servers/{last}")["server"]["status"] == "ERROR"
    # directed asks go only where the switch offers rates per direction
    split = _pps_policy(cloud, "split", {"min_kpps": 300, "direction": "egress"},
                        {"min_kpps": 100, "direction": "ingress"})  # fmt: skip
    ports = []
    for _ in range(2):
        r = cloud.c.post(f"{n}/ports", headers=alice, json={"port": {
            "network_id": net, "qos_policy_id": split}})  # fmt: skip
        assert r.status_code == 201, r.text
        ports.append(r.json()["port"]["id"])
    seventh = boot(cloud, alice, "seven", networks=[{"port": ports[0]}])
    assert host_of(cloud, seventh) == "c-split"
    eighth = boot(cloud, alice, "eight", networks=[{"port": ports[1]}])  # 300 + 300 > 500
    assert cloud.get(alice, f"/servers/{eighth}")["server"]["status"] == "ERROR"
    # detaching the port frees it
    r = cloud.c.delete(f"/compute/v2.1/servers/{seventh}/os-interface/{ports[0]}", headers=alice)
    assert r.status_code == 202, r.text
    ninth = boot(cloud, alice, "nine", networks=[{"port": ports[1]}])
    assert host_of(cloud, ninth) == "c-split"
