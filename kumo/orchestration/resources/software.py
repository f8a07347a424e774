"""OS::Heat::SoftwareConfig, OS::Heat::StructuredConfig and
OS::Heat::SoftwareDeployment over the software config API (``software.py``
of the package), with the stack creator's delegated context.

A deployment, as in Heat, derives a config of its own from the one it
deploys: the same config with the deployment's inputs (``deploy_server_id``,
``deploy_action``, ``deploy_stack_id``, ``deploy_resource_name``,
``deploy_signal_transport`` and, unless ``NO_SIGNAL``, ``deploy_signal_id``)
and the given ``input_values``. It then waits until the server's agent
reports: a PUT of the deployment's status (COMPLETE or FAILED), or a signal
to the resource whose details carry the outputs (``deploy_status_code``
non-zero fails it). With ``NO_SIGNAL`` it is complete at once.
"""

from __future__ import annotations

from typing import Any

from kumo.errors import NotFound
from kumo.orchestration.errors import ResourceFailure
from kumo.orchestration.resources.base import Env, Plugin, Prop, gone_ok

INPUT = {
    "name": Prop("string", required=True),
    "description": Prop("string"),
    "type": Prop("string", default="String",
                 allowed=("String", "Number", "CommaDelimitedList", "Json", "Boolean")),
    "default": Prop("any"),
    "replace_on_change": Prop("boolean", default=False),
}  # fmt: skip
OUTPUT = {
    "name": Prop("string", required=True),
    "description": Prop("string"),
    "type": Prop("string", default="String",
                 allowed=("String", "Number", "CommaDelimitedList", "Json", "Boolean")),
    "error_output": Prop("boolean", default=False),
}  # fmt: skip
TRANSPORTS = ("CFN_SIGNAL", "TEMP_URL_SIGNAL", "HEAT_SIGNAL", "NO_SIGNAL", "ZAQAR_SIGNAL")
STANDARD_OUTPUTS = ("deploy_stdout", "deploy_stderr", "deploy_status_code")


class SoftwareConfig(Plugin):
    type_name = "OS::Heat::SoftwareConfig"
    description = "A software config (script, puppet...) for a server's configuration agent."
    props = {
        "group": Prop("string", default="Heat::Ungrouped"),
        "config": Prop("string"),
        "options": Prop("map"),
        "inputs": Prop("list", schema=INPUT),
        "outputs": Prop("list", schema=OUTPUT),
    }
    attrs = {"config": "The config value of the software config"}

    def create(self, env: Env, props: dict[str, Any]) -> None:
        body = {k: props[k] for k in ("group", "config", "options", "inputs", "outputs")
                if props.get(k) is not None}  # fmt: skip
        body["name"] = env.physical_name()
        made = env.rt.orchestration.software.create_config(env.ctx, str(env.ctx.project_id), body)
        env.physical_id = made["id"]

    def delete(self, env: Env) -> None:
        if env.physical_id:
            cid = str(env.physical_id)
            gone_ok(lambda: env.rt.orchestration.software.delete_config(
                env.ctx, str(env.ctx.project_id), cid))  # fmt: skip

    def _shown(self, env: Env) -> dict[str, Any] | None:
        if not env.physical_id:
            return None
        try:
            return env.rt.orchestration.software.show_config(
                env.ctx, str(env.ctx.project_id), str(env.physical_id)
            )
        except NotFound:
            return None

    def attribute(self, env: Env, props: dict[str, Any], name: str) -> Any:
        shown = self._shown(env)
        if shown is None:
            return None
        return shown if name == "show" else shown.get(name)

    def check(self, env: Env) -> None:
        if self._shown(env) is None:
            raise ResourceFailure(f"Software config with id {env.physical_id} not found")


class StructuredConfig(SoftwareConfig):
    type_name = "OS::Heat::StructuredConfig"
    description = "A software config whose config is a map (for agents that take structures)."
    props = {**SoftwareConfig.props, "config": Prop("map")}


class SoftwareDeployment(Plugin):
    type_name = "OS::Heat::SoftwareDeployment"
    description = "Deploys a software config to a server; complete when the server reports."
    props = {
        "config": Prop("string", update=True),
        "server": Prop("string", required=True),
        "input_values": Prop("map", default={}, update=True),
        "actions": Prop("list", items="string", default=["CREATE", "UPDATE"], update=True),
        "signal_transport": Prop("string", default="CFN_SIGNAL", allowed=TRANSPORTS),
        "name": Prop("string"),
    }
    attrs = {
        "deploy_stdout": "Captured stdout from the configuration execution",
        "deploy_stderr": "Captured stderr from the configuration execution",
        "deploy_status_code": "Returned status code from the configuration execution",
    }
    any_attributes = True  # and each output the config names

    # -- the config it deploys ----------------------------------------------------

    def _derived(self, env: Env, props: dict[str, Any], action: str) -> str:
        """A config of the deployment's own: the deployed config plus its inputs."""
        svc, project = env.rt.orchestration.software, str(env.ctx.project_id)
        source: dict[str, Any] = {"group": "Heat::Ungrouped", "config": "", "inputs": [],
                                  "outputs": [], "options": {}}  # fmt: skip
        if props.get("config"):
            source = svc.show_config(env.ctx, project, props["config"])
        values = dict(props.get("input_values") or {})
        inputs = [{**i, "value": values.get(i["name"], i.get("default"))}
                  for i in source.get("inputs") or []]  # fmt: skip
        named = {i["name"] for i in inputs}
        inputs += [{"name": k, "type": "String", "value": v} for k, v in values.items()
                   if k not in named]  # fmt: skip
        transport = props["signal_transport"]
        deploy = {
            "deploy_server_id": ("The server the config is deployed to", props["server"]),
            "deploy_action": ("The stack action of the deployment", action),
            "deploy_stack_id": ("The stack's name/id", f"{env.stack_name}/{env.stack_id}"),
            "deploy_resource_name": ("The deployment resource's name", env.name),
            "deploy_signal_transport": ("How the server reports", transport),
        }
        if transport != "NO_SIGNAL":
            url = f"{env.endpoint}/stacks/{env.stack_name}/{env.stack_id}/resources/{env.name}"
            deploy["deploy_signal_id"] = ("The URL to POST the outputs to", f"{url}/signal")
            deploy["deploy_signal_verb"] = ("The HTTP method to signal with", "POST")
        inputs += [{"name": k, "type": "String", "description": d, "value": v}
                   for k, (d, v) in deploy.items()]  # fmt: skip
        outputs = list(source.get("outputs") or [])
        known = {o["name"] for o in outputs}
        outputs += [{"name": n, "type": "String", "error_output": False}
                    for n in STANDARD_OUTPUTS if n not in known]  # fmt: skip
        body = {"name": props.get("name") or env.physical_name(), "group": source["group"],
                "config": source.get("config"), "options": source.get("options") or {},
                "inputs": inputs, "outputs": outputs}  # fmt: skip
        return str(svc.create_config(env.ctx, project, body)["id"])

    def _deploy(self, env: Env, props: dict[str, Any], action: str) -> None:
        svc, project = env.rt.orchestration.software, str(env.ctx.project_id)
        old_config = env.data.get("derived_config")
        config_id = self._derived(env, props, action)
        env.data["derived_config"] = config_id
        quiet = props["signal_transport"] == "NO_SIGNAL"
        status = "COMPLETE" if quiet else "IN_PROGRESS"
        reason = "Not waiting for outputs signal" if quiet else "Deploy data available"
        fields = {"config_id": config_id, "action": action, "status": status,
                  "status_reason": reason, "input_values": props.get("input_values") or {}}  # fmt: skip
        if env.physical_id:
            svc.update_deployment(env.ctx, project, str(env.physical_id), fields)
        else:
            made = svc.create_deployment(env.ctx, project, {**fields, "server_id": props["server"]})
            env.physical_id = made["id"]
        env.data.pop("signal", None)
        env.save()
        if old_config:
            gone_ok(lambda: svc.delete_config(env.ctx, project, old_config))
        if not quiet:
            env.wait(lambda: self._reported(env), "the server to report the deployment")

    def _reported(self, env: Env) -> bool:
        """Whether the server reported: by PUT on the deployment or by a resource signal."""
        svc, project = env.rt.orchestration.software, str(env.ctx.project_id)
        ident = str(env.physical_id)
        signal = (env.peer(ident) or {}).get("signal")
        if signal is not None:
            code = signal.get("deploy_status_code", 0)
            failed = str(code) not in ("0", "", "None")
            reason = (f"deploy_status_code : Deployment exited with non-zero status code: {code}"
                      if failed else "Outputs received")  # fmt: skip
            svc.update_deployment(env.ctx, project, ident, {
                "status": "FAILED" if failed else "COMPLETE", "status_reason": reason,
                "output_values": signal})  # fmt: skip
        shown = svc.show_deployment(env.ctx, project, ident)
        if shown["status"] == "FAILED":
            raise ResourceFailure(f"Deployment to server failed: {shown['status_reason']}")
        return bool(shown["status"] == "COMPLETE")

    # -- the plugin contract ------------------------------------------------------

    def create(self, env: Env, props: dict[str, Any]) -> None:
        if "CREATE" in props["actions"]:
            self._deploy(env, props, "CREATE")
            return
        svc, project = env.rt.orchestration.software, str(env.ctx.project_id)
        made = svc.create_deployment(env.ctx, project, {
            "config_id": self._derived(env, props, "CREATE"), "server_id": props["server"],
            "action": "CREATE", "status": "COMPLETE"})  # fmt: skip
        env.physical_id = made["id"]
        env.data["derived_config"] = made["config_id"]

    def update(self, env: Env, old: dict[str, Any], new: dict[str, Any]) -> None:
        if "UPDATE" in new["actions"]:
            self._deploy(env, new, "UPDATE")

    def signal(self, env: Env, details: Any) -> None:
        """The server's outputs (``deploy_stdout``... and the config's own outputs)."""
        env.data["signal"] = dict(details) if isinstance(details, dict) else {}

    def delete(self, env: Env) -> None:
        svc, project = env.rt.orchestration.software, str(env.ctx.project_id)
        if env.physical_id:
            ident = str(env.physical_id)
            gone_ok(lambda: svc.delete_deployment(env.ctx, project, ident))
        derived = env.data.get("derived_config")
        if derived:
            gone_ok(lambda: svc.delete_config(env.ctx, project, str(derived)))

    def reference(self, env: Env) -> Any:
        return env.physical_id

    def attribute(self, env: Env, props: dict[str, Any], name: str) -> Any:
        if not env.physical_id:
            return None
        try:
            shown = env.rt.orchestration.software.show_deployment(
                env.ctx, str(env.ctx.project_id), str(env.physical_id)
            )
        except NotFound:
            return None
        if name == "show":
            return shown
        return (shown.get("output_values") or {}).get(name)


PLUGINS: list[type[Plugin]] = [SoftwareConfig, StructuredConfig, SoftwareDeployment]
