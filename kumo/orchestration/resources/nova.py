"""OS::Nova::* resources, made through ``ComputeService`` with the creator's context."""

from __future__ import annotations

import base64
from typing import Any

from kumo.errors import Conflict, NotFound
from kumo.orchestration.errors import ResourceFailure, StackValidationFailed
from kumo.orchestration.resources import block_devices, lookup, userdata
from kumo.orchestration.resources.base import Env, Plugin, Prop, gone_ok

V = lookup.COMPUTE_VERSION


def _base(env: Env) -> str:
    return f"{env.base_url}/compute/v2.1"


class Server(Plugin):
    type_name = "OS::Nova::Server"
    description = "A server (instance); created when it is ACTIVE."
    network = {
        "network": Prop("string"),
        "port": Prop("string"),
        "fixed_ip": Prop("string"),
        "subnet": Prop("string"),
        "allocate_network": Prop("string", allowed=("auto", "none")),
    }
    props = {
        "name": Prop("string", update=True),
        "image": Prop("string", description="Required unless a block device mapping boots"),
        "flavor": Prop("string", required=True),
        "key_name": Prop("string"),
        "networks": Prop("list", schema=network),
        "security_groups": Prop("list", items="string"),
        "user_data": Prop("string", default=""),
        "user_data_format": Prop("string", default="HEAT_CFNTOOLS",
                                 allowed=("HEAT_CFNTOOLS", "RAW", "SOFTWARE_CONFIG")),
        "metadata": Prop("map", update=True),
        "availability_zone": Prop("string"),
        "config_drive": Prop("boolean"),
        "block_device_mapping": Prop("list", schema=block_devices.V1),
        "block_device_mapping_v2": Prop("list", schema=block_devices.V2),
    }  # fmt: skip
    attrs = {
        "name": "Name of the server",
        "addresses": "Addresses of the server, per network",
        "networks": "Addresses of the server, per network name and id",
        "first_address": "The first IP address of the server",
        "accessIPv4": "IPv4 access address",
        "accessIPv6": "IPv6 access address",
        "instance_name": "The instance's name on its host",
        "console_urls": "Console URLs (none: use the compute API)",
    }

    def create(self, env: Env, props: dict[str, Any]) -> None:
        body: dict[str, Any] = {
            "name": props.get("name") or env.physical_name(),
            "flavorRef": lookup.flavor(env.rt, env.ctx, props["flavor"]),
        }
        if props.get("image"):
            body["imageRef"] = lookup.image(env.rt, env.ctx, props["image"])
        elif not block_devices.bootable(props):
            raise StackValidationFailed(
                f"Neither image nor bootable volume is specified for instance {body['name']}",
                f"resources.{env.name}.properties",
            )
        if props.get("block_device_mapping"):
            body["block_device_mapping"] = block_devices.v1(props["block_device_mapping"])
        if props.get("block_device_mapping_v2"):
            body["block_device_mapping_v2"] = block_devices.v2(props["block_device_mapping_v2"])
        body["networks"] = self._networks(env, props.get("networks") or [])
        if props.get("key_name"):
            body["key_name"] = props["key_name"]
        if props.get("security_groups"):
            body["security_groups"] = [{"name": g} for g in props["security_groups"]]
        user_data = self._user_data(env, props)
        if user_data:
            body["user_data"] = base64.b64encode(user_data.encode()).decode()
        if props.get("metadata"):
            body["metadata"] = {str(k): str(v) for k, v in props["metadata"].items()}
        for key in ("availability_zone", "config_drive"):
            if key in props:
                body[key] = props[key]
        made = env.rt.compute.create_servers(env.ctx, {"server": body}, _base(env), V)
        env.physical_id = made["server"]["id"]
        env.save()
        env.wait(lambda: self._active(env), f"server {env.physical_id} to become ACTIVE")

    def _networks(self, env: Env, given: list[dict[str, Any]]) -> Any:
        nets = []
        for n in given:
            if n.get("allocate_network"):
                return n["allocate_network"]  # "auto" or "none", as Nova takes them
            item: dict[str, Any] = {}
            if "port" in n:
                item["port"] = lookup.port(env.rt, env.ctx, n["port"])
            elif "network" in n:
                item["uuid"] = lookup.network(env.rt, env.ctx, n["network"])
            elif "subnet" in n:
                sub = env.rt.network.show_subnet(
                    env.ctx, lookup.subnet(env.rt, env.ctx, n["subnet"])
                )
                item["uuid"] = sub["network_id"]
            if "fixed_ip" in n:
                item["fixed_ip"] = n["fixed_ip"]
            nets.append(item)
        return nets or "auto"

    def _user_data(self, env: Env, props: dict[str, Any]) -> str:
        """As Heat assembles it for the format (``userdata.py``)."""
        text, fmt = str(props.get("user_data") or ""), props.get("user_data_format")
        if fmt == "HEAT_CFNTOOLS":
            return text
        if userdata.is_config_id(text):  # a software config's id: its config
            try:
                config = env.rt.orchestration.software.show_config(
                    env.ctx, str(env.ctx.project_id), text.strip().lower()
                )
                text = userdata.config_text(config["config"])
            except NotFound:
                pass
        if fmt == "RAW":
            return text
        metadata = {
            "deployments": [],
            "os-collect-config": {"kumo": {
                "deployments_url": f"{env.endpoint}/software_deployments/metadata",
                "stack": f"{env.stack_name}/{env.stack_id}",
                "resource_name": env.name,
            }},
        }  # fmt: skip
        return userdata.software_config(text, metadata)

    def _active(self, env: Env) -> bool:
        view = self.show(env)
        if view["status"] == "ERROR":
            fault = (view.get("fault") or {}).get("message", "")
            raise ResourceFailure(f'Went to status ERROR due to "{fault or "Unknown"}"')
        return bool(view["status"] == "ACTIVE")

    def show(self, env: Env) -> dict[str, Any]:
        return env.rt.compute.show_server(env.ctx, str(env.physical_id), _base(env), V)

    def update(self, env: Env, old: dict[str, Any], new: dict[str, Any]) -> None:
        body: dict[str, Any] = {}
        if old.get("name") != new.get("name"):
            body["name"] = new.get("name") or env.physical_name()
        if body:
            env.rt.compute.update_server(env.ctx, str(env.physical_id), {"server": body},
                                         _base(env), V)  # fmt: skip
        if old.get("metadata") != new.get("metadata"):
            self._set_metadata(env, new.get("metadata") or {})

    def _set_metadata(self, env: Env, metadata: dict[str, Any]) -> None:
        """Nova's metadata API in one step (kumo's compute API has no metadata route)."""
        from kumo.compute import servers as srv
        from kumo.db.uow import run_in_transaction
        from kumo.policy import authorize

        def work(uow: Any) -> None:
            server = srv.load(uow.session, env.ctx, str(env.physical_id), lock=True)
            authorize(env.ctx, "compute:servers:update", {"project_id": server.project_id})
            server.meta = {str(k): str(v) for k, v in metadata.items()}

        run_in_transaction(env.rt.db, work)

    def delete(self, env: Env) -> None:
        if not env.physical_id:
            return
        sid = str(env.physical_id)
        gone_ok(lambda: env.rt.compute.delete_server(env.ctx, sid))

        def gone() -> bool:
            try:
                self.show(env)
            except NotFound:
                return True
            return False

        env.wait(gone, f"server {sid} to be deleted")

    def check(self, env: Env) -> None:
        try:
            view = self.show(env)
        except NotFound as e:
            raise ResourceFailure(e.message) from None
        if view["status"] == "ERROR":
            raise ResourceFailure("Server is in status ERROR")

    def suspend(self, env: Env) -> None:
        try:
            env.rt.compute.server_action(env.ctx, str(env.physical_id), {"os-stop": None})
        except Conflict:
            pass  # already stopped

    def resume(self, env: Env) -> None:
        try:
            env.rt.compute.server_action(env.ctx, str(env.physical_id), {"os-start": None})
        except Conflict:
            pass

    def attribute(self, env: Env, props: dict[str, Any], name: str) -> Any:
        if not env.physical_id:
            return None
        try:
            view = self.show(env)
        except NotFound:
            return None
        addresses = view.get("addresses") or {}
        if name == "show":
            return view
        if name == "addresses":  # as Heat: each address also names its port
            ports = env.rt.network.list_ports(env.ctx, {"device_id": [view["id"]]})
            by_ip = {ip["ip_address"]: p["id"] for p in ports for ip in p["fixed_ips"]}
            return {net: [{**a, "port": by_ip.get(a["addr"])} for a in addrs]
                    for net, addrs in addresses.items()}  # fmt: skip
        if name == "networks":
            out: dict[str, list[str]] = {}
            for net, addrs in addresses.items():
                out[net] = [a["addr"] for a in addrs]
            for port in env.rt.network.list_ports(env.ctx, {"device_id": [view["id"]]}):
                out[port["network_id"]] = [ip["ip_address"] for ip in port["fixed_ips"]]
            return out
        if name == "first_address":
            for addrs in addresses.values():
                if addrs:
                    return addrs[0]["addr"]
            return ""
        if name == "instance_name":
            return view.get("OS-EXT-SRV-ATTR:instance_name") or f"instance-{view['id'][:8]}"
        if name == "console_urls":
            return {}
        return view.get(name)


class KeyPair(Plugin):
    type_name = "OS::Nova::KeyPair"
    description = "A key pair of the stack's creator (generated, or imported from public_key)."
    props = {
        "name": Prop("string", required=True),
        "public_key": Prop("string"),
        "save_private_key": Prop("boolean", default=False),
        "type": Prop("string", default="ssh", allowed=("ssh", "x509")),
    }
    attrs = {"public_key": "The public key", "private_key": "The private key (save_private_key)"}

    def create(self, env: Env, props: dict[str, Any]) -> None:
        body: dict[str, Any] = {"name": props["name"]}
        if props.get("public_key"):
            body["public_key"] = props["public_key"]
        made = env.rt.compute.create_keypair(env.ctx, {"keypair": body}, V)
        env.physical_id = props["name"]
        if props.get("save_private_key") and made.get("private_key"):
            env.data["private_key"] = made["private_key"]

    def delete(self, env: Env) -> None:
        if env.physical_id:
            name = str(env.physical_id)
            gone_ok(lambda: env.rt.compute.delete_keypair(env.ctx, name, None))

    def attribute(self, env: Env, props: dict[str, Any], name: str) -> Any:
        if name == "private_key":
            return env.data.get("private_key", "")
        if not env.physical_id:
            return None
        try:
            view = env.rt.compute.show_keypair(env.ctx, str(env.physical_id), None, V)
        except NotFound:
            return None
        return view if name == "show" else view.get(name)

    def check(self, env: Env) -> None:
        try:
            env.rt.compute.show_keypair(env.ctx, str(env.physical_id), None, V)
        except NotFound as e:
            raise ResourceFailure(e.message) from None


class Flavor(Plugin):
    type_name = "OS::Nova::Flavor"
    description = "A flavor (admins only, as in Nova)."
    admin_only = True
    props = {
        "name": Prop("string"),
        "ram": Prop("integer", required=True),
        "vcpus": Prop("integer", required=True),
        "disk": Prop("integer", default=0),
        "swap": Prop("integer", default=0),
        "ephemeral": Prop("integer", default=0),
        "rxtx_factor": Prop("number", default=1.0),
        "is_public": Prop("boolean", default=True),
        "flavorid": Prop("string"),
        "extra_specs": Prop("map", update=True),
    }
    attrs = {"is_public": "Whether the flavor is public", "extra_specs": "Extra specs"}

    def create(self, env: Env, props: dict[str, Any]) -> None:
        body: dict[str, Any] = {k: props[k] for k in ("ram", "vcpus", "disk", "swap", "ephemeral",
                                      "rxtx_factor") if k in props}  # fmt: skip
        body["name"] = props.get("name") or env.physical_name()
        body["os-flavor-access:is_public"] = props["is_public"]
        if props.get("flavorid"):
            body["id"] = props["flavorid"]
        made = env.rt.compute.create_flavor(env.ctx, {"flavor": body}, _base(env), V)
        env.physical_id = made["id"]
        if props.get("extra_specs"):
            env.rt.compute.set_flavor_extra_specs(
                env.ctx, made["id"], {"extra_specs": props["extra_specs"]}
            )

    def update(self, env: Env, old: dict[str, Any], new: dict[str, Any]) -> None:
        env.rt.compute.set_flavor_extra_specs(
            env.ctx, str(env.physical_id), {"extra_specs": new.get("extra_specs") or {}}
        )

    def delete(self, env: Env) -> None:
        if env.physical_id:
            fid = str(env.physical_id)
            gone_ok(lambda: env.rt.compute.delete_flavor(env.ctx, fid))

    def attribute(self, env: Env, props: dict[str, Any], name: str) -> Any:
        if not env.physical_id:
            return None
        try:
            view = env.rt.compute.show_flavor(env.ctx, str(env.physical_id), _base(env), V)
        except NotFound:
            return None
        if name == "is_public":
            return view.get("os-flavor-access:is_public")
        return view if name == "show" else view.get(name)


PLUGINS: list[type[Plugin]] = [Server, KeyPair, Flavor]
