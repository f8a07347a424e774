"""Template parsing: versions, sections, references, parameters; errors name their path."""

from __future__ import annotations

from typing import Any

import pytest

from kumo.orchestration import parameters
from kumo.orchestration import template as tpllib
from kumo.orchestration.errors import InvalidTemplateVersion, StackValidationFailed
from kumo.orchestration.resources import registry


def parse(text: str | dict[str, Any]) -> tpllib.Template:
    return tpllib.parse(tpllib.load(text), registry.known)


@pytest.mark.parametrize(
    "version",
    ["2013-05-23", "2014-10-16", "2015-04-30", "2015-10-15", "2016-04-08", "2016-10-14",
     "2017-02-24", "2017-09-01", "2018-03-02", "2018-08-31", "2021-04-16",
     "newton", "ocata", "pike", "queens", "rocky", "wallaby"],
)  # fmt: skip
def test_every_version_parses(version: str) -> None:
    tpl = parse(f"heat_template_version: {version}\nresources: {{a: {{type: OS::Heat::None}}}}")
    assert tpl.version.name == version and list(tpl.resources) == ["a"]


def test_unquoted_date_and_unknown_version() -> None:
    assert parse("heat_template_version: 2016-10-14").version.date == "2016-10-14"
    with pytest.raises(InvalidTemplateVersion, match="2012-12-12"):
        parse("heat_template_version: 2012-12-12")
    with pytest.raises(InvalidTemplateVersion, match="missing"):
        parse("resources: {}")


def test_function_newer_than_the_version_names_its_path() -> None:
    text = """
heat_template_version: 2015-10-15
resources:
  v:
    type: OS::Heat::Value
    properties: {value: {if: [c, 1, 2]}}
"""
    with pytest.raises(StackValidationFailed) as e:
        parse(text)
    assert e.value.path == "resources.v.properties.value"
    assert "2015-10-15" in e.value.message


def test_references_are_checked() -> None:
    bad_resource = """
heat_template_version: 2016-10-14
resources:
  v: {type: OS::Heat::Value, properties: {value: {get_attr: [nope, value]}}}
"""
    with pytest.raises(StackValidationFailed) as e:
        parse(bad_resource)
    assert e.value.path == "resources.v.properties.value.get_attr" and "nope" in e.value.message
    bad_param = bad_resource.replace("{get_attr: [nope, value]}", "{get_param: missing}")
    with pytest.raises(StackValidationFailed, match="missing"):
        parse(bad_param)
    bad_dep = """
heat_template_version: 2016-10-14
resources:
  a: {type: OS::Heat::None, depends_on: [b]}
"""
    with pytest.raises(StackValidationFailed) as e:
        parse(bad_dep)
    assert e.value.path == "resources.a.depends_on[0]"


def test_unknown_section_keyword_and_type() -> None:
    with pytest.raises(StackValidationFailed, match="section is invalid: resource"):
        parse("heat_template_version: 2016-10-14\nresource: {}")
    with pytest.raises(StackValidationFailed, match="not a valid keyword"):
        parse("heat_template_version: 2016-10-14\nresources: {a: {type: OS::Heat::None, x: 1}}")
    with pytest.raises(StackValidationFailed) as e:
        parse("heat_template_version: 2016-10-14\nresources: {a: {type: OS::Nope}}")
    assert e.value.path == "resources.a.type"


def test_cycle_is_reported() -> None:
    text = """
heat_template_version: 2016-10-14
resources:
  a: {type: OS::Heat::Value, properties: {value: {get_resource: b}}}
  b: {type: OS::Heat::Value, properties: {value: {get_attr: [a, value]}}}
"""
    with pytest.raises(StackValidationFailed, match="Circular Dependency Found: a -> b -> a"):
        parse(text)


def test_conditions_need_a_recent_version() -> None:
    with pytest.raises(StackValidationFailed, match="conditions need"):
        parse("heat_template_version: 2015-10-15\nconditions: {c: true}")
    with pytest.raises(StackValidationFailed, match='Invalid condition "nope"'):
        parse("heat_template_version: 2016-10-14\n"
              "resources: {a: {type: OS::Heat::None, condition: nope}}")  # fmt: skip


TYPED = """
heat_template_version: 2016-10-14
parameters:
  name: {type: string, default: web, constraints: [{length: {min: 2, max: 8}},
                                                   {allowed_pattern: "[a-z]+"}]}
  count: {type: number, default: 2, constraints: [{range: {min: 1, max: 4}}]}
  flag: {type: boolean, default: "yes"}
  doc: {type: json, default: {a: 1}}
  names: {type: comma_delimited_list, default: "a, b"}
  size: {type: string, constraints: [{allowed_values: [small, big]}]}
  secret: {type: string, hidden: true, default: s3cret}
parameter_groups:
  - {label: sizes, parameters: [count, size]}
"""


def test_parameter_types_defaults_and_constraints() -> None:
    tpl = parse(TYPED)
    got = parameters.values(tpl.parameters, {"size": "big", "count": "3"}, None)
    assert got == {"name": "web", "count": 3, "flag": True, "doc": {"a": 1},
                   "names": ["a", "b"], "size": "big", "secret": "s3cret"}  # fmt: skip
    assert tpl.parameters["secret"].view()["NoEcho"] == "true"
    assert tpl.parameter_groups[0]["label"] == "sizes"
    cases = [
        ({"size": "huge"}, "allowed value"),
        ({"size": "big", "count": 9}, "out of range"),
        ({"size": "big", "name": "x"}, "length"),
        ({"size": "big", "name": "Abc"}, "does not match pattern"),
        ({"size": "big", "count": "many"}, "not a number"),
        ({"size": "big", "flag": "maybe"}, "not a boolean"),
        ({"size": "big", "doc": "{no"}, "not valid JSON"),
        ({"size": "big", "other": 1}, "was not defined"),
        ({}, r"The Parameter \(size\) was not provided"),
    ]
    for given, message in cases:
        with pytest.raises(Exception, match=message):
            parameters.values(tpl.parameters, given, None)


class FakeLookups:
    """Knows one flavor; answers as the service lookups do."""

    def exists(self, kind: str, value: str) -> bool:
        return (kind, value) == ("nova.flavor", "m1.tiny")


def test_custom_constraint_asks_the_lookups() -> None:
    tpl = parse("heat_template_version: 2016-10-14\nparameters:\n"
                "  f: {type: string, constraints: [{custom_constraint: nova.flavor}]}")  # fmt: skip
    assert parameters.values(tpl.parameters, {"f": "m1.tiny"}, FakeLookups()) == {"f": "m1.tiny"}
    with pytest.raises(StackValidationFailed) as e:
        parameters.values(tpl.parameters, {"f": "m9.huge"}, FakeLookups())
    assert e.value.path == "parameters.f" and "m9.huge" in e.value.message
    with pytest.raises(StackValidationFailed, match="Unknown custom constraint"):
        parse("heat_template_version: 2016-10-14\nparameters:\n"
              "  f: {type: string, constraints: [{custom_constraint: nova.nope}]}")  # fmt: skip


def test_parameter_group_names_must_exist() -> None:
    with pytest.raises(StackValidationFailed, match="'nope' is not defined"):
        parse("heat_template_version: 2016-10-14\nparameter_groups: [{parameters: [nope]}]")
