"""Software configs and deployments (Heat's ``/software_configs`` and
``/software_deployments``): what a server's configuration agent runs, and
each config deployed to a server with its inputs, status and outputs.

The API and the OS::Heat::SoftwareConfig, StructuredConfig and
SoftwareDeployment resources both come here, with the caller's context
(a stack's delegated one for the resources). Rows belong to a project; a
config is immutable once made, as in Heat. ``metadata`` is what a server's
agent polls: the configs deployed to it with their input values.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.engine import Database
from kumo.db.orchestration_models import SoftwareConfig, SoftwareDeployment
from kumo.db.uow import UnitOfWork, run_in_transaction
from kumo.errors import BadRequest, NotFound
from kumo.orchestration.views import ts
from kumo.policy import authorize

UNGROUPED = "Heat::Ungrouped"
CONFIG_KEYS = {"name", "group", "config", "inputs", "outputs", "options"}
DEPLOYMENT_KEYS = {"config_id", "server_id", "action", "status", "status_reason",
                   "input_values", "output_values", "stack_user_project_id"}  # fmt: skip


def _io(items: Any, what: str, extra: dict[str, Any]) -> list[dict[str, Any]]:
    """Inputs or outputs with Heat's defaults (``type: String`` ...); each needs a name."""
    if items is None:
        return []
    if not isinstance(items, list) or not all(
        isinstance(i, dict) and isinstance(i.get("name"), str) for i in items
    ):
        raise BadRequest(f"Invalid {what}: a list of maps, each with a name, is expected")
    return [{"type": "String", **extra, **i} for i in items]


def config_view(row: SoftwareConfig, *, brief: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"id": row.id, "name": row.name, "group": row.group,
                           "creation_time": ts(row.created_at)}  # fmt: skip
    if brief:
        return out
    out.update(config=row.config, inputs=list(row.inputs or []),
               outputs=list(row.outputs or []), options=dict(row.options or {}),
               project=row.project_id)  # fmt: skip
    return out


def deployment_view(row: SoftwareDeployment) -> dict[str, Any]:
    return {
        "id": row.id,
        "config_id": row.config_id,
        "server_id": row.server_id,
        "input_values": dict(row.input_values or {}),
        "output_values": dict(row.output_values or {}),
        "action": row.action,
        "status": row.status,
        "status_reason": row.status_reason,
        "creation_time": ts(row.created_at),
        "updated_time": ts(row.updated_at),
    }


def _map(body: Any, key: str) -> dict[str, Any]:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"{key} must be a map")
    return value


def _text(body: dict[str, Any], key: str, default: str) -> str:
    value = body.get(key, default)
    if value is None:
        return default
    if not isinstance(value, str):
        raise BadRequest(f"{key} must be a string")
    return value


class SoftwareService:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- configs -----------------------------------------------------------------------

    def create_config(self, ctx: RequestContext, project_id: str, body: Any) -> dict[str, Any]:
        authorize(ctx, "orchestration:software_configs:manage", {"project_id": project_id})
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a map")
        unknown = sorted(set(body) - CONFIG_KEYS)
        if unknown:
            raise BadRequest(f"Unknown software config attribute {unknown[0]}")
        options = _map(body, "options")
        row = SoftwareConfig(
            project_id=project_id,
            name=_text(body, "name", ""),
            group=_text(body, "group", UNGROUPED) or UNGROUPED,
            config=body.get("config"),
            inputs=_io(body.get("inputs"), "inputs", {"replace_on_change": False}),
            outputs=_io(body.get("outputs"), "outputs", {"error_output": False}),
            options=options,
        )

        def work(uow: UnitOfWork) -> dict[str, Any]:
            uow.session.add(row)
            uow.session.flush()
            return config_view(row)

        return run_in_transaction(self.db, work)

    def _config(self, s: Session, project_id: str, config_id: str) -> SoftwareConfig:
        row = s.get(SoftwareConfig, config_id)
        if row is None or row.project_id != project_id:
            raise NotFound(f"Software config with id {config_id} not found", kind="NotFound")
        return row

    def show_config(self, ctx: RequestContext, project_id: str, config_id: str) -> dict[str, Any]:
        authorize(ctx, "orchestration:software_configs:get", {"project_id": project_id})
        with self.db.read_session() as s:
            return config_view(self._config(s, project_id, config_id))

    def list_configs(
        self, ctx: RequestContext, project_id: str, query: dict[str, list[str]]
    ) -> list[dict[str, Any]]:
        authorize(ctx, "orchestration:software_configs:get", {"project_id": project_id})
        q = select(SoftwareConfig).where(SoftwareConfig.project_id == project_id)
        q = q.order_by(SoftwareConfig.created_at, SoftwareConfig.id)
        with self.db.read_session() as s:
            rows = list(s.scalars(q))
        marker = next(iter(query.get("marker") or []), None)
        if marker:
            ids = [r.id for r in rows]
            if marker not in ids:
                raise NotFound(f"Software config with id {marker} not found", kind="NotFound")
            rows = rows[ids.index(marker) + 1 :]
        limit = next(iter(query.get("limit") or []), None)
        if limit is not None:
            try:
                rows = rows[: max(0, int(limit))]
            except ValueError:
                raise BadRequest("limit must be an integer") from None
        return [config_view(r, brief=True) for r in rows]

    def delete_config(self, ctx: RequestContext, project_id: str, config_id: str) -> None:
        authorize(ctx, "orchestration:software_configs:manage", {"project_id": project_id})

        def work(uow: UnitOfWork) -> None:
            uow.session.delete(self._config(uow.session, project_id, config_id))

        run_in_transaction(self.db, work)

    # -- deployments -------------------------------------------------------------------

    def _deployment(self, s: Session, project_id: str, ident: str) -> SoftwareDeployment:
        row = s.get(SoftwareDeployment, ident)
        if row is None or row.project_id != project_id:
            raise NotFound(f"Deployment with id {ident} not found", kind="NotFound")
        return row

    def create_deployment(self, ctx: RequestContext, project_id: str, body: Any) -> dict[str, Any]:
        authorize(ctx, "orchestration:software_deployments:manage", {"project_id": project_id})
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a map")
        unknown = sorted(set(body) - DEPLOYMENT_KEYS)
        if unknown:
            raise BadRequest(f"Unknown software deployment attribute {unknown[0]}")
        for key in ("config_id", "server_id"):
            if not isinstance(body.get(key), str) or not body[key]:
                raise BadRequest(f"{key} is required")

        def work(uow: UnitOfWork) -> dict[str, Any]:
            self._config(uow.session, project_id, body["config_id"])
            row = SoftwareDeployment(
                project_id=project_id,
                config_id=body["config_id"],
                server_id=body["server_id"],
                action=_text(body, "action", "INIT"),
                status=_text(body, "status", "COMPLETE"),
                status_reason=_text(body, "status_reason", ""),
                input_values=_map(body, "input_values"),
                output_values=_map(body, "output_values"),
            )
            uow.session.add(row)
            uow.session.flush()
            return deployment_view(row)

        return run_in_transaction(self.db, work)

    def show_deployment(self, ctx: RequestContext, project_id: str, ident: str) -> dict[str, Any]:
        authorize(ctx, "orchestration:software_deployments:get", {"project_id": project_id})
        with self.db.read_session() as s:
            return deployment_view(self._deployment(s, project_id, ident))

    def list_deployments(
        self, ctx: RequestContext, project_id: str, query: dict[str, list[str]]
    ) -> list[dict[str, Any]]:
        authorize(ctx, "orchestration:software_deployments:get", {"project_id": project_id})
        q = select(SoftwareDeployment).where(SoftwareDeployment.project_id == project_id)
        server = next(iter(query.get("server_id") or []), None)
        if server:
            q = q.where(SoftwareDeployment.server_id == server)
        with self.db.read_session() as s:
            rows = s.scalars(q.order_by(SoftwareDeployment.created_at, SoftwareDeployment.id))
            return [deployment_view(r) for r in rows]

    def update_deployment(
        self, ctx: RequestContext, project_id: str, ident: str, body: Any
    ) -> dict[str, Any]:
        """The agent's report (status, reason, outputs), or a new config or inputs."""
        authorize(ctx, "orchestration:software_deployments:manage", {"project_id": project_id})
        if not isinstance(body, dict):
            raise BadRequest("The request body must be a map")
        unknown = sorted(set(body) - DEPLOYMENT_KEYS - {"updated_time"})
        if unknown:
            raise BadRequest(f"Unknown software deployment attribute {unknown[0]}")

        def work(uow: UnitOfWork) -> dict[str, Any]:
            row = self._deployment(uow.session, project_id, ident)
            if body.get("config_id"):
                self._config(uow.session, project_id, str(body["config_id"]))
                row.config_id = str(body["config_id"])
            for key in ("action", "status", "status_reason"):
                if body.get(key) is not None:
                    setattr(row, key, _text(body, key, ""))
            for key in ("input_values", "output_values"):
                if key in body:
                    setattr(row, key, _map(body, key))
            row.updated_at = utcnow()
            return deployment_view(row)

        return run_in_transaction(self.db, work)

    def delete_deployment(self, ctx: RequestContext, project_id: str, ident: str) -> None:
        authorize(ctx, "orchestration:software_deployments:manage", {"project_id": project_id})

        def work(uow: UnitOfWork) -> None:
            uow.session.delete(self._deployment(uow.session, project_id, ident))

        run_in_transaction(self.db, work)

    def metadata(
        self, ctx: RequestContext, project_id: str, server_id: str
    ) -> list[dict[str, Any]]:
        """The configs deployed to ``server_id``, each with its inputs' values, ordered
        by config name then creation (the order a server's agent applies them in)."""
        authorize(ctx, "orchestration:software_deployments:get", {"project_id": project_id})
        with self.db.read_session() as s:
            deps = list(s.scalars(select(SoftwareDeployment).where(
                SoftwareDeployment.project_id == project_id,
                SoftwareDeployment.server_id == server_id,
            ).order_by(SoftwareDeployment.created_at, SoftwareDeployment.id)))  # fmt: skip
            items = []
            for d in deps:
                config = s.get(SoftwareConfig, d.config_id)
                if config is None:
                    continue
                view = config_view(config)
                values = d.input_values or {}
                view["inputs"] = [{**i, "value": values[i["name"]]} if i["name"] in values
                                  else dict(i) for i in view["inputs"]]  # fmt: skip
                view.update(deployment_id=d.id, updated_time=ts(d.updated_at))
                items.append(view)
        return sorted(items, key=lambda v: (v["name"] or "", v["creation_time"] or ""))
