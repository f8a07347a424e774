"""flavors and l3-flavors: flavors, service profiles, their bindings, routers made with one."""

from __future__ import annotations

from typing import Any

from tests.network.conftest import Cloud, N

L3 = "neutron.services.l3_router.service_providers."


def _error(r: Any, status: int, kind: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["NeutronError"]["type"] == kind, r.text


def test_flavors_and_service_profiles(cloud: Cloud) -> None:
    h = cloud.admin
    flavor = cloud.post(h, "/flavors", {"flavor": {"name": "gold", "service_type": "FLAVORS",
                                                   "description": "d"}})["flavor"]  # fmt: skip
    assert {k: flavor[k] for k in ("name", "description", "service_type", "enabled",
                                   "service_profiles")} == {
        "name": "gold", "description": "d", "service_type": "FLAVORS", "enabled": True,
        "service_profiles": []}  # fmt: skip
    _error(cloud.c.post(f"{N}/flavors", headers=h, json={"flavor": {"service_type": "VPN"}}),
           400, "InvalidFlavorServiceType")  # fmt: skip
    r = cloud.c.post(f"{N}/flavors", headers=h, json={"flavor": {"name": "x"}})
    assert r.status_code == 400, r.text
    r = cloud.c.put(f"{N}/flavors/{flavor['id']}", headers=h, json={"flavor": {"enabled": False}})
    assert r.status_code == 200 and r.json()["flavor"]["enabled"] is False, r.text
    r = cloud.c.put(f"{N}/flavors/{flavor['id']}", headers=h,
                    json={"flavor": {"service_type": "QOS"}})  # fmt: skip
    assert r.status_code == 400, r.text
    # service profiles: a known driver, or metainfo alone
    sp = cloud.post(h, "/service_profiles", {"service_profile": {
        "driver": "", "metainfo": '{"data": "value"}', "description": "p"}})["service_profile"]  # fmt: skip
    assert (sp["driver"], sp["metainfo"], sp["enabled"]) == ("", '{"data": "value"}', True)
    _error(cloud.c.post(f"{N}/service_profiles", headers=h, json={"service_profile": {}}),
           400, "ServiceProfileEmpty")  # fmt: skip
    _error(cloud.c.post(f"{N}/service_profiles", headers=h,
                        json={"service_profile": {"driver": "acme.Driver"}}),
           404, "ServiceProfileDriverNotFound")  # fmt: skip
    kumo = cloud.post(h, "/service_profiles",
                      {"service_profile": {"driver": "kumo"}})["service_profile"]  # fmt: skip
    # binding
    path = f"{N}/flavors/{flavor['id']}/service_profiles"
    r = cloud.c.post(path, headers=h, json={"service_profile": {"id": sp["id"]}})
    assert r.status_code == 201 and r.json() == {"service_profile": {"id": sp["id"]}}, r.text
    _error(cloud.c.post(path, headers=h, json={"service_profile": {"id": sp["id"]}}),
           409, "FlavorServiceProfileBindingExists")  # fmt: skip
    _error(cloud.c.post(path, headers=h, json={"service_profile": {
        "id": "8a8b8c8d-0000-4000-8000-000000000000"}}), 404, "ServiceProfileNotFound")  # fmt: skip
    shown = cloud.c.get(f"{N}/flavors/{flavor['id']}", headers=h).json()["flavor"]
    assert shown["service_profiles"] == [sp["id"]]
    _error(cloud.c.delete(f"{N}/service_profiles/{sp['id']}", headers=h),
           409, "ServiceProfileInUse")  # fmt: skip
    _error(cloud.c.put(f"{N}/service_profiles/{sp['id']}", headers=h,
                       json={"service_profile": {"enabled": False}}), 409, "ServiceProfileInUse")  # fmt: skip
    assert cloud.c.delete(f"{path}/{sp['id']}", headers=h).status_code == 204
    _error(cloud.c.delete(f"{path}/{sp['id']}", headers=h),
           404, "FlavorServiceProfileBindingNotFound")  # fmt: skip
    r = cloud.c.put(f"{N}/flavors/{flavor['id']}", headers=h,
                    json={"flavor": {"service_profiles": [kumo["id"], sp["id"]]}})  # fmt: skip
    assert r.json()["flavor"]["service_profiles"] == [kumo["id"], sp["id"]], r.text
    r = cloud.c.put(f"{N}/flavors/{flavor['id']}", headers=h,
                    json={"flavor": {"service_profiles": [sp["id"], kumo["id"]]}})  # fmt: skip
    assert r.json()["flavor"]["service_profiles"] == [sp["id"], kumo["id"]], r.text
    r = cloud.c.put(f"{N}/flavors/{flavor['id']}", headers=h,
                    json={"flavor": {"service_profiles": [kumo["id"]]}})  # fmt: skip
    assert r.json()["flavor"]["service_profiles"] == [kumo["id"]], r.text
    # lists and filters
    listed = cloud.c.get(f"{N}/flavors?service_type=FLAVORS", headers=h).json()["flavors"]
    assert [f["id"] for f in listed] == [flavor["id"]]
    assert cloud.c.get(f"{N}/flavors?id=33", headers=h).json()["flavors"] == []
    listed = cloud.c.get(f"{N}/service_profiles?driver=kumo", headers=h).json()
    assert [p["id"] for p in listed["service_profiles"]] == [kumo["id"]]
    # everyone reads flavors; only admins write them or see profiles
    m = cloud.member("alice")
    assert cloud.c.get(f"{N}/flavors/{flavor['id']}", headers=m).status_code == 200
    assert cloud.c.post(f"{N}/flavors", headers=m,
                        json={"flavor": {"service_type": "FLAVORS"}}).status_code == 403  # fmt: skip
    assert cloud.c.delete(f"{N}/flavors/{flavor['id']}", headers=m).status_code == 403
    assert cloud.c.get(f"{N}/service_profiles", headers=m).status_code == 403
    assert cloud.c.post(path, headers=m, json={"service_profile": {
        "id": sp["id"]}}).status_code == 403  # fmt: skip
    assert cloud.c.delete(f"{N}/flavors/{flavor['id']}", headers=h).status_code == 204
    _error(cloud.c.get(f"{N}/flavors/{flavor['id']}", headers=h), 404, "FlavorNotFound")
    assert cloud.c.delete(f"{N}/service_profiles/{sp['id']}", headers=h).status_code == 204
    assert cloud.c.delete(f"{N}/service_profiles/{kumo['id']}", headers=h).status_code == 204
    _error(cloud.c.get(f"{N}/service_profiles/{sp['id']}", headers=h),
           404, "ServiceProfileNotFound")  # fmt: skip
    exts = {e["alias"] for e in cloud.c.get(f"{N}/extensions", headers=h).json()["extensions"]}
    assert {"flavors", "l3-flavors"} <= exts


def _l3_flavor(cloud: Cloud, driver: str, *, enabled: bool = True) -> str:
    h = cloud.admin
    sp = cloud.post(h, "/service_profiles", {"service_profile": {"driver": driver}})
    flavor = cloud.post(h, "/flavors", {"flavor": {
        "service_type": "L3_ROUTER_NAT", "enabled": enabled,
        "service_profiles": [sp["service_profile"]["id"]]}})["flavor"]  # fmt: skip
    ident: str = flavor["id"]
    return ident


def test_routers_take_their_mode_from_the_flavor(cloud: Cloud) -> None:
    h = cloud.admin
    m = cloud.member("alice")
    single = _l3_flavor(cloud, L3 + "single_node.SingleNodeDriver")
    dvr = _l3_flavor(cloud, L3 + "dvr.DvrDriver")
    ha = _l3_flavor(cloud, L3 + "ha.HaDriver")
    own = _l3_flavor(cloud, "kumo")
    modes = {}
    for flavor in (single, dvr, ha, own):
        router = cloud.post(m, "/routers", {"router": {"name": "r", "flavor_id": flavor}})["router"]
        assert router["flavor_id"] == flavor
        shown = cloud.c.get(f"{N}/routers/{router['id']}", headers=h).json()["router"]
        modes[flavor] = (shown["distributed"], shown["ha"], shown["flavor_id"])
    assert modes[single] == (False, False, single)
    assert modes[dvr] == (True, False, dvr)
    assert modes[ha] == (False, True, ha)
    assert modes[own][2] == own
    plain = cloud.post(m, "/routers", {"router": {}})["router"]
    assert plain["flavor_id"] is None
    # refusals
    r = cloud.c.post(f"{N}/routers", headers=h,
                     json={"router": {"flavor_id": single, "distributed": True}})  # fmt: skip
    assert r.status_code == 400, r.text
    _error(cloud.c.post(f"{N}/routers", headers=m, json={"router": {
        "flavor_id": "8a8b8c8d-0000-4000-8000-000000000000"}}), 404, "FlavorNotFound")  # fmt: skip
    other = cloud.post(h, "/flavors", {"flavor": {"service_type": "QOS"}})["flavor"]
    _error(cloud.c.post(f"{N}/routers", headers=m, json={"router": {"flavor_id": other["id"]}}),
           400, "InvalidFlavorServiceType")  # fmt: skip
    off = _l3_flavor(cloud, "kumo", enabled=False)
    _error(cloud.c.post(f"{N}/routers", headers=m, json={"router": {"flavor_id": off}}),
           503, "FlavorDisabled")  # fmt: skip
    empty = cloud.post(h, "/flavors", {"flavor": {"service_type": "L3_ROUTER_NAT"}})["flavor"]
    _error(cloud.c.post(f"{N}/routers", headers=m, json={"router": {"flavor_id": empty["id"]}}),
           404, "FlavorServiceProfileBindingNotFound")  # fmt: skip
    meta = cloud.post(h, "/service_profiles", {"service_profile": {"metainfo": "x"}})
    r = cloud.c.post(f"{N}/flavors/{empty['id']}/service_profiles", headers=h,
                     json={"service_profile": {"id": meta["service_profile"]["id"]}})  # fmt: skip
    assert r.status_code == 201, r.text
    _error(cloud.c.post(f"{N}/routers", headers=m, json={"router": {"flavor_id": empty["id"]}}),
           404, "ServiceProfileDriverNotFound")  # fmt: skip
    # the flavor is fixed for the router's life, and so is the mode it gave
    rid = next(r["id"] for r in cloud.c.get(f"{N}/routers?flavor_id={single}", headers=h)
               .json()["routers"])  # fmt: skip
    r = cloud.c.put(f"{N}/routers/{rid}", headers=h, json={"router": {"flavor_id": dvr}})
    assert r.status_code == 400, r.text
    r = cloud.c.put(f"{N}/routers/{rid}", headers=h, json={"router": {"admin_state_up": False}})
    assert r.status_code == 200, r.text
    r = cloud.c.put(f"{N}/routers/{rid}", headers=h, json={"router": {"distributed": True}})
    assert r.status_code == 400, r.text
    _error(cloud.c.delete(f"{N}/flavors/{single}", headers=h), 409, "FlavorInUse")
    assert cloud.c.delete(f"{N}/routers/{rid}", headers=h).status_code == 204
    assert cloud.c.delete(f"{N}/flavors/{single}", headers=h).status_code == 204
