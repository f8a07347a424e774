"""``/extensions`` (Nova's legacy list of API extensions) and ``/os-migrations``.

The extension list names the parts of the legacy v2 API kumo serves, so
clients that still look features up by extension find them. kumo moves no
server between hosts, so its migration list is always empty.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from kumo.api.auth import authenticate
from kumo.api.render import json_response
from kumo.context import RequestContext
from kumo.errors import NotFound

router = APIRouter()

EXTENSIONS = (
    ("os-attach-interfaces", "AttachInterfaces", "Attach and detach a server's ports."),
    ("os-availability-zone", "AvailabilityZone", "Availability zones."),
    ("os-console-output", "ConsoleOutput", "A server's console log."),
    ("os-consoles", "Consoles", "Interactive consoles."),
    ("os-extended-availability-zone", "ExtendedAvailabilityZone", "A server's zone."),
    ("os-flavor-access", "FlavorAccess", "Private flavors and their projects."),
    ("os-flavor-extra-specs", "FlavorExtraSpecs", "Flavors' extra specs."),
    ("os-flavor-manage", "FlavorManage", "Create and delete flavors."),
    ("os-floating-ip-pools", "FloatingIpPools", "Floating IP pools (proxy)."),
    ("os-floating-ips", "FloatingIps", "Floating IPs (proxy)."),
    ("os-hosts", "Hosts", "Hosts and their resources."),
    ("os-hypervisors", "Hypervisors", "Hypervisors and their usage."),
    ("os-keypairs", "Keypairs", "Key pairs."),
    ("os-lock-server", "LockServer", "Lock and unlock servers."),
    ("os-migrations", "Migrations", "Migrations (kumo has none)."),
    ("os-multiple-create", "MultipleCreate", "Several servers in one request."),
    ("os-networks", "Networks", "Networks (proxy)."),
    ("os-quota-sets", "Quotas", "Per-project quotas."),
    ("os-remote-consoles", "RemoteConsoles", "Serial console URLs."),
    ("os-security-groups", "SecurityGroups", "Security groups (proxy)."),
    ("os-server-groups", "ServerGroups", "Server groups."),
    ("os-server-start-stop", "ServerStartStop", "Start and stop servers."),
    ("os-services", "Services", "Compute services."),
    ("os-tenant-networks", "OSTenantNetworks", "Networks of a project (proxy)."),
    ("os-user-data", "UserData", "User data for servers."),
)


def _view(alias: str, name: str, description: str) -> dict[str, object]:
    return {
        "alias": alias,
        "name": name,
        "description": description,
        "namespace": "http://docs.openstack.org/compute/ext/fake_xml",
        "updated": "2014-12-03T00:00:00Z",
        "links": [],
    }


@router.get("/extensions")
def list_extensions(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    return json_response({"extensions": [_view(*e) for e in EXTENSIONS]})


@router.get("/extensions/{alias}")
def show_extension(
    alias: str, request: Request, ctx: RequestContext = Depends(authenticate)
) -> Response:
    for ext in EXTENSIONS:
        if ext[0] == alias:
            return json_response({"extension": _view(*ext)})
    raise NotFound("The resource could not be found.")


@router.get("/os-migrations")
def list_migrations(request: Request, ctx: RequestContext = Depends(authenticate)) -> Response:
    return json_response({"migrations": []})
