"""OS::Heat::* resources: values, random strings, wait conditions, resource groups."""

from __future__ import annotations

import hmac
import json
import secrets
import string
import time
import uuid
from typing import Any

from kumo.orchestration.errors import ResourceFailure, StackValidationFailed
from kumo.orchestration.resources.base import Env, Plugin, Prop

CLASSES = {
    "lettersdigits": string.ascii_letters + string.digits,
    "letters": string.ascii_letters,
    "lowercase": string.ascii_lowercase,
    "uppercase": string.ascii_uppercase,
    "digits": string.digits,
    "hexdigits": string.digits + "abcdef",
    "octdigits": string.octdigits,
}
HANDLE_TOKEN_PREFIX = "kwh_"
"""Marks a wait condition handle's own token (it is not a Keystone token)."""


class RandomString(Plugin):
    type_name = "OS::Heat::RandomString"
    description = "A random string (get_resource gives the string, as Heat does)."
    cls_schema = {"class": Prop("string", default="lettersdigits", allowed=tuple(CLASSES)),
                  "min": Prop("integer", default=1)}  # fmt: skip
    seq_schema = {"sequence": Prop("string", required=True), "min": Prop("integer", default=1)}
    props = {
        "length": Prop("integer", default=32),
        "character_classes": Prop("list", schema=cls_schema),
        "character_sequences": Prop("list", schema=seq_schema),
        "salt": Prop("string"),
    }
    attrs = {"value": "The random string"}

    def create(self, env: Env, props: dict[str, Any]) -> None:
        length = props["length"]
        classes = props.get("character_classes") or []
        seqs = props.get("character_sequences") or []
        if not classes and not seqs:
            classes = [{"class": "lettersdigits", "min": 1}]
        pools = [CLASSES[c["class"]] for c in classes] + [s["sequence"] for s in seqs]
        mins = [c["min"] for c in classes] + [s["min"] for s in seqs]
        if sum(mins) > length or length < 1 or length > 512:
            raise ResourceFailure("length must be 1..512 and at least the sum of the minimums")
        chars = [secrets.choice(pool) for pool, n in zip(pools, mins, strict=True)
                 for _ in range(n)]  # fmt: skip
        every = "".join(pools)
        chars += [secrets.choice(every) for _ in range(length - len(chars))]
        secrets.SystemRandom().shuffle(chars)
        env.data["value"] = "".join(chars)
        env.physical_id = f"{env.stack_name}-{env.name}-{uuid.uuid4().hex[:12]}"

    def reference(self, env: Env) -> Any:
        return env.data.get("value")

    def attribute(self, env: Env, props: dict[str, Any], name: str) -> Any:
        return env.data.get("value") if name in ("value", "show") else None


class Value(Plugin):
    type_name = "OS::Heat::Value"
    description = "Holds a value (its ``value`` attribute), changed in place."
    props = {
        "value": Prop("any", required=True, update=True),
        "type": Prop("string", allowed=("string", "number", "json", "boolean",
                                        "comma_delimited_list")),
    }  # fmt: skip
    attrs = {"value": "The value"}

    def create(self, env: Env, props: dict[str, Any]) -> None:
        env.physical_id = str(uuid.uuid4())

    def attribute(self, env: Env, props: dict[str, Any], name: str) -> Any:
        if name in ("value", "show"):
            return props.get("value") if name == "value" else dict(props)
        return None


class NoneResource(Plugin):
    type_name = "OS::Heat::None"
    description = "Does nothing: takes any properties, has no attributes."
    any_properties = True
    any_attributes = True

    def create(self, env: Env, props: dict[str, Any]) -> None:
        env.physical_id = str(uuid.uuid4())

    @classmethod
    def update_allowed(cls) -> frozenset[str]:
        return frozenset()


class WaitConditionHandle(Plugin):
    """A handle instances signal with its own token (``X-Auth-Token: <token>`` or
    ``?token=<token>`` on its ``endpoint``); the token opens nothing else."""

    type_name = "OS::Heat::WaitConditionHandle"
    description = "Receives signals for a wait condition (an instance curls or wgets it)."
    attrs = {
        "token": "The handle's own token for signalling",
        "endpoint": "The URL to POST a signal to",
        "curl_cli": "A curl command that signals (append --data-binary '{\"status\": ...}')",
        "wget_cli": "A wget command that signals success",
        "signal": "The URL and token as a map",
    }

    def create(self, env: Env, props: dict[str, Any]) -> None:
        token = HANDLE_TOKEN_PREFIX + secrets.token_urlsafe(32)
        env.physical_id = str(uuid.uuid4())
        env.data.update(token=token, signals={})

    def _url(self, env: Env) -> str:
        return f"{env.endpoint}/wait_handles/{env.physical_id}/signal"

    def attribute(self, env: Env, props: dict[str, Any], name: str) -> Any:
        token, url = env.data.get("token", ""), self._url(env)
        if name == "token":
            return token
        if name == "endpoint":
            return url
        if name == "curl_cli":
            return (f"curl -i -X POST -H 'X-Auth-Token: {token}' "
                    "-H 'Content-Type: application/json' -H 'Accept: application/json' "
                    f"{url}")  # fmt: skip
        if name == "wget_cli":
            return (f"wget -q -O- --header 'X-Auth-Token: {token}' "
                    "--header 'Content-Type: application/json' "
                    f"--post-data '{{\"status\": \"SUCCESS\"}}' {url}")  # fmt: skip
        if name == "signal":
            return {"url": url, "token": token}
        return None

    def signal(self, env: Env, details: Any) -> None:
        details = details if isinstance(details, dict) else {}
        status = str(details.get("status", "SUCCESS")).upper()
        if status not in ("SUCCESS", "FAILURE"):
            raise StackValidationFailed(f"Signal status must be SUCCESS or FAILURE, not {status}")
        signals = dict(env.data.get("signals") or {})
        ident = str(details.get("id") or len(signals) + 1)
        signals[ident] = {"status": status, "reason": str(details.get("reason", "Signal")),
                          "data": details.get("data")}  # fmt: skip
        env.data["signals"] = signals

    @staticmethod
    def token_matches(data: dict[str, Any], token: str) -> bool:
        expected = str(data.get("token") or "")
        return bool(expected) and hmac.compare_digest(expected, str(token))


class WaitCondition(Plugin):
    type_name = "OS::Heat::WaitCondition"
    description = "Waits until its handle has ``count`` SUCCESS signals (or one FAILURE)."
    props = {
        "handle": Prop("string", required=True),
        "timeout": Prop("integer", default=3600),
        "count": Prop("integer", default=1, update=True),
    }
    attrs = {"data": "JSON of the signals' data by id"}

    def create(self, env: Env, props: dict[str, Any]) -> None:
        env.physical_id = str(uuid.uuid4())
        env.save()
        deadline = time.monotonic() + props["timeout"]
        handle = props["handle"]

        def done() -> bool:
            if time.monotonic() > deadline:
                raise ResourceFailure("WaitCondition timed out")
            signals = (env.peer(handle) or {}).get("signals") or {}
            for s in signals.values():
                if s["status"] == "FAILURE":
                    raise ResourceFailure(f"WaitCondition failed: {s.get('reason', '')}")
            return sum(1 for s in signals.values() if s["status"] == "SUCCESS") >= int(
                props["count"]
            )

        env.wait(done, "the wait condition's signals", interval=0.2)

    def attribute(self, env: Env, props: dict[str, Any], name: str) -> Any:
        if name != "data":
            return None
        signals = (env.peer(props.get("handle", "")) or {}).get("signals") or {}
        return json.dumps({k: v.get("data") for k, v in signals.items()})


class ResourceGroup(Plugin):
    """``count`` copies of ``resource_def`` as a nested stack (members "0", "1"...);
    ``%index%`` (``index_var``) in the definition becomes each member's index."""

    type_name = "OS::Heat::ResourceGroup"
    description = "A group of identical resources, as a nested stack."
    rdef = {"type": Prop("string", required=True), "properties": Prop("map", default={}),
            "metadata": Prop("map")}  # fmt: skip
    removal = {"resource_list": Prop("list", items="string", default=[])}
    props = {
        "count": Prop("integer", default=1, update=True),
        "resource_def": Prop("map", required=True, schema=rdef, update=True),
        "index_var": Prop("string", default="%index%", update=True),
        "removal_policies": Prop("list", schema=removal, default=[], update=True),
    }
    attrs = {
        "refs": "The members' references, in index order",
        "refs_map": "Each member's reference by name",
        "removed_rsrc_list": "Members removed by removal policies",
        "resource.<n>": "Member n's reference (resource.<n>.<attr>: its attribute)",
    }
    any_attributes = True

    @staticmethod
    def template(props: dict[str, Any]) -> dict[str, Any]:
        var = props["index_var"]
        removed = {n for p in props["removal_policies"] for n in p.get("resource_list", [])}
        members = {}
        index, made = 0, 0
        while made < props["count"]:
            name = str(index)
            index += 1
            if name in removed:
                continue
            made += 1
            body = _index(props["resource_def"], var, name)
            members[name] = {k: v for k, v in body.items() if v is not None}
        return {"heat_template_version": "2015-04-30", "resources": members}

    def create(self, env: Env, props: dict[str, Any]) -> None:
        if props["count"] < 0:
            raise ResourceFailure("count must be 0 or more")
        env.nested.nested_apply(env, self.template(props))

    def update(self, env: Env, old: dict[str, Any], new: dict[str, Any]) -> None:
        env.nested.nested_apply(env, self.template(new))

    def delete(self, env: Env) -> None:
        env.nested.nested_delete(env)

    def check(self, env: Env) -> None:
        env.nested.nested_check(env)

    def suspend(self, env: Env) -> None:
        env.nested.nested_action(env, "SUSPEND")

    def resume(self, env: Env) -> None:
        env.nested.nested_action(env, "RESUME")

    def attribute(self, env: Env, props: dict[str, Any], name: str) -> Any:
        names = sorted(self.template(props)["resources"], key=int)
        if name == "refs":
            return [env.nested.nested_ref(env, n) for n in names]
        if name == "refs_map":
            return {n: env.nested.nested_ref(env, n) for n in names}
        if name == "removed_rsrc_list":
            return sorted({n for p in props["removal_policies"] for n in p["resource_list"]})
        if name.startswith("resource."):
            _, member, *rest = name.split(".", 2)
            if not rest:
                return env.nested.nested_ref(env, member)
            return env.nested.nested_attr(env, member, rest[0])
        return [env.nested.nested_attr(env, n, name) for n in names]


def _index(value: Any, var: str, index: str) -> Any:
    if isinstance(value, str):
        return value.replace(var, index)
    if isinstance(value, dict):
        return {k: _index(v, var, index) for k, v in value.items()}
    if isinstance(value, list):
        return [_index(v, var, index) for v in value]
    return value


PLUGINS: list[type[Plugin]] = [RandomString, Value, NoneResource, WaitConditionHandle,
                               WaitCondition, ResourceGroup]  # fmt: skip
