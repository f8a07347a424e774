"""Intrinsic functions, resolved against a fake scope that fails as the real one does."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from kumo.orchestration import functions as fn
from kumo.orchestration import versions
from kumo.orchestration.errors import StackValidationFailed

LATEST = versions.lookup("2021-04-16")
assert LATEST is not None


class Scope:
    def __init__(self) -> None:
        self.params: dict[str, Any] = {"name": "web", "list": ["a", "b"], "map": {"k": [1, 2]},
                                       "n": 3, "env": "prod"}  # fmt: skip
        self.attrs = {("srv", "networks"): {"private": ["10.0.0.5"]}}
        self.conditions = {"is_prod": True, "is_dev": False}
        self.files = {"init.sh": "#!/bin/sh\necho hi\n"}

    def param(self, name: str) -> Any:
        return self.params[name]

    def resource_ref(self, name: str) -> Any:
        return f"id-{name}"

    def resource_attr(self, name: str, attr: str) -> Any:
        return self.attrs.get((name, attr))

    def condition(self, name: str) -> bool:
        return self.conditions[name]

    def file(self, name: str) -> str:
        if name not in self.files:
            raise StackValidationFailed(f"No content found for get_file path: {name}")
        return self.files[name]


def ev(value: Any) -> Any:
    return fn.resolve(fn.parse(value, LATEST, "x"), Scope())


def test_get_param_resource_attr_with_paths() -> None:
    assert ev({"get_param": "name"}) == "web"
    assert ev({"get_param": ["map", "k", 1]}) == 2
    assert ev({"get_resource": "net"}) == "id-net"
    assert ev({"get_attr": ["srv", "networks", "private", 0]}) == "10.0.0.5"
    assert ev({"get_attr": ["srv", "missing", "x"]}) is None


def test_str_replace_longest_key_first_and_strict() -> None:
    args = {"template": "$host:$hostname", "params": {"$host": "a", "$hostname": "b"}}
    assert ev({"str_replace": args}) == "a:b"
    assert ev({"str_replace": {"template": "n=N", "params": {"N": {"get_param": "n"}}}}) == "n=3"
    assert ev({"str_replace": {"template": "v", "params": {"v": {"a": 1}}}}) == '{"a": 1}'
    with pytest.raises(StackValidationFailed, match="missing"):
        ev({"str_replace_strict": {"template": "abc", "params": {"missing": "x"}}})


def test_list_join_split_repeat() -> None:
    assert ev({"list_join": [",", ["a", "b"], {"get_param": "list"}]}) == "a,b,a,b"
    assert ev({"str_split": [",", "a,b,c"]}) == ["a", "b", "c"]
    assert ev({"str_split": [",", "a,b,c", 1]}) == "b"
    got = ev({"repeat": {"for_each": {"%p%": [80, 443]}, "template": {"port": "%p%"}}})
    assert got == [{"port": "80"}, {"port": "443"}]
    got = ev({"repeat": {"for_each": {"<a>": ["x", "y"], "<b>": [1, 2]},
                         "template": "<a><b>", "permutations": False}})  # fmt: skip
    assert got == ["x1", "y2"]
    assert len(ev({"repeat": {"for_each": {"<a>": ["x", "y"], "<b>": [1, 2]},
                              "template": "<a><b>"}})) == 4  # fmt: skip


def test_conditions() -> None:
    assert ev({"if": ["is_prod", "big", "small"]}) == "big"
    assert ev({"if": [{"equals": [{"get_param": "env"}, "dev"]}, "a", "b"]}) == "b"
    assert ev({"not": "is_dev"}) is True
    assert ev({"and": ["is_prod", {"not": "is_dev"}]}) is True
    assert ev({"or": ["is_dev", {"equals": [1, 2]}]}) is False


def test_files_digest_map_merge() -> None:
    assert ev({"get_file": "init.sh"}).startswith("#!/bin/sh")
    with pytest.raises(StackValidationFailed, match="nope.sh"):
        ev({"get_file": "nope.sh"})
    assert ev({"digest": ["sha256", "abc"]}) == hashlib.sha256(b"abc").hexdigest()
    assert ev({"map_merge": [{"a": 1, "b": 1}, {"b": 2}]}) == {"a": 1, "b": 2}


def test_shapes_are_checked_at_parse_with_the_path() -> None:
    with pytest.raises(StackValidationFailed) as e:
        fn.parse({"props": {"v": {"digest": ["crc32", "x"]}}}, LATEST, "resources.r")
    assert e.value.path == "resources.r.props.v.digest"
    with pytest.raises(StackValidationFailed, match="template and params"):
        fn.parse({"str_replace": {"template": "x"}}, LATEST, "p")


def test_references_follow_nested_calls() -> None:
    parsed = fn.parse({"a": {"list_join": [",", [{"get_resource": "x"},
                                                 {"get_attr": ["y", "z"]}]]}}, LATEST, "p")  # fmt: skip
    assert fn.references(parsed) == {"x", "y"}
    assert json.dumps(fn.resolve(parsed, Scope())) == '{"a": "id-x,"}'
