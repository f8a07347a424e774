"""A server's metadata and addresses under /servers/{id}: set, merge,
replace, per key, the metadata_items quota; /ips by network."""

from __future__ import annotations

from tests.compute.conftest import Cloud
from tests.compute.test_servers import boot


def test_metadata_merge_replace_and_items(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    net = cloud.net(alice, "net1", "10.1.0.0/24")
    cloud.host("host1")
    sid = boot(cloud, alice, "vm1", [{"uuid": net}], metadata={"a": "1"})
    m = f"/servers/{sid}/metadata"
    assert cloud.get(alice, m) == {"metadata": {"a": "1"}}
    assert cloud.post(alice, m, {"metadata": {"b": "2"}}, status=200) == {
        "metadata": {"a": "1", "b": "2"}
    }
    assert cloud.call("PUT", alice, m, {"metadata": {"c": "3"}}) == {"metadata": {"c": "3"}}
    assert cloud.call("PUT", alice, m + "/d", {"meta": {"d": "4"}}) == {"meta": {"d": "4"}}
    assert cloud.get(alice, m + "/d") == {"meta": {"d": "4"}}
    assert cloud.get(alice, f"/servers/{sid}")["server"]["metadata"] == {"c": "3", "d": "4"}
    cloud.call("DELETE", alice, m + "/c", status=204)
    cloud.get(alice, m + "/c", status=404)
    cloud.call("DELETE", alice, m + "/c", status=404)
    # the key in the body must be the key of the URL, and only it
    cloud.call("PUT", alice, m + "/e", {"meta": {"f": "1"}}, status=400)
    cloud.call("PUT", alice, m + "/e", {"meta": {"e": "1", "f": "1"}}, status=400)
    cloud.post(alice, m, {"metadata": {"": "x"}}, status=400)
    cloud.post(alice, m, {"meta": {"a": "x"}}, status=400)
    cloud.post(alice, m, {"metadata": {"k" * 256: "x"}}, status=400)
    # the metadata_items quota (default 128) counts the whole set: 403
    many = {f"k{i}": "v" for i in range(129)}
    cloud.post(alice, m, {"metadata": many}, status=403)
    cloud.call("PUT", alice, m, {"metadata": many}, status=403)
    # another project neither sees nor changes it
    bob = cloud.member("bob")
    cloud.get(bob, m, status=404)
    cloud.post(bob, m, {"metadata": {"x": "y"}}, status=404)
    cloud.get(alice, "/servers/nothing/metadata", status=404)


def test_addresses_by_network(cloud: Cloud) -> None:
    alice = cloud.member("alice")
    net = cloud.net(alice, "net1", "10.1.0.0/24")
    cloud.host("host1")
    sid = boot(cloud, alice, "vm1", [{"uuid": net}])
    ips = cloud.get(alice, f"/servers/{sid}/ips")["addresses"]
    ((addr,),) = ips.values()
    assert list(ips) == ["net1"] and addr["version"] == 4 and addr["addr"].startswith("10.1.0.")
    assert cloud.get(alice, f"/servers/{sid}/ips/net1") == {"net1": [addr]}
    cloud.get(alice, f"/servers/{sid}/ips/other", status=404)
    cloud.get(cloud.member("bob"), f"/servers/{sid}/ips", status=404)
