"""ComputeService: the facade the compute API calls.

Writes run in ``run_in_transaction``; reads open one session and render
views for the caller's microversion.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from kumo.compute import flavors
from kumo.compute.microversion import Version
from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.engine import Database
from kumo.db.uow import UnitOfWork, run_in_transaction
from kumo.network.service import NetworkService

T = TypeVar("T")


class ComputeService:
    def __init__(self, db: Database, settings: Settings, network: NetworkService) -> None:
        self.db = db
        self.settings = settings
        self.network = network

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

    def delete_flavor(self, ctx: RequestContext, flavor_id: str) -> None:
        self._write(lambda uow: flavors.remove(uow, ctx, flavor_id))

    def flavor_extra_specs(self, ctx: RequestContext, flavor_id: str) -> dict[str, str]:
        with self.db.read_session() as s:
            return dict(flavors.load(s, ctx, flavor_id).extra_specs or {})

    def set_flavor_extra_specs(
        self, ctx: RequestContext, flavor_id: str, specs: Any
    ) -> dict[str, str]:
        return self._write(lambda uow: flavors.set_extra_specs(uow, ctx, flavor_id, specs))

    def flavor_access(self, ctx: RequestContext, flavor_id: str) -> list[dict[str, str]]:
        with self.db.read_session() as s:
            return flavors.access_list(s, ctx, flavor_id)

    def add_flavor_access(
        self, ctx: RequestContext, flavor_id: str, project_id: str
    ) -> list[dict[str, str]]:
        self._write(lambda uow: flavors.add_access(uow, ctx, flavor_id, project_id))
        return self.flavor_access(ctx, flavor_id)
