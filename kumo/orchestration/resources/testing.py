"""OS::Heat::TestResource: a resource that only holds a value, waits and
fails when told to; what Heat's own API tests (and template authors trying
out the engine) build stacks from."""

from __future__ import annotations

import time
import uuid
from typing import Any

from kumo.orchestration.errors import ResourceFailure
from kumo.orchestration.resources.base import Env, Plugin, Prop


class TestResource(Plugin):
    __test__ = False  # not a pytest class, whatever its name

    type_name = "OS::Heat::TestResource"
    description = "Holds a value (its ``output`` attribute); waits and fails on request."
    props = {
        "value": Prop("string", default="test_string", update=True,
                      description="The value the output attribute returns"),
        "update_replace": Prop("boolean", default=False, update=True,
                               description="Accepted for Heat templates; updates are in place"),
        "fail": Prop("boolean", default=False, update=True,
                     description="Fail the create or update"),
        "client_name": Prop("string", default=""),
        "entity_name": Prop("string", default=""),
        "wait_secs": Prop("number", default=0, update=True,
                          description="Seconds every action takes"),
        "action_wait_secs": Prop("map", update=True,
                                 description="Seconds per action (create, update, delete)"),
        "attr_wait_secs": Prop("number", default=0, update=True),
        "constraint_prop_secs": Prop("number", default=0),
    }  # fmt: skip
    attrs = {"output": "The value of the value property"}

    def _pause(self, env: Env, props: dict[str, Any], action: str) -> None:
        secs = float((props.get("action_wait_secs") or {}).get(action, props.get("wait_secs") or 0))
        if secs > 0:
            end = time.monotonic() + secs
            env.wait(lambda: time.monotonic() >= end, f"{action} of {env.name}", interval=0.1)

    def create(self, env: Env, props: dict[str, Any]) -> None:
        env.physical_id = str(uuid.uuid4())
        env.data["props"] = dict(props)
        self._pause(env, props, "create")
        if props.get("fail"):
            raise ResourceFailure("Test Resource failed on create, as asked (fail: true)")

    def update(self, env: Env, old: dict[str, Any], new: dict[str, Any]) -> None:
        self._pause(env, new, "update")
        if new.get("fail"):
            raise ResourceFailure("Test Resource failed on update, as asked (fail: true)")
        env.data["props"] = dict(new)

    def delete(self, env: Env) -> None:
        self._pause(env, env.data.get("props") or {}, "delete")

    def attribute(self, env: Env, props: dict[str, Any], name: str) -> Any:
        if name == "output":
            return props.get("value")
        return dict(props) if name == "show" else None


PLUGINS: list[type[Plugin]] = [TestResource]
