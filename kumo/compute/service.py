"""ComputeService: the facade the compute API calls.

Writes run in ``run_in_transaction``; reads open one session and render
views for the caller's microversion.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

from kumo.compute import (
    console_channel,
    flavors,
    hypervisors,
    instance_actions,
    interfaces,
    keypairs,
    os_hosts,
    power_reports,
    quotas,
    server_actions,
    server_groups,
    server_metadata,
    server_networks,
    server_tags,
    server_views,
    servers,
    snapshots,
    usage,
    usage_records,
    zones,
)
from kumo.compute.microversion import Version, parse
from kumo.compute.proxy_networks import NetworkProxy
from kumo.compute.proxy_secgroups import SecurityGroupProxy
from kumo.config import Settings
from kumo.context import RequestContext, admin_context
from kumo.db.compute_models import Server, ServerInterface
from kumo.db.engine import Database
from kumo.db.uow import UnitOfWork, run_in_transaction
from kumo.errors import BadRequest, NotFound
from kumo.identity import agent_credentials
from kumo.identity.keys import KeyRing
from kumo.network.service import NetworkService
from kumo.policy import authorize, unrestricted

T = TypeVar("T")
AGENT_VERSION = parse("2.79")
NETWORK_ACTIONS = ("addFloatingIp", "removeFloatingIp", "addSecurityGroup", "removeSecurityGroup")
"""The microversion of the server views agents read."""


class ComputeService:
    def __init__(self, db: Database, settings: Settings, network: NetworkService) -> None:
        self.db = db
        self.settings = settings
        self.network = network
        self.console_keys = KeyRing(db, "console", max_age=settings.key_refresh_seconds)
        self.console_channel = console_channel.Channel(db)
        self.security_groups = SecurityGroupProxy(network)
        """``os-security-groups`` (up to 2.35), through the Networking API."""
        self.networks = NetworkProxy(network)
        """``os-floating-ips``, pools, ``os-networks`` (up to 2.35), likewise."""
        """Signs and checks console URLs (``kumo/compute/console.py``)."""
        usage_records.install()

    def _write(self, fn: Callable[[UnitOfWork], T]) -> T:
        return run_in_transaction(self.db, fn)

    def bootstrap(self) -> None:
        """Create the default flavors once."""
        self._write(lambda uow: flavors.ensure_defaults(uow.session))

    # -- flavors ------------------------------------------------------------------------

    def list_flavors(
        self,
        ctx: RequestContext,
        params: dict[str, str],
        base: str,
        version: Version,
        *,
        detail: bool,
    ) -> list[dict[str, Any]]:
        with self.db.read_session() as s:
            return [
                flavors.view(f, base, version, detail=detail)
                for f in flavors.listing(s, ctx, params)
            ]

    def show_flavor(
        self, ctx: RequestContext, flavor_id: str, base: str, version: Version
    ) -> dict[str, Any]:
        with self.db.read_session() as s:
            return flavors.view(flavors.load(s, ctx, flavor_id), base, version)

    def create_flavor(
        self, ctx: RequestContext, body: Any, base: str, version: Version
    ) -> dict[str, Any]:
        return self._write(lambda uow: flavors.view(flavors.create(uow, ctx, body), base, version))

    def update_flavor(
        self, ctx: RequestContext, flavor_id: str, body: Any, base: str, version: Version
    ) -> dict[str, Any]:
        return self._write(
            lambda uow: flavors.view(flavors.update(uow, ctx, flavor_id, body), base, version)
        )

    def delete_flavor(self, ctx: RequestContext, flavor_id: str) -> None:
        self._write(lambda uow: flavors.remove(uow, ctx, flavor_id))

    def flavor_extra_specs(self, ctx: RequestContext, flavor_id: str) -> dict[str, str]:
        with self.db.read_session() as s:
            return dict(flavors.load(s, ctx, flavor_id).extra_specs or {})

    def set_flavor_extra_specs(
        self, ctx: RequestContext, flavor_id: str, specs: Any
    ) -> dict[str, str]:
        return self._write(lambda uow: flavors.set_extra_specs(uow, ctx, flavor_id, specs))

    def flavor_extra_spec(self, ctx: RequestContext, flavor_id: str, key: str) -> dict[str, str]:
        specs = self.flavor_extra_specs(ctx, flavor_id)
        if key not in specs:
            raise NotFound(
                f"Flavor {flavor_id} has no extra specs with key {key}.",
                kind="FlavorExtraSpecsNotFound",
            )
        return {key: specs[key]}

    def set_flavor_extra_spec(
        self, ctx: RequestContext, flavor_id: str, key: str, body: Any
    ) -> dict[str, str]:
        return self._write(lambda uow: flavors.set_extra_spec(uow, ctx, flavor_id, key, body))

    def unset_flavor_extra_spec(self, ctx: RequestContext, flavor_id: str, key: str) -> None:
        self._write(lambda uow: flavors.unset_extra_spec(uow, ctx, flavor_id, key))

    def flavor_access(self, ctx: RequestContext, flavor_id: str) -> list[dict[str, str]]:
        with self.db.read_session() as s:
            return flavors.access_list(s, ctx, flavor_id)

    def add_flavor_access(
        self, ctx: RequestContext, flavor_id: str, project_id: str
    ) -> list[dict[str, str]]:
        self._write(lambda uow: flavors.add_access(uow, ctx, flavor_id, project_id))
        return self.flavor_access(ctx, flavor_id)

    def remove_flavor_access(
        self, ctx: RequestContext, flavor_id: str, project_id: str
    ) -> list[dict[str, str]]:
        self._write(lambda uow: flavors.remove_access(uow, ctx, flavor_id, project_id))
        return self.flavor_access(ctx, flavor_id)

    # -- servers ------------------------------------------------------------------------

    def create_servers(
        self, ctx: RequestContext, body: Any, base: str, version: Version
    ) -> dict[str, Any]:
        """The 202 body: the first server (id, links, adminPass...) or a reservation id."""

        def work(uow: UnitOfWork) -> servers.Created:
            made = servers.create(uow, self.settings, ctx, body, version)
            for server_id in made.ids:
                instance_actions.record(
                    uow, ctx, servers.load(uow.session, ctx, server_id), "create"
                )
            return made

        made = self._write(work)
        if made.return_reservation_id:
            return {"reservation_id": made.reservation_id}
        with self.db.read_session() as s:
            server = servers.load(s, ctx, made.ids[0])
            groups = [{"name": n} for n in server.security_groups or []]
        out: dict[str, Any] = {
            **server_views.brief(server, base),
            "OS-DCF:diskConfig": "MANUAL",
            "security_groups": groups,
            "adminPass": made.admin_pass,
        }
        del out["name"]
        return {"server": out}

    def list_servers(
        self,
        ctx: RequestContext,
        params: dict[str, str],
        base: str,
        version: Version,
        *,
        detail: bool,
    ) -> list[dict[str, Any]]:
        with self.db.read_session() as s:
            rows = servers.listing(s, ctx, params)
            att = server_views.load_attachments(s, [r.id for r in rows])
            views = [server_views.detail(r, att, ctx, base, version, self.settings) for r in rows]
        wanted = params.get("status")
        if wanted:
            keep = {v["id"] for v in views if v["status"] == wanted.upper()}
            views = [v for v in views if v["id"] in keep]
        views = server_views.filtered(views, params)
        if not detail:
            by_id = {r.id: r for r in rows}
            return [server_views.brief(by_id[v["id"]], base) for v in views]
        return views

    def show_server(
        self, ctx: RequestContext, server_id: str, base: str, version: Version
    ) -> dict[str, Any]:
        with self.db.read_session() as s:
            server = servers.load(s, ctx, server_id)
            att = server_views.load_attachments(s, [server.id])
            return server_views.detail(server, att, ctx, base, version, self.settings, show=True)

    def server_for_agent(
        self, ctx: RequestContext, server_id: str, base: str, port_id: str = ""
    ) -> dict[str, Any]:
        """What the metadata service of the server's host serves from: the
        server as an admin sees it (user data included) and its key pair's
        public key. Only for the agent of the host the server runs on, and
        only when ``port_id`` (the port the request came from) is one of the
        server's interfaces: a port's ``device_id`` is the tenant's to
        write, the interface record is not (admins may leave it out)."""
        with self.db.read_session() as s:
            server = s.get(Server, server_id)
            if server is None:
                raise servers.not_found(server_id)
            agent_credentials.authorize_hosts(s, ctx, [server.host or ""], "internal:get_server")
            if port_id or not unrestricted(ctx, "internal:get_server"):
                attached = s.get(ServerInterface, port_id) if port_id else None
                if attached is None or attached.server_id != server_id:
                    raise servers.not_found(server_id)
            att = server_views.load_attachments(s, [server.id])
            # rendered with admin rights: the caller is entitled to this one server
            view = server_views.detail(
                server, att, admin_context(), base, AGENT_VERSION, self.settings, show=True
            )
            return {"server": view, "public_key": server.key_data}

    def update_server(
        self, ctx: RequestContext, server_id: str, body: Any, base: str, version: Version
    ) -> dict[str, Any]:
        self._write(lambda uow: servers.update(uow, ctx, server_id, body, version))
        return self.changed_server(ctx, server_id, base, version, rebuild=False)

    def changed_server(
        self, ctx: RequestContext, server_id: str, base: str, version: Version, *, rebuild: bool
    ) -> dict[str, Any]:
        """The server as an update or a rebuild answers with it."""
        with self.db.read_session() as s:
            server = servers.load(s, ctx, server_id)
            att = server_views.load_attachments(s, [server.id])
            full = server_views.detail(server, att, ctx, base, version, self.settings, show=True)
            return server_views.after_change(full, server, version, rebuild=rebuild)

    def delete_server(self, ctx: RequestContext, server_id: str) -> None:
        def work(uow: UnitOfWork) -> None:
            instance_actions.record(uow, ctx, servers.load(uow.session, ctx, server_id), "delete")
            servers.remove(uow, ctx, server_id)

        self._write(work)

    def instance_actions(
        self, ctx: RequestContext, server_id: str, version: Version
    ) -> list[dict[str, Any]]:
        with self.db.read_session() as s:
            return instance_actions.listing(s, ctx, server_id, version)

    def instance_action(
        self, ctx: RequestContext, server_id: str, req_id: str, version: Version
    ) -> dict[str, Any]:
        with self.db.read_session() as s:
            return instance_actions.show(s, ctx, server_id, req_id, version)

    def server_action(
        self, ctx: RequestContext, server_id: str, body: Any, version: Version | None = None
    ) -> str | None:
        """Run a server action; ``createImage`` answers the new image's id."""
        if isinstance(body, dict) and len(body) == 1:
            ((action, arg),) = body.items()
            if action in NETWORK_ACTIONS:
                self._network_action(ctx, server_id, action, arg, version or parse("2.1"))
                return None

        def work(uow: UnitOfWork) -> str | None:
            action = next(iter(body)) if isinstance(body, dict) and len(body) == 1 else None
            if action in instance_actions.RECORDED:
                server = servers.load(uow.session, ctx, server_id)
                instance_actions.record(uow, ctx, server, str(action))
            return server_actions.run(uow, self.settings, ctx, server_id, body)

        return self._write(work)

    def snapshot_context(self, ctx: RequestContext, image_id: str) -> RequestContext:
        """For the agent uploading a snapshot: the requester's delegated context."""
        return self._write(lambda uow: snapshots.delegated(uow, ctx, image_id))

    def end_snapshot(self, ctx: RequestContext, image_id: str, ok: bool) -> None:
        self._write(lambda uow: snapshots.end(uow, ctx, image_id, ok))

    def _network_action(
        self, ctx: RequestContext, server_id: str, action: str, arg: Any, version: Version
    ) -> None:
        """The actions that are Networking API calls on the server's ports:
        floating IPs (up to 2.43) and security groups."""
        if action in ("addFloatingIp", "removeFloatingIp"):
            if version.at_least("2.44"):
                raise BadRequest(f"There is no such action: {action}")
            if action == "addFloatingIp":
                self.networks.add_to_server(ctx, server_id, arg)
            else:
                self.networks.remove_from_server(ctx, server_id, arg)
            return
        add = action == "addSecurityGroup"
        name = arg.get("name") if isinstance(arg, dict) else None
        with self.db.read_session() as s:
            server = servers.load(s, ctx, server_id)
            project, names = server.project_id, list(server.security_groups or [])
            port_ids = [p.id for p in server_networks.server_ports(s, server.id)]
        if isinstance(name, str) and add == (name in names):
            state = "already associated with" if add else "not associated with"
            raise BadRequest(f"Security group {name} is {state} the instance {server_id}")
        group_name = self.security_groups.change_server_groups(
            ctx, project, port_ids, name, add=add
        )

        def record(uow: UnitOfWork) -> None:
            row = servers.load(uow.session, ctx, server_id, lock=True)
            groups = [g for g in row.security_groups or [] if g not in (name, group_name)]
            row.security_groups = [*groups, group_name] if add else groups

        self._write(record)

    def report_power(self, ctx: RequestContext, body: Any) -> int:
        """A host agent's report on its VMs (``kumo.compute.power_reports``)."""
        items = power_reports.parse(body)
        return self._write(lambda uow: power_reports.report(uow, ctx, items))

    # -- server metadata and addresses ---------------------------------------------------

    def server_metadata(self, ctx: RequestContext, server_id: str) -> dict[str, str]:
        with self.db.read_session() as s:
            return server_metadata.show_all(s, ctx, server_id)

    def server_metadata_item(self, ctx: RequestContext, server_id: str, key: str) -> dict[str, str]:
        with self.db.read_session() as s:
            return server_metadata.show(s, ctx, server_id, key)

    def merge_server_metadata(
        self, ctx: RequestContext, server_id: str, body: Any
    ) -> dict[str, str]:
        return self._write(
            lambda uow: server_metadata.merge(uow, self.settings, ctx, server_id, body)
        )

    def replace_server_metadata(
        self, ctx: RequestContext, server_id: str, body: Any
    ) -> dict[str, str]:
        return self._write(
            lambda uow: server_metadata.replace(uow, self.settings, ctx, server_id, body)
        )

    def set_server_metadata_item(
        self, ctx: RequestContext, server_id: str, key: str, body: Any
    ) -> dict[str, str]:
        return self._write(
            lambda uow: server_metadata.set_item(uow, self.settings, ctx, server_id, key, body)
        )

    def delete_server_metadata_item(self, ctx: RequestContext, server_id: str, key: str) -> None:
        self._write(lambda uow: server_metadata.delete_item(uow, ctx, server_id, key))

    def server_tags(self, ctx: RequestContext, server_id: str) -> list[str]:
        with self.db.read_session() as s:
            return server_tags.listing(s, ctx, server_id)

    def server_tag_exists(self, ctx: RequestContext, server_id: str, tag: str) -> None:
        with self.db.read_session() as s:
            server_tags.exists(s, ctx, server_id, tag)

    def replace_server_tags(self, ctx: RequestContext, server_id: str, body: Any) -> list[str]:
        return self._write(lambda uow: server_tags.replace(uow, ctx, server_id, body))

    def add_server_tag(self, ctx: RequestContext, server_id: str, tag: str) -> bool:
        return self._write(lambda uow: server_tags.add(uow, ctx, server_id, tag))

    def remove_server_tags(self, ctx: RequestContext, server_id: str, tag: str | None) -> None:
        self._write(lambda uow: server_tags.remove(uow, ctx, server_id, tag))

    def server_password(self, ctx: RequestContext, server_id: str) -> str:
        """The encrypted password a guest posted to the metadata service: kumo's
        metadata service takes none, so it is always blank (as Nova's for a
        guest that never posted one)."""
        with self.db.read_session() as s:
            servers.load(s, ctx, server_id)
        return ""

    def clear_server_password(self, ctx: RequestContext, server_id: str) -> None:
        with self.db.read_session() as s:
            server = servers.load(s, ctx, server_id)
            authorize(ctx, "compute:servers:password:clear", {"project_id": server.project_id})

    def server_addresses(
        self, ctx: RequestContext, server_id: str, network: str | None = None
    ) -> dict[str, list[dict[str, Any]]]:
        """``/servers/{id}/ips``: the server's addresses by network name (only
        ``network``'s when given: 404 when the server has none on it)."""
        with self.db.read_session() as s:
            server = servers.load(s, ctx, server_id)
            att = server_views.load_attachments(s, [server.id])
            out = {
                net: [{"version": a["version"], "addr": a["addr"]} for a in items]
                for net, items in server_views.addresses(server, att).items()
            }
        if network is None:
            return out
        if network not in out:
            raise NotFound("There is no such network for this server.")
        return {network: out[network]}

    # -- interfaces ---------------------------------------------------------------------

    def list_interfaces(
        self, ctx: RequestContext, server_id: str, version: Version
    ) -> list[dict[str, Any]]:
        with self.db.read_session() as s:
            server = servers.load(s, ctx, server_id)
            return [interfaces.view(p, version) for p in server_networks.server_ports(s, server.id)]

    def show_interface(
        self, ctx: RequestContext, server_id: str, port_id: str, version: Version
    ) -> dict[str, Any]:
        with self.db.read_session() as s:
            return interfaces.view(interfaces.find(s, ctx, server_id, port_id), version)

    def attach_interface(
        self, ctx: RequestContext, server_id: str, body: Any, version: Version
    ) -> dict[str, Any]:
        def work(uow: UnitOfWork) -> str:
            made = interfaces.attach(uow, self.settings, ctx, server_id, body)
            server = servers.load(uow.session, ctx, server_id)
            instance_actions.record(uow, ctx, server, "attach_interface")
            return made

        port_id = self._write(work)
        return self.show_interface(ctx, server_id, port_id, version)

    def detach_interface(self, ctx: RequestContext, server_id: str, port_id: str) -> None:
        def work(uow: UnitOfWork) -> None:
            interfaces.detach(uow, ctx, server_id, port_id)
            server = servers.load(uow.session, ctx, server_id)
            instance_actions.record(uow, ctx, server, "detach_interface")

        self._write(work)

    # -- keypairs -----------------------------------------------------------------------

    def create_keypair(self, ctx: RequestContext, body: Any, version: Version) -> dict[str, Any]:
        def work(uow: UnitOfWork) -> dict[str, Any]:
            kp, private = keypairs.create(uow, self.settings, ctx, body, version)
            made = keypairs.view(kp, version, private=private)
            made["user_id"] = kp.user_id  # the owner, who is not the caller when an admin
            return made  # made it for another user (2.10)

        return self._write(work)

    def list_keypairs(
        self, ctx: RequestContext, user_id: str | None, version: Version
    ) -> list[dict[str, Any]]:
        with self.db.read_session() as s:
            return [
                {"keypair": keypairs.view(k, version)} for k in keypairs.listing(s, ctx, user_id)
            ]

    def show_keypair(
        self, ctx: RequestContext, name: str, user_id: str | None, version: Version
    ) -> dict[str, Any]:
        with self.db.read_session() as s:
            return keypairs.view(keypairs.load(s, ctx, name, user_id), version, full=True)

    def delete_keypair(self, ctx: RequestContext, name: str, user_id: str | None) -> None:
        self._write(lambda uow: keypairs.remove(uow, ctx, name, user_id))

    # -- server groups ------------------------------------------------------------------

    def create_server_group(
        self, ctx: RequestContext, body: Any, version: Version
    ) -> dict[str, Any]:
        def work(uow: UnitOfWork) -> dict[str, Any]:
            group = server_groups.create(uow, self.settings, ctx, body, version)
            return server_groups.view(uow.session, group, version)

        return self._write(work)

    def list_server_groups(
        self, ctx: RequestContext, all_projects: bool, version: Version
    ) -> list[dict[str, Any]]:
        with self.db.read_session() as s:
            return [
                server_groups.view(s, g, version)
                for g in server_groups.listing(s, ctx, all_projects)
            ]

    def show_server_group(
        self, ctx: RequestContext, group_id: str, version: Version
    ) -> dict[str, Any]:
        with self.db.read_session() as s:
            return server_groups.view(s, server_groups.load(s, ctx, group_id), version)

    def delete_server_group(self, ctx: RequestContext, group_id: str) -> None:
        self._write(lambda uow: server_groups.remove(uow, ctx, group_id))

    # -- hosts, services, zones ---------------------------------------------------------

    def hypervisors(
        self, ctx: RequestContext, version: Version, *, detail: bool
    ) -> list[dict[str, Any]]:
        hypervisors.require_admin(ctx, "os-hypervisors:list")
        with self.db.read_session() as s:
            return [
                hypervisors.view(h, version, detail=detail)
                for h in hypervisors.compute_hosts(s, self.settings)
            ]

    def hypervisor(self, ctx: RequestContext, ident: str, version: Version) -> dict[str, Any]:
        hypervisors.require_admin(ctx, "os-hypervisors:show")
        with self.db.read_session() as s:
            return hypervisors.view(hypervisors.find(s, self.settings, ident), version, detail=True)

    def hypervisor_servers(
        self, ctx: RequestContext, pattern: str, *, servers_too: bool
    ) -> list[dict[str, Any]]:
        """``os-hypervisors/{pattern}/search`` and ``.../servers`` (before 2.53)."""
        hypervisors.require_admin(ctx, "os-hypervisors:search")
        with self.db.read_session() as s:
            return hypervisors.search(s, self.settings, pattern, servers_too=servers_too)

    def hypervisor_uptime(self, ctx: RequestContext, ident: str) -> dict[str, Any]:
        hypervisors.require_admin(ctx, "os-hypervisors:uptime")
        with self.db.read_session() as s:
            return hypervisors.uptime(s, self.settings, ident)

    def hypervisor_statistics(self, ctx: RequestContext) -> dict[str, int]:
        hypervisors.require_admin(ctx, "os-hypervisors:statistics")
        with self.db.read_session() as s:
            return hypervisors.statistics(hypervisors.compute_hosts(s, self.settings))

    def services(
        self, ctx: RequestContext, params: dict[str, str], version: Version
    ) -> list[dict[str, Any]]:
        hypervisors.require_admin(ctx, "os-services:list")
        with self.db.read_session() as s:
            return zones.services(hypervisors.compute_hosts(s, self.settings), params, version)

    def update_service(
        self, ctx: RequestContext, service_id: str, body: Any, version: Version
    ) -> dict[str, Any]:
        hypervisors.require_admin(ctx, "os-services:update")
        host = self._write(lambda uow: zones.update_service(uow, self.settings, service_id, body))
        return next(r for r in self.services(ctx, {"host": host}, version) if r["id"] == service_id)

    def availability_zones(self, ctx: RequestContext, *, detail: bool) -> list[dict[str, Any]]:
        if detail:
            hypervisors.require_admin(ctx, "os-availability-zone:detail")
        with self.db.read_session() as s:
            hosts = hypervisors.compute_hosts(s, self.settings)
        return zones.zones(hosts, self.settings, detail=detail)

    # -- limits and quotas --------------------------------------------------------------

    def limits(
        self, ctx: RequestContext, project_id: str | None, version: Version
    ) -> dict[str, Any]:
        project = ctx.project_id or ""
        if project_id and project_id != project:
            hypervisors.require_admin(ctx, "limits:other_project")
            project = project_id
        with self.db.read_session() as s:
            absolute = quotas.absolute_limits(s, self.settings, project, ctx.user_id, version)
        return {"rate": [], "absolute": absolute}

    def quota_set(
        self,
        ctx: RequestContext,
        project_id: str,
        version: Version,
        *,
        detail: bool = False,
        defaults: bool = False,
    ) -> dict[str, Any]:
        if project_id != ctx.project_id and not defaults:
            hypervisors.require_admin(ctx, "os-quota-sets:show")
        with self.db.read_session() as s:
            return quotas.quota_set(
                s, self.settings, project_id, version, detail=detail, defaults=defaults
            )

    def update_quota_set(
        self, ctx: RequestContext, project_id: str, body: Any, version: Version
    ) -> dict[str, Any]:
        hypervisors.require_admin(ctx, "os-quota-sets:update")
        self._write(
            lambda uow: quotas.update(uow.session, self.settings, project_id, body, version)
        )
        out = self.quota_set(ctx, project_id, version)
        del out["id"]
        return out

    def delete_quota_set(self, ctx: RequestContext, project_id: str) -> None:
        hypervisors.require_admin(ctx, "os-quota-sets:delete")
        self._write(lambda uow: quotas.reset(uow.session, project_id))

    # -- usage --------------------------------------------------------------------------

    def tenant_usages(self, ctx: RequestContext, params: dict[str, str]) -> list[dict[str, Any]]:
        """Every project's usage (``os-simple-tenant-usage``; ``detailed=1``: per server)."""
        authorize(ctx, "compute:usage:list")
        start, stop, now = self._period(params)
        with self.db.read_session() as s:
            lives = usage_records.lifetimes(s, start, stop, None)
        detailed = params.get("detailed", "0") not in ("0", "", "false", "False")
        return usage.usages(lives, start, stop, now, detailed=detailed)

    def tenant_usage(
        self, ctx: RequestContext, project_id: str, params: dict[str, str]
    ) -> dict[str, Any]:
        """One project's usage with its servers (empty when it had none)."""
        authorize(ctx, "compute:usage:show", {"project_id": project_id})
        start, stop, now = self._period(params)
        with self.db.read_session() as s:
            lives = usage_records.lifetimes(s, start, stop, project_id)
        if not lives:
            return {}
        return usage.tenant_usage(project_id, lives, start, stop, now, detailed=True)

    @staticmethod
    def _period(params: dict[str, str]) -> tuple[dt.datetime, dt.datetime, dt.datetime]:
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        start = usage.parse_time(params.get("start"), "start", now)
        stop = usage.parse_time(params.get("end"), "end", now)
        if start > stop:
            raise BadRequest("Invalid start time. The start time cannot occur after the end time.")
        return start, stop, now

    # -- os-hosts (up to 2.42) ----------------------------------------------------------

    def list_hosts(self, ctx: RequestContext, zone: str | None) -> list[dict[str, str]]:
        hypervisors.require_admin(ctx, "os-hosts:list")
        with self.db.read_session() as s:
            return os_hosts.listing(s, self.settings, zone)

    def show_host(self, ctx: RequestContext, host: str) -> list[dict[str, Any]]:
        hypervisors.require_admin(ctx, "os-hosts:show")
        with self.db.read_session() as s:
            return os_hosts.show(s, self.settings, host)

    def update_host(self, ctx: RequestContext, host: str, body: Any) -> dict[str, str]:
        hypervisors.require_admin(ctx, "os-hosts:update")
        return self._write(lambda uow: os_hosts.update(uow, self.settings, host, body))

    def host_power_action(self, ctx: RequestContext, host: str, action: str) -> None:
        hypervisors.require_admin(ctx, f"os-hosts:{action}")
        with self.db.read_session() as s:
            os_hosts.power_action(s, self.settings, host, action)

    def server_security_groups(self, ctx: RequestContext, server_id: str) -> list[dict[str, Any]]:
        """``GET /servers/{id}/os-security-groups``: the groups the server has."""
        with self.db.read_session() as s:
            server = servers.load(s, ctx, server_id)
            project, names = server.project_id, list(server.security_groups or [])
        return self.security_groups.of_server(ctx, project, names)
