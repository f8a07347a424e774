"""Lab names: what each name decides, and that two labs never share a name."""

from __future__ import annotations

from pathlib import Path

import pytest

from kumo.lab import naming
from kumo.lab.supervisor import new_state


def test_default_lab_keeps_the_documented_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUMO_LAB_DIR", raising=False)
    state = new_state("default", naming.state_dir_for("default"))
    assert state.prefix == "klab-"
    assert state.port == 8080
    assert state.host_names == ["host1", "host2", "host3"]
    assert "klab-ul" in state.namespaces and "klab-h3" in state.namespaces
    assert naming.state_dir_for("default") == Path("/var/lib/kumo/lab")


def test_other_labs_get_their_own_names() -> None:
    state = new_state("b", Path("/tmp/x"), hosts=2, port=9999)
    assert state.prefix == "kl-b-"
    assert state.host_names == ["b-host1", "b-host2"]
    assert sorted(state.namespaces) == sorted(
        ["kl-b-ul", "kl-b-phys", "kl-b-ext", "kl-b-up", "kl-b-h1", "kl-b-h2"]
    )
    assert naming.state_dir_for("b") == Path("/var/lib/kumo/labs/b")


@pytest.mark.parametrize(("one", "other"), [("a", "a-b"), ("a", "default"), ("ab", "default"),
                                            ("a-h1", "a"), ("lab", "default")])  # fmt: skip
def test_no_two_labs_share_a_namespace_or_a_host(one: str, other: str) -> None:
    a = new_state(one, Path("/tmp/1"), hosts=12, port=1)
    b = new_state(other, Path("/tmp/2"), hosts=12, port=2)
    assert not set(a.namespaces) & set(b.namespaces)
    assert not set(a.host_names) & set(b.host_names)


def test_test_labs_keep_their_prefix() -> None:
    state = new_state(naming.name_for_prefix("klt1a2b-"), Path("/tmp/t"), prefix="klt1a2b-", port=1)
    assert state.name == "klt1a2b"
    assert state.host_names[0] == "klt1a2b-host1"
    assert "klt1a2b-h1" in state.namespaces


@pytest.mark.parametrize("bad", ["", "B", "-a", "a-", "a_b", "a" * 21, "a/b"])
def test_bad_names_are_refused(bad: str) -> None:
    with pytest.raises(naming.LabNameError):
        naming.check_name(bad)


def test_host_alias() -> None:
    hosts = ["b-host1", "b-host2"]
    assert naming.host_alias("host2", hosts) == "b-host2"
    assert naming.host_alias("b-host1", hosts) == "b-host1"
    assert naming.host_alias("host3", hosts) == "host3"  # unknown: the API says so
