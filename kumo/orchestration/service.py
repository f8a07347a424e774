"""OrchestrationService: the facade the orchestration API calls.

It checks the policy table, validates templates and parameters with the
caller's rights, writes the stack row and hands the operation to the
engine; reads render Heat's views. ``endpoint`` is the caller's
``.../orchestration/v1/{project_id}`` (links and signal URLs).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import yaml
from sqlalchemy import select

from kumo.context import RequestContext
from kumo.db.orchestration_models import Stack, StackEvent, StackResource
from kumo.db.uow import UnitOfWork, run_in_transaction
from kumo.errors import BadRequest, KumoError, NotFound, Unauthorized
from kumo.orchestration import delegation, graph, parameters, store, views
from kumo.orchestration import functions as fn
from kumo.orchestration import template as tpllib
from kumo.orchestration import versions as hot
from kumo.orchestration.engine import Engine
from kumo.orchestration.errors import (
    ActionInProgress,
    ResourceNotFound,
    StackExists,
    StackValidationFailed,
)
from kumo.orchestration.resources import registry
from kumo.orchestration.resources.base import DEFERRED
from kumo.orchestration.resources.heat import WaitConditionHandle
from kumo.orchestration.resources.lookup import ServiceLookups
from kumo.orchestration.run import Row, Run, StackInfo
from kumo.orchestration.software import SoftwareService
from kumo.policy import allowed, authorize, unrestricted

if TYPE_CHECKING:
    from kumo.runtime import Runtime

NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9_.-]{0,254}")
ACTIONS = ("suspend", "resume", "check", "cancel_update", "cancel_without_rollback")


def _needs(value: Any, params: set[str]) -> bool:
    """Whether ``value`` reads one of ``params`` (with get_param)."""
    if not params:
        return False
    for c in fn.calls(value):
        if c.fn == "get_param":
            first = c.args[0] if isinstance(c.args, list) and c.args else c.args
            if first in params:
                return True
    return False


class _ValidationScope:
    """Resolves what can be resolved before any resource exists."""

    def __init__(self, tpl: tpllib.Template, values: dict[str, Any], files: dict[str, Any]) -> None:
        self.tpl, self.values, self.files = tpl, values, files
        self.cache: dict[str, bool] = {}

    def param(self, name: str) -> Any:
        return self.values.get(name, "")

    def resource_ref(self, name: str) -> Any:
        return None

    def resource_attr(self, name: str, attr: str) -> Any:
        return None

    def condition(self, name: str) -> bool:
        if name not in self.cache:
            self.cache[name] = fn.condition_value(self.tpl.conditions[name], self, name)
        return self.cache[name]

    def file(self, name: str) -> str:
        if name not in self.files:
            raise StackValidationFailed(
                f'No content found in the "files" section for get_file path: {name}'
            )
        return str(self.files[name])


def _environment(raw: Any) -> dict[str, Any]:
    if raw in (None, ""):
        return {}
    if isinstance(raw, str):
        try:
            raw = yaml.safe_load(raw) or {}
        except yaml.YAMLError as e:
            raise StackValidationFailed(f"The environment is not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise StackValidationFailed("The environment must be a map")
    bad = sorted(set(raw) - {"parameters", "parameter_defaults", "resource_registry",
                              "event_sinks", "encrypted_param_names"})  # fmt: skip
    if bad:
        raise StackValidationFailed(f"The environment section is invalid: {bad[0]}")
    if raw.get("resource_registry"):
        raise StackValidationFailed("resource_registry in the environment is not supported")
    return raw


class OrchestrationService:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.db = rt.db
        s = rt.settings
        self.engine = Engine(rt, lease_seconds=s.stack_lease_seconds, workers=s.stack_workers)
        self.software = SoftwareService(rt.db)

    # -- validation ---------------------------------------------------------------------

    def _prepare(
        self,
        ctx: RequestContext,
        body: dict[str, Any],
        *,
        base: dict[str, Any] | None = None,
        validating: bool = False,
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], tpllib.Template]:
        """(template, given parameters, files, parsed) of a create, update or validate.
        ``base`` is what a PATCH update starts from (template, params, files)."""
        if body.get("template_url") and not body.get("template"):
            raise BadRequest("template_url is not supported: send the template itself")
        files = dict((base or {}).get("files") or {})
        files.update(body.get("files") or {})
        env = _environment(body.get("environment"))
        given = dict((base or {}).get("params") or {})
        for key in body.get("clear_parameters") or []:
            given.pop(key, None)
        given.update(env.get("parameter_defaults") or {})
        given.update(env.get("parameters") or {})
        given.update(body.get("parameters") or {})
        raw = body.get("template")
        if raw is None and base is not None:
            raw = base.get("template")
        if raw is None:
            raise StackValidationFailed("A template is required")
        doc = tpllib.load(raw)
        tpl = tpllib.parse(doc, registry.known)
        if not tpl.resources and not tpl.outputs and not tpl.parameters:
            pass
        given = {k: v for k, v in given.items() if k in tpl.parameters or base is None}
        values = parameters.values(tpl.parameters, given, ServiceLookups(self.rt, ctx),
                                   missing_ok=validating)  # fmt: skip
        self._check_resources(ctx, tpl, values, files)
        return doc, given, files, tpl

    def _check_resources(
        self,
        ctx: RequestContext,
        tpl: tpllib.Template,
        values: dict[str, Any],
        files: dict[str, Any],
    ) -> None:
        scope = _ValidationScope(tpl, values, files)
        missing = set(tpl.parameters) - set(values)  # validating without them
        for name, d in tpl.resources.items():
            cls = registry.TYPES[d.type]
            if cls.admin_only and not allowed(ctx, "compute:flavors:manage"):
                raise StackValidationFailed(
                    f"{d.type} is available to admins only", f"resources.{name}.type"
                )
            props = {k: fn.resolve(v, scope) if fn.is_static(v) and not _needs(v, missing)
                     else DEFERRED for k, v in d.properties.items()}  # fmt: skip
            cls.check_properties(props, f"resources.{name}.properties")
        for c in fn.calls([{n: d.properties for n, d in tpl.resources.items()},
                           {n: o.value for n, o in tpl.outputs.items()}]):  # fmt: skip
            if c.fn == "get_attr" and isinstance(c.args[1], str):
                target = registry.TYPES[tpl.resources[c.args[0]].type]
                attr = c.args[1]
                if not (target.any_attributes or attr in target.attrs or attr == "show"):
                    raise StackValidationFailed(
                        f"The Referenced Attribute ({c.args[0]} {attr}) is incorrect.", c.path
                    )

    def validate(self, ctx: RequestContext, project_id: str, body: Any) -> dict[str, Any]:
        authorize(ctx, "orchestration:validate", {"project_id": project_id})
        body = body if isinstance(body, dict) else {}
        _, _, _, tpl = self._prepare(
            ctx, {**body, "parameters": body.get("parameters") or {}}, validating=True
        )
        out: dict[str, Any] = {
            "Description": tpl.description,
            "Parameters": {n: p.view() for n, p in tpl.parameters.items()},
        }
        if tpl.parameter_groups:
            out["ParameterGroups"] = tpl.parameter_groups
        return out

    # -- stacks ---------------------------------------------------------------------------

    def _target(self, ctx: RequestContext, rule: str, project_id: str) -> None:
        authorize(ctx, rule, {"project_id": project_id})

    def _find(self, project_id: str, ident: str, *, deleted: bool = False) -> Stack:
        with self.db.read_session() as s:
            return store.find(s, project_id, ident, deleted=deleted)

    def create_stack(
        self, ctx: RequestContext, project_id: str, body: Any, endpoint: str
    ) -> dict[str, Any]:
        self._target(ctx, "orchestration:stacks:create", project_id)
        body = body if isinstance(body, dict) else {}
        name = body.get("stack_name")
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise StackValidationFailed(
                f"Invalid stack name {name!r}: must start with a letter and contain only "
                "letters, digits, '_', '-' and '.'"
            )
        doc, given, files, _ = self._prepare(ctx, body)
        fields = self._options(body)

        def work(uow: UnitOfWork) -> str:
            s = uow.session
            taken = s.scalars(select(Stack.id).where(Stack.project_id == project_id,
                                                     Stack.live_name == name)).first()  # fmt: skip
            if taken:
                raise StackExists(name)
            row = Stack(name=name, live_name=name, project_id=project_id, user_id=ctx.user_id,
                        username=ctx.user_name, template=doc, params=given, files=files,
                        environment=_environment(body.get("environment")),
                        action="CREATE", status="IN_PROGRESS",
                        status_reason="Stack CREATE started", **fields,
                        **self.engine.lease_fields())  # fmt: skip
            s.add(row)
            s.flush()
            store.event(s, row.id, name, "CREATE", "IN_PROGRESS", "Stack CREATE started",
                        row.id, "OS::Heat::Stack")  # fmt: skip
            store.stack_changed(uow, row)
            delegation.record(s, row.id, ctx)
            return row.id

        stack_id = run_in_transaction(self.db, work)
        self.engine.submit(stack_id)
        return {"id": stack_id, "links": [{"href": f"{endpoint}/stacks/{name}/{stack_id}",
                                           "rel": "self"}]}  # fmt: skip

    @staticmethod
    def _options(body: dict[str, Any], *, update: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "disable_rollback" in body or not update:
            out["disable_rollback"] = bool(body.get("disable_rollback", True))
        if body.get("timeout_mins") is not None:
            try:
                out["timeout_mins"] = int(body["timeout_mins"])
            except (TypeError, ValueError):
                raise BadRequest("timeout_mins must be an integer") from None
            if out["timeout_mins"] <= 0:
                raise BadRequest("timeout_mins must be positive")
        if "tags" in body and body["tags"] is not None:
            tags = body["tags"]
            tags = tags.split(",") if isinstance(tags, str) else tags
            if not isinstance(tags, list):
                raise BadRequest("tags must be a comma separated string or a list")
            out["tags"] = [str(t).strip() for t in tags if str(t).strip()]
        return out

    def preview_stack(
        self, ctx: RequestContext, project_id: str, body: Any, endpoint: str
    ) -> dict[str, Any]:
        self._target(ctx, "orchestration:stacks:create", project_id)
        body = body if isinstance(body, dict) else {}
        _, given, _, tpl = self._prepare(ctx, body)
        deps = graph.dependencies(tpl.resources)
        needed = graph.dependents(deps)
        resources = [
            {"resource_name": n, "resource_type": d.type, "required_by": sorted(needed[n]),
             "resource_action": "INIT", "resource_status": "COMPLETE",
             "resource_status_reason": "", "physical_resource_id": "",
             "stack_name": body.get("stack_name", ""), "description": ""}
            for n, d in tpl.resources.items()
        ]  # fmt: skip
        return {
            "stack_name": body.get("stack_name", ""),
            "description": tpl.description,
            "template_description": tpl.description,
            "parameters": {k: str(v) for k, v in given.items()},
            "resources": resources,
            "disable_rollback": bool(body.get("disable_rollback", True)),
            "timeout_mins": body.get("timeout_mins"),
            "links": [],
        }

    def list_stacks(
        self, ctx: RequestContext, project_id: str, query: dict[str, list[str]], endpoint: str
    ) -> list[dict[str, Any]]:
        self._target(ctx, "orchestration:stacks:get", project_id)
        with self.db.read_session() as s:
            q = select(Stack).where(Stack.deleted_at.is_(None))
            if query.get("global_tenant", ["false"])[0].lower() not in ("true", "1") or not (
                unrestricted(ctx, "orchestration:stacks:get")
            ):
                q = q.where(Stack.project_id == project_id)
            if query.get("show_nested", ["false"])[0].lower() not in ("true", "1"):
                q = q.where(Stack.parent_id.is_(None))
            rows = list(s.scalars(q.order_by(Stack.created_at.desc(), Stack.id)))
        rows = [r for r in rows if _matches(r, query)]
        if query.get("sort_dir", ["desc"])[0] == "asc":
            rows.reverse()
        marker = query.get("marker", [None])[0]
        if marker:
            ids = [r.id for r in rows]
            rows = rows[ids.index(marker) + 1 :] if marker in ids else rows
        limit = query.get("limit", [None])[0]
        if limit:
            rows = rows[: int(limit)]
        return [views.stack_brief(r, endpoint) for r in rows]

    def lookup(self, ctx: RequestContext, project_id: str, ident: str) -> Stack:
        """``GET /stacks/{name}``: the stack to redirect to."""
        self._target(ctx, "orchestration:stacks:get", project_id)
        return self._find(project_id, ident)

    def show_stack(
        self,
        ctx: RequestContext,
        project_id: str,
        name: str,
        stack_id: str,
        endpoint: str,
        *,
        resolve_outputs: bool = True,
    ) -> dict[str, Any]:
        self._target(ctx, "orchestration:stacks:get", project_id)
        row = self._named(project_id, name, stack_id, deleted=True)
        out = views.stack_brief(row, endpoint)
        tpl = tpllib.parse(row.template, registry.known)
        given = dict(row.params or {})
        shown: dict[str, Any] = {}
        for n, p in tpl.parameters.items():
            value = given.get(n, p.default if p.has_default else "")
            shown[n] = "******" if p.hidden else _param_text(value)
        shown.update({"OS::stack_id": row.id, "OS::stack_name": row.name,
                      "OS::project_id": row.project_id})  # fmt: skip
        out.update(
            parameters=shown,
            disable_rollback=row.disable_rollback,
            timeout_mins=row.timeout_mins,
            notification_topics=[],
            capabilities=[],
            template_description=tpl.description,
        )
        if resolve_outputs and row.deleted_at is None:
            out["outputs"] = self._run(ctx, row).outputs()
        return out

    def _named(self, project_id: str, name: str, stack_id: str, *, deleted: bool = False) -> Stack:
        row = self._find(project_id, stack_id, deleted=deleted)
        if row.name != name:
            raise NotFound(f"The Stack ({name}/{stack_id}) could not be found.",
                           kind="EntityNotFound")  # fmt: skip
        return row

    def _run(self, ctx: RequestContext, row: Stack) -> Run:
        return Run(self.engine, StackInfo.of(row), ctx)

    def update_stack(
        self,
        ctx: RequestContext,
        project_id: str,
        ident: str,
        body: Any,
        *,
        patch: bool,
    ) -> None:
        self._target(ctx, "orchestration:stacks:update", project_id)
        row = self._find(project_id, ident)
        body = body if isinstance(body, dict) else {}
        if row.parent_id:
            raise BadRequest("A nested stack is updated through its parent.")
        base = {"template": row.template, "params": row.params, "files": row.files}
        doc, given, files, _ = self._prepare(ctx, body, base=base if patch else None)
        fields = self._options(body, update=True)
        self.engine.begin_update(row.id, doc, given, files, **fields)
        self.engine.submit(row.id)

    def delete_stack(self, ctx: RequestContext, project_id: str, ident: str) -> None:
        self._target(ctx, "orchestration:stacks:delete", project_id)
        row = self._find(project_id, ident)
        if row.parent_id:
            raise BadRequest("A nested stack is deleted through its parent.")
        self.engine.begin_delete(row.id)
        self.engine.submit(row.id, fallback=ctx)

    def stack_action(self, ctx: RequestContext, project_id: str, ident: str, body: Any) -> None:
        self._target(ctx, "orchestration:stacks:action", project_id)
        row = self._find(project_id, ident)
        if not isinstance(body, dict) or len(body) != 1 or next(iter(body)) not in ACTIONS:
            raise BadRequest(f"Invalid action: the body is one of {', '.join(ACTIONS)}")
        action = next(iter(body))
        if action.startswith("cancel"):
            if (row.action, row.status) != ("UPDATE", "IN_PROGRESS"):
                raise ActionInProgress(
                    f"Cancelling update when stack is {row.action}_{row.status}",
                    kind="NotSupported",
                )

            def cancel(uow: UnitOfWork) -> None:
                r = uow.session.get(Stack, row.id)
                assert r is not None
                r.cancel_requested = True
                if action == "cancel_without_rollback":
                    r.disable_rollback = True

            run_in_transaction(self.db, cancel)
            return
        self.engine.begin_action(row.id, action.upper())
        self.engine.submit(row.id)

    def stack_template(self, ctx: RequestContext, project_id: str, name: str, sid: str) -> Any:
        self._target(ctx, "orchestration:stacks:get", project_id)
        return self._named(project_id, name, sid, deleted=True).template

    def stack_environment(self, ctx: RequestContext, project_id: str, name: str, sid: str) -> Any:
        self._target(ctx, "orchestration:stacks:get", project_id)
        row = self._named(project_id, name, sid, deleted=True)
        env = dict(row.environment or {})
        return {"parameters": env.get("parameters", {}), "resource_registry": {},
                "parameter_defaults": env.get("parameter_defaults", {}),
                "encrypted_param_names": [], "event_sinks": []}  # fmt: skip

    def stack_files(self, ctx: RequestContext, project_id: str, name: str, sid: str) -> Any:
        self._target(ctx, "orchestration:stacks:get", project_id)
        return self._named(project_id, name, sid, deleted=True).files

    # -- outputs ----------------------------------------------------------------------------

    def outputs(
        self, ctx: RequestContext, project_id: str, name: str, sid: str
    ) -> list[dict[str, Any]]:
        self._target(ctx, "orchestration:stacks:get", project_id)
        return self._run(ctx, self._named(project_id, name, sid)).outputs()

    def output(
        self, ctx: RequestContext, project_id: str, name: str, sid: str, key: str
    ) -> dict[str, Any]:
        for o in self.outputs(ctx, project_id, name, sid):
            if o["output_key"] == key:
                return o
        raise NotFound(f"Specified output key {key} not found.", kind="NotFound")

    # -- resources --------------------------------------------------------------------------

    def list_resources(
        self, ctx: RequestContext, project_id: str, name: str, sid: str, endpoint: str,
        query: dict[str, list[str]],
    ) -> list[dict[str, Any]]:  # fmt: skip
        self._target(ctx, "orchestration:stacks:get", project_id)
        row = self._named(project_id, name, sid)
        depth = int(query.get("nested_depth", ["0"])[0] or 0)
        return self._resources(row, endpoint, depth, query)

    def _resources(
        self, row: Stack, endpoint: str, depth: int, query: dict[str, list[str]]
    ) -> list[dict[str, Any]]:
        tpl = tpllib.parse(row.template, registry.known)
        needed = graph.dependents(graph.dependencies(tpl.resources))
        with self.db.read_session() as s:
            rows = store.resources(s, row.id)
            rows += store.not_reached(row, tpl.resources, {r.name for r in rows})
            children = [] if depth <= 0 else list(s.scalars(
                select(Stack).where(Stack.parent_id == row.id, Stack.deleted_at.is_(None))))  # fmt: skip
        out = []
        for r in rows:
            view = views.resource_view(r, row, endpoint, sorted(needed.get(r.name, set())))
            if all(_filter(view, k, v) for k, v in query.items()):
                out.append(view)
        for child in children:
            for v in self._resources(child, endpoint, depth - 1, query):
                v["parent_resource"] = child.parent_resource
                out.append(v)
        return out

    def show_resource(
        self, ctx: RequestContext, project_id: str, name: str, sid: str, resource: str,
        endpoint: str, with_attr: list[str],
    ) -> dict[str, Any]:  # fmt: skip
        self._target(ctx, "orchestration:stacks:get", project_id)
        row = self._named(project_id, name, sid)
        with self.db.read_session() as s:
            res = s.scalars(select(StackResource).where(
                StackResource.stack_id == row.id, StackResource.name == resource,
                StackResource.current.is_(True))).first()  # fmt: skip
        tpl = tpllib.parse(row.template, registry.known)
        if res is None:
            res = next(iter(store.not_reached(row, tpl.resources, set(), only=resource)), None)
        if res is None:
            raise ResourceNotFound(resource, name)
        needed = graph.dependents(graph.dependencies(tpl.resources))
        view = views.resource_view(res, row, endpoint, sorted(needed.get(res.name, set())))
        run = self._run(ctx, row)
        cls = registry.TYPES[res.type]
        attrs: dict[str, Any] = {}
        for attr in [*(a for a in cls.attrs if "<" not in a), *with_attr]:
            try:
                attrs[attr] = run.resource_attr(res.name, attr)
            except KumoError:
                attrs[attr] = None
        view["attributes"] = attrs
        view["metadata"] = {}
        return view

    def signal(
        self,
        ctx: RequestContext,
        project_id: str,
        name: str,
        sid: str,
        resource: str,
        details: Any,
    ) -> None:
        """``openstack stack resource signal``: a project member signals a resource."""
        self._target(ctx, "orchestration:resources:signal", project_id)
        row = self._named(project_id, name, sid)
        self._signal(ctx, row, lambda r: r.name == resource, details, resource)

    def signal_handle(self, project_id: str, handle_id: str, token: str, details: Any) -> None:
        """A signal from an instance, with the wait condition handle's own token."""
        with self.db.read_session() as s:
            res = s.scalars(select(StackResource).where(
                StackResource.physical_id == handle_id,
                StackResource.type == WaitConditionHandle.type_name)).first()  # fmt: skip
            row = s.get(Stack, res.stack_id) if res is not None else None
        if res is None or row is None or row.project_id != project_id or row.deleted_at:
            raise NotFound(f"The wait condition handle ({handle_id}) could not be found.",
                           kind="EntityNotFound")  # fmt: skip
        if not token or not WaitConditionHandle.token_matches(res.data or {}, token):
            raise Unauthorized("The request you have made requires authentication.")
        self._signal(_nobody(project_id), row, lambda r: r.id == res.id, details, res.name)

    def _signal(
        self,
        ctx: RequestContext,
        row: Stack,
        which: Any,
        details: Any,
        label: str,
    ) -> None:
        if row.action == "DELETE":
            raise ActionInProgress("The stack is being deleted.")
        run = self._run(ctx, row)

        def work(uow: UnitOfWork) -> None:
            found = [r for r in uow.session.scalars(select(StackResource).where(
                StackResource.stack_id == row.id, StackResource.current.is_(True))
                .with_for_update()) if which(r)]  # fmt: skip
            if not found:
                raise ResourceNotFound(label, row.name)
            res = found[0]
            env = run.env(Row.of(res))
            registry.plugin(res.type).signal(env, details)
            res.data = dict(env.data)
            store.event(uow.session, row.id, res.name, "SIGNAL", "COMPLETE",
                        f"Signal: {_signal_reason(details)}", res.physical_id, res.type)  # fmt: skip

        run_in_transaction(self.db, work)

    # -- events -----------------------------------------------------------------------------

    def list_events(
        self, ctx: RequestContext, project_id: str, ident: str, endpoint: str,
        query: dict[str, list[str]], *, name: str | None = None, resource: str | None = None,
    ) -> list[dict[str, Any]]:  # fmt: skip
        self._target(ctx, "orchestration:stacks:get", project_id)
        row = self._named(project_id, name, ident) if name else self._find(project_id, ident)
        with self.db.read_session() as s:
            q = select(StackEvent).where(StackEvent.stack_id == row.id)
            if resource:
                q = q.where(StackEvent.resource_name == resource)
            events = list(s.scalars(q.order_by(StackEvent.seq)))
        if resource and not events:
            raise ResourceNotFound(resource, row.name)
        views_ = [views.event_view(e, row, endpoint) for e in events]
        views_ = [v for v in views_
                  if all(_filter(v, k, vals) for k, vals in query.items())]  # fmt: skip
        if query.get("sort_dir", ["asc"])[0] == "desc":
            views_.reverse()
        marker = query.get("marker", [None])[0]
        if marker:
            ids = [v["id"] for v in views_]
            views_ = views_[ids.index(marker) + 1 :] if marker in ids else views_
        limit = query.get("limit", [None])[0]
        if limit:
            views_ = views_[: int(limit)]
        return views_

    def show_event(
        self, ctx: RequestContext, project_id: str, name: str, sid: str, resource: str,
        event_id: str, endpoint: str,
    ) -> dict[str, Any]:  # fmt: skip
        for e in self.list_events(ctx, project_id, sid, endpoint, {}, name=name, resource=resource):
            if e["id"] == event_id:
                return e
        raise NotFound(f"The Event ({event_id}) could not be found.", kind="EntityNotFound")

    # -- resource types and template versions ------------------------------------------------

    def resource_types(self, ctx: RequestContext, project_id: str) -> list[str]:
        self._target(ctx, "orchestration:resource_types", project_id)
        return sorted(registry.TYPES)

    def resource_type(self, ctx: RequestContext, project_id: str, name: str) -> dict[str, Any]:
        self._target(ctx, "orchestration:resource_types", project_id)
        if name not in registry.TYPES:
            raise NotFound(f"The Resource Type ({name}) could not be found.",
                           kind="EntityNotFound")  # fmt: skip
        return registry.TYPES[name].schema_view()

    def mark_unhealthy(
        self, ctx: RequestContext, project_id: str, name: str, sid: str, resource: str, body: Any
    ) -> None:
        """Heat's ``mark_unhealthy``: a resource is CHECK_FAILED (the next update
        replaces it) or, marked healthy again, CHECK_COMPLETE."""
        self._target(ctx, "orchestration:stacks:action", project_id)
        if not isinstance(body, dict) or not isinstance(body.get("mark_unhealthy"), bool):
            raise BadRequest("mark_unhealthy (a boolean) is required.")
        extra = set(body) - {"mark_unhealthy", "resource_status_reason"}
        if extra:
            raise BadRequest(f"Unexpected key(s) {', '.join(sorted(extra))}.")
        reason = body.get("resource_status_reason") or ""
        if not isinstance(reason, str):
            raise BadRequest("resource_status_reason must be a string.")
        row = self._named(project_id, name, sid)
        if row.status == "IN_PROGRESS":
            raise ActionInProgress(f"Stack {row.name} is in progress ({row.action}_{row.status}).")
        status = "FAILED" if body["mark_unhealthy"] else "COMPLETE"

        def work(uow: UnitOfWork) -> None:
            res = uow.session.scalars(select(StackResource).where(
                StackResource.stack_id == row.id, StackResource.name == resource,
                StackResource.current.is_(True))).first()  # fmt: skip
            if res is None:
                raise ResourceNotFound(resource, name)
            res.action, res.status, res.status_reason = "CHECK", status, reason
            store.event(uow.session, row.id, resource, "CHECK", status, reason,
                        res.physical_id, res.type)  # fmt: skip

        run_in_transaction(self.db, work)

    def resource_type_template(self, ctx: RequestContext, project_id: str, name: str) -> Any:
        """A HOT template that makes one resource of the type: a parameter per
        property, an output per attribute (Heat's ``resource_types/X/template``)."""
        schema = self.resource_type(ctx, project_id, name)
        short = name.rsplit("::", 1)[-1]
        kinds = {"integer": "number", "map": "json", "list": "comma_delimited_list",
                 "any": "json"}  # fmt: skip
        params = {}
        for prop, view in schema["properties"].items():
            param: dict[str, Any] = {"type": kinds.get(view["type"], view["type"]),
                                     "description": view["description"]}  # fmt: skip
            if "default" in view:
                param["default"] = view["default"]
            params[prop] = param
        return {
            "heat_template_version": "2016-10-14",
            "description": f"Initial template of {short}",
            "parameters": params,
            "resources": {short: {"type": name, "properties": {
                p: {"get_param": p} for p in schema["properties"]}}},
            "outputs": {a: {"description": v["description"],
                            "value": {"get_attr": [short, a]}}
                        for a, v in schema["attributes"].items()},
        }  # fmt: skip

    def template_functions(self, ctx: RequestContext, project_id: str, version: str) -> Any:
        """The intrinsic functions of a HOT version (``heat_template_version.DATE``)."""
        self._target(ctx, "orchestration:resource_types", project_id)
        kind, _, date = version.partition(".")
        found = hot.lookup(date) if kind == "heat_template_version" else None
        if found is None:
            raise NotFound(f"The template version ({version}) could not be found.",
                           kind="EntityNotFound")  # fmt: skip
        return [{"functions": f, "description": f"The {f} intrinsic function"}
                for f in sorted(found.functions)]  # fmt: skip


def _nobody(project_id: str) -> RequestContext:
    """The context of a signal made with a handle's token: no roles, no rights."""
    return RequestContext(user_id="", project_id=project_id, roles=frozenset())


def _signal_reason(details: Any) -> str:
    if isinstance(details, dict):
        return str(details.get("reason") or details.get("status") or "Signal")
    return "Signal"


def _param_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        import json

        return json.dumps(value)
    return str(value)


def _matches(row: Stack, query: dict[str, list[str]]) -> bool:
    tags = set(row.tags or [])
    for key, vals in query.items():
        if key in ("name", "stack_name") and row.name not in vals:
            return False
        if key == "id" and row.id not in vals:
            return False
        if key in ("status", "stack_status") and not (
            {f"{row.action}_{row.status}", row.status} & set(vals)
        ):
            return False
        if key == "action" and row.action not in vals:
            return False
        if key == "tags" and not set(",".join(vals).split(",")) <= tags:
            return False
        if key == "tags_any" and not set(",".join(vals).split(",")) & tags:
            return False
        if key == "not_tags" and set(",".join(vals).split(",")) <= tags:
            return False
        if key == "not_tags_any" and set(",".join(vals).split(",")) & tags:
            return False
    return True


EVENT_FILTERS = {"resource_action", "resource_status", "resource_name", "resource_type"}
RESOURCE_FILTERS = {"name": "resource_name", "type": "resource_type", "status": "resource_status",
                    "action": "resource_action", "id": "physical_resource_id"}  # fmt: skip


def _filter(view: dict[str, Any], key: str, vals: list[str]) -> bool:
    field = key if key in EVENT_FILTERS else RESOURCE_FILTERS.get(key)
    if field is None:
        return True
    value = str(view.get(field, ""))
    if field == "resource_status" and "resource_action" in view:
        return value in vals or value.split("_", 1)[-1] in vals
    return value in vals
