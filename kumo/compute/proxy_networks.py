"""Nova's network proxies (served up to microversion 2.35): ``os-floating-ips``,
``os-floating-ip-pools``, ``os-networks`` and ``os-tenant-networks``.

As ``proxy_secgroups.py``: every call is a Networking API call made with
the caller's own context; only the shapes are Nova's. A pool is an
external network, known by name; allocating without one takes the
default external network (``is_default``).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import select

from kumo.compute import server_networks
from kumo.context import RequestContext
from kumo.db.compute_models import ServerInterface
from kumo.db.network_models import IPAllocation, Network, Port, Subnet
from kumo.errors import BadRequest, Conflict, NotFound
from kumo.network import policy
from kumo.network.l3 import floatingip_service
from kumo.network.rbac import access as rbac_access
from kumo.network.service import NetworkService


def _fip_not_found(fip_id: str) -> NotFound:
    return NotFound(f"Floating IP not found for ID {fip_id}", kind="FloatingIpNotFound")


class NetworkProxy:
    def __init__(self, network: NetworkService) -> None:
        self.net = network

    # -- floating IPs ---------------------------------------------------------------------

    def _fip_views(self, fips: list[dict[str, Any]]) -> list[dict[str, Any]]:
        with self.net.db.read_session() as s:
            nets = {n.id: n.name for n in s.scalars(select(Network).where(Network.external))}
            port_ids = [f["port_id"] for f in fips if f.get("port_id")]
            servers = {
                i.port_id: i.server_id
                for i in s.scalars(
                    select(ServerInterface).where(ServerInterface.port_id.in_(port_ids))
                )
            }
            devices = {
                p.id: p.device_id
                for p in s.scalars(select(Port).where(Port.id.in_(port_ids)))
                if p.device_owner.startswith("compute:")
            }
        return [
            {
                "id": f["id"],
                "ip": f["floating_ip_address"],
                "fixed_ip": f.get("fixed_ip_address"),
                "instance_id": servers.get(f.get("port_id") or "")
                or devices.get(f.get("port_id") or "")
                or None,
                "pool": nets.get(f["floating_network_id"]),
            }
            for f in fips
        ]

    def _fip_by_address(self, ctx: RequestContext, address: Any) -> dict[str, Any]:
        if not isinstance(address, str) or not address:
            raise BadRequest(f"Invalid input for field/attribute address. Value: {address}.")
        found = floatingip_service.list_floatingips(
            self.net, ctx, {"floating_ip_address": [address]}
        )
        if not found:
            raise NotFound(
                f"Floating IP not found for address {address}.", kind="FloatingIpNotFoundForAddress"
            )
        return found[0]

    def add_to_server(self, ctx: RequestContext, server_id: str, arg: Any) -> None:
        """``addFloatingIp`` (up to 2.43): the address onto the server's port
        that holds ``fixed_address`` (or its first port with an IPv4
        address), through the Networking API. A port's address that has a
        floating IP already takes no second one (400, as Nova answers)."""
        from kumo.compute import servers  # the proxy is imported by the compute service

        if not isinstance(arg, dict):
            raise BadRequest("Invalid input for field/attribute addFloatingIp.")
        fip = self._fip_by_address(ctx, arg.get("address"))
        fixed = arg.get("fixed_address")
        with self.net.db.read_session() as s:
            server = servers.load(s, ctx, server_id)
            rows = s.execute(
                server_networks.in_server_order(
                    select(Port.id, IPAllocation.ip_address)
                    .join(IPAllocation, IPAllocation.port_id == Port.id)
                    .where(Port.device_id == server.id)
                )
            ).all()
        if fixed is not None:
            chosen = [(p, ip) for p, ip in rows if ip == fixed]
            if not chosen:
                raise BadRequest(f"Specified fixed address not assigned to instance {server_id}")
        else:
            chosen = [(p, ip) for p, ip in rows if ":" not in ip]
            if not chosen:
                raise BadRequest("Unable to associate floating IP: the instance has no fixed IPv4")
        port_id, ip = chosen[0]
        taken = floatingip_service.list_floatingips(self.net, ctx, {"port_id": [port_id]})
        if any(f["id"] != fip["id"] and f.get("fixed_ip_address") == ip for f in taken):
            raise BadRequest(f"Fixed IP {ip} already has a floating IP associated.")
        try:
            floatingip_service.update_floatingip(
                self.net, ctx, fip["id"], {"port_id": port_id, "fixed_ip_address": ip}
            )
        except Conflict as exc:
            raise BadRequest(f"Unable to associate floating IP: {exc.message}") from None

    def remove_from_server(self, ctx: RequestContext, server_id: str, arg: Any) -> None:
        """``removeFloatingIp`` (up to 2.43): 409 when the address is not on this server."""
        from kumo.compute import server_networks, servers

        if not isinstance(arg, dict):
            raise BadRequest("Invalid input for field/attribute removeFloatingIp.")
        fip = self._fip_by_address(ctx, arg.get("address"))
        with self.net.db.read_session() as s:
            server = servers.load(s, ctx, server_id)
            ports = {p.id for p in server_networks.server_ports(s, server.id)}
        if fip.get("port_id") not in ports:
            raise Conflict(
                f"Floating IP {fip['floating_ip_address']} is not associated with instance "
                f"{server_id}.",
                kind="FloatingIpNotAssociated",
            )
        floatingip_service.update_floatingip(self.net, ctx, fip["id"], {"port_id": None})

    def list_floating_ips(self, ctx: RequestContext) -> list[dict[str, Any]]:
        fips = floatingip_service.list_floatingips(
            self.net, ctx, {"project_id": [ctx.project_id or ""]}
        )
        return self._fip_views(fips)

    def show_floating_ip(self, ctx: RequestContext, fip_id: str) -> dict[str, Any]:
        try:
            return self._fip_views([floatingip_service.show_floatingip(self.net, ctx, fip_id)])[0]
        except NotFound:
            raise _fip_not_found(fip_id) from None

    def _pool(self, ctx: RequestContext, name: Any) -> str:
        with self.net.db.read_session() as s:
            q = select(Network).where(Network.external.is_(True))
            if name is None:
                q = q.where(Network.is_default.is_(True))
            elif isinstance(name, str):
                q = q.where((Network.name == name) | (Network.id == name))
            else:
                raise BadRequest(f"Invalid input for field/attribute pool. Value: {name}.")
            rows = list(s.scalars(q.order_by(Network.created_at)))
            flags = rbac_access.networks(s, ctx, [(n.id, n.shared, n.external) for n in rows])
            found = [
                n.id
                for n in rows
                if policy.network_visible(
                    ctx, n.project_id, flags[n.id].shared, flags[n.id].external
                )
            ]
        if not found:
            raise NotFound("Floating IP pool not found.", kind="FloatingIpPoolNotFound")
        return found[0]

    def create_floating_ip(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        pool = body.get("pool") if isinstance(body, dict) else None
        network_id = self._pool(ctx, pool)
        try:
            (made,) = floatingip_service.create_floatingips(
                self.net, ctx, [{"floating_network_id": network_id}]
            )
        except Conflict as exc:
            if exc.kind == "IpAddressGenerationFailure":
                raise NotFound(
                    f"No more floating IPs in pool {pool}.", kind="NoMoreFloatingIps"
                ) from None
            raise
        return self._fip_views([made])[0]

    def delete_floating_ip(self, ctx: RequestContext, fip_id: str) -> None:
        try:
            floatingip_service.delete_floatingip(self.net, ctx, fip_id)
        except NotFound:
            raise _fip_not_found(fip_id) from None

    def pools(self, ctx: RequestContext) -> list[dict[str, str]]:
        nets = self.net.list_networks(ctx, {})
        return [{"name": n["name"]} for n in nets if n.get("router:external")]

    # -- networks -------------------------------------------------------------------------

    def _cidrs(self, ids: list[str]) -> dict[str, tuple[Subnet | None, Subnet | None]]:
        out: dict[str, tuple[Subnet | None, Subnet | None]] = {}
        with self.net.db.read_session() as s:
            rows = s.scalars(
                select(Subnet).where(Subnet.network_id.in_(ids)).order_by(Subnet.created_at)
            )
            for sub in rows:
                v4, v6 = out.get(sub.network_id, (None, None))
                if sub.ip_version == 4 and v4 is None:
                    v4 = sub
                if sub.ip_version == 6 and v6 is None:
                    v6 = sub
                out[sub.network_id] = (v4, v6)
        return out

    def _networks(self, ctx: RequestContext, *, full: bool) -> list[dict[str, Any]]:
        nets = self.net.list_networks(ctx, {})
        cidrs = self._cidrs([n["id"] for n in nets])
        return [self._network_view(n, cidrs.get(n["id"], (None, None)), full=full) for n in nets]

    @staticmethod
    def _network_view(
        net: dict[str, Any], subs: tuple[Subnet | None, Subnet | None], *, full: bool
    ) -> dict[str, Any]:
        v4, v6 = subs
        if not full:
            return {"id": net["id"], "label": net["name"], "cidr": v4.cidr if v4 else None}
        n4 = ipaddress.ip_network(v4.cidr) if v4 else None
        dns = list(v4.dns_nameservers or []) if v4 else []
        return {
            "id": net["id"],
            "label": net["name"],
            "cidr": v4.cidr if v4 else None,
            "netmask": str(n4.netmask) if n4 else None,
            "gateway": v4.gateway_ip if v4 else None,
            "broadcast": str(n4.broadcast_address) if n4 else None,
            "dns1": dns[0] if dns else None,
            "dns2": dns[1] if len(dns) > 1 else None,
            "cidr_v6": v6.cidr if v6 else None,
            "gateway_v6": v6.gateway_ip if v6 else None,
            "netmask_v6": str(ipaddress.ip_network(v6.cidr).prefixlen) if v6 else None,
        }

    def list_networks(self, ctx: RequestContext, *, full: bool) -> list[dict[str, Any]]:
        return self._networks(ctx, full=full)

    def show_network(self, ctx: RequestContext, network_id: str, *, full: bool) -> dict[str, Any]:
        try:
            net = self.net.show_network(ctx, network_id)
        except NotFound:
            raise NotFound("Network could not be found.", kind="NetworkNotFound") from None
        cidrs = self._cidrs([net["id"]])
        return self._network_view(net, cidrs.get(net["id"], (None, None)), full=full)
