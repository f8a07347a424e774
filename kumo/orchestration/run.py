"""One operation on one stack: the resources' rows in memory, the scope functions
resolve against, and the steps (create, update, replace, delete) that change
a resource and write each change (and its event) to the database at once.

A step's IN_PROGRESS state is written with its outcome, in one
transaction, unless the step waits first (``Env.wait`` writes it before the
first sleep, and a plugin's ``Env.save`` writes it when the physical id
exists): most steps are one call to a service, and writing each state on
its own doubled the engine's write transactions, which SQLite runs one at a
time (measured in docs/PERFORMANCE.md). The events keep their own times.

A ``Run`` never writes once its engine is halted (a dead process writes
nothing either): every write goes through ``_write``, which raises
``Halted`` instead.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from kumo.context import RequestContext
from kumo.db.base import new_uuid, utcnow
from kumo.db.orchestration_models import Stack, StackResource
from kumo.db.uow import UnitOfWork, run_in_transaction
from kumo.errors import KumoError
from kumo.orchestration import diff, graph, parameters, store
from kumo.orchestration import functions as fn
from kumo.orchestration import template as tpllib
from kumo.orchestration.errors import ResourceFailure, StackValidationFailed
from kumo.orchestration.resources import registry
from kumo.orchestration.resources.base import HALTED, Env, Halted, Plugin

if TYPE_CHECKING:
    from kumo.orchestration.engine import Engine

log = logging.getLogger(__name__)
DEFAULT_TIMEOUT_MINS = 60


@dataclass
class Row:
    id: str
    name: str
    type: str
    physical_id: str | None
    props: dict[str, Any]
    data: dict[str, Any]
    action: str
    status: str
    reason: str = ""
    current: bool = True
    persisted: bool = True
    """False while a new resource's row exists only here (see ``_start``)."""
    pending: list[tuple[str, str, str, dt.datetime]] = field(default_factory=list)
    """Events (action, status, reason, time) not written yet: they go with the next write."""

    @classmethod
    def of(cls, r: StackResource) -> Row:
        return cls(r.id, r.name, r.type, r.physical_id, dict(r.properties or {}),
                   dict(r.data or {}), r.action, r.status, r.status_reason, r.current)  # fmt: skip


@dataclass
class StackInfo:
    id: str
    name: str
    project_id: str
    template: dict[str, Any]
    params: dict[str, Any]
    files: dict[str, Any]
    timeout_mins: int | None
    disable_rollback: bool
    previous: dict[str, Any] = field(default_factory=dict)
    parent_id: str | None = None

    @classmethod
    def of(cls, s: Stack) -> StackInfo:
        return cls(s.id, s.name, s.project_id, dict(s.template or {}), dict(s.params or {}),
                   dict(s.files or {}), s.timeout_mins, s.disable_rollback,
                   dict(s.previous or {}), s.parent_id)  # fmt: skip


def failure_reason(action: str, name: str, exc: BaseException) -> str:
    message = exc.message if isinstance(exc, KumoError) else str(exc)
    return f"{type(exc).__name__}: resources.{name}: {message}"


class Run:
    def __init__(
        self,
        engine: Engine,
        info: StackInfo,
        ctx: RequestContext,
        *,
        template: dict[str, Any] | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        self.engine = engine
        self.rt = engine.rt
        self.info = info
        self.ctx = ctx
        self.files = info.files
        self.tpl = tpllib.parse(template if template is not None else info.template,
                                registry.known)  # fmt: skip
        given = params if params is not None else info.params
        self.params = parameters.values(self.tpl.parameters, given, None)
        self.deadline = time.monotonic() + 60 * (info.timeout_mins or DEFAULT_TIMEOUT_MINS)
        self.lock = threading.Lock()
        self.rows: dict[str, Row] = {}
        self.replaced: list[Row] = []
        self._conditions: dict[str, bool] = {}
        self._cancel_checked = 0.0
        self._cancelled = False
        self.sibling_failed = False
        with self.rt.db.read_session() as s:
            for r in store.resources(s, info.id, current_only=False):
                if r.current:
                    self.rows[r.name] = Row.of(r)
                else:
                    self.replaced.append(Row.of(r))

    # -- the scope of intrinsic functions -------------------------------------------

    def param(self, name: str) -> Any:
        pseudo = {"OS::stack_name": self.info.name, "OS::stack_id": self.info.id,
                  "OS::project_id": self.info.project_id}  # fmt: skip
        if name in pseudo:
            return pseudo[name]
        if name not in self.params:
            raise StackValidationFailed(f"The Parameter ({name}) was not defined in template")
        return self.params[name]

    def _row(self, name: str) -> Row | None:
        with self.lock:
            return self.rows.get(name)

    def resource_ref(self, name: str) -> Any:
        row = self._row(name)
        if row is None:
            return None
        return registry.plugin(row.type).reference(self.env(row))

    def resource_attr(self, name: str, attr: str) -> Any:
        row = self._row(name)
        rtype = row.type if row else self.tpl.resources[name].type
        cls = registry.TYPES[rtype]
        if not (cls.any_attributes or attr in cls.attrs or attr == "show"):
            raise StackValidationFailed(f"The Referenced Attribute ({name} {attr}) is incorrect.")
        if row is None:
            return None
        return cls().attribute(self.env(row), row.props, attr)

    def condition(self, name: str) -> bool:
        if name not in self._conditions:
            if name not in self.tpl.conditions:
                raise StackValidationFailed(f'Invalid condition "{name}"')
            self._conditions[name] = fn.condition_value(
                self.tpl.conditions[name], self, f"conditions.{name}"
            )
        return self._conditions[name]

    def file(self, name: str) -> str:
        if name not in self.files:
            raise StackValidationFailed(
                f'No content found in the "files" section for get_file path: {name}'
            )
        return str(self.files[name])

    def enabled(self) -> list[str]:
        out = []
        for name, d in self.tpl.resources.items():
            if d.condition is None or fn.condition_value(
                d.condition, self, f"resources.{name}.condition"
            ):
                out.append(name)
        return out

    def outputs(self) -> list[dict[str, Any]]:
        out = []
        for name, o in self.tpl.outputs.items():
            item: dict[str, Any] = {"output_key": name, "description": o.description}
            try:
                on = o.condition is None or fn.condition_value(o.condition, self, name)
                item["output_value"] = fn.resolve(o.value, self) if on else None
            except (KumoError, ResourceFailure) as e:
                item["output_value"] = None
                item["output_error"] = e.message if isinstance(e, KumoError) else str(e)
            out.append(item)
        return out

    # -- environment for plugins ----------------------------------------------------

    def stop_reason(self) -> str:
        if self.engine.halted:
            return HALTED
        if self.sibling_failed:
            return "Cancelled: another resource of the stack failed"
        now = time.monotonic()
        if not self._cancelled and now - self._cancel_checked > 1.0:
            self._cancel_checked = now
            with self.rt.db.read_session() as s:
                row = s.get(Stack, self.info.id)
                self._cancelled = bool(row and row.cancel_requested)
        return "Stack UPDATE cancelled" if self._cancelled else ""

    def peer(self, physical_id: str) -> dict[str, Any] | None:
        with self.rt.db.read_session() as s:
            r = s.scalars(
                select(StackResource).where(
                    StackResource.stack_id == self.info.id,
                    StackResource.physical_id == physical_id,
                )
            ).first()
            return dict(r.data or {}) if r is not None else None

    def env(self, row: Row) -> Env:
        env = Env(
            rt=self.rt,
            ctx=self.ctx,
            stack_id=self.info.id,
            stack_name=self.info.name,
            name=row.name,
            physical_id=row.physical_id,
            data=dict(row.data),
            base_url=self.rt.settings.base_url,
            deadline=self.deadline,
            stop=self.stop_reason,
            nested=Nested(self),
            peer=self.peer,
        )
        env.save = lambda: self._write(row, physical_id=env.physical_id, data=dict(env.data))

        def flush() -> None:
            if not row.persisted or row.pending:
                env.save()

        env.flush = flush
        return env

    # -- writes -------------------------------------------------------------------

    def _write(self, row: Row, **fields: Any) -> None:
        """Set ``fields`` on the row, in memory and in the database (inserting a row
        not written yet, with the events it has pending)."""
        if self.engine.halted:
            raise Halted("engine halted")
        mapping = {"physical_id": "physical_id", "data": "data", "props": "properties",
                   "action": "action", "status": "status", "reason": "status_reason",
                   "current": "current", "type": "type"}  # fmt: skip
        for k, v in fields.items():
            setattr(row, k, v)
        cols = {mapping[k]: v for k, v in fields.items()}
        if row.persisted and not row.pending:
            store.save_resource(self.rt.db, row.id, **cols)
            return
        pending, insert = list(row.pending), not row.persisted

        def work(uow: UnitOfWork) -> None:
            s = uow.session
            if insert:
                r = StackResource(id=row.id, stack_id=self.info.id, name=row.name, type=row.type,
                                  properties=row.props, physical_id=row.physical_id,
                                  data=row.data, action=row.action, status=row.status,
                                  status_reason=row.reason, current=row.current,
                                  created_at=pending[0][3] if pending else utcnow())  # fmt: skip
                s.add(r)
            else:
                found = s.get(StackResource, row.id)
                if found is None:
                    return
                r = found
                if pending:  # the state the pending events led to
                    r.action, r.status, r.status_reason = row.action, row.status, row.reason
                for k, v in cols.items():
                    setattr(r, k, v)
                r.updated_at = utcnow()
            for action, status, reason, at in pending:
                store.event(s, self.info.id, row.name, action, status, reason,
                            row.physical_id, row.type, at=at)  # fmt: skip
            if "status" in cols:
                store.event(s, self.info.id, row.name, row.action, row.status, row.reason,
                            row.physical_id, row.type)  # fmt: skip

        run_in_transaction(self.rt.db, work)
        row.persisted, row.pending = True, []

    def _mark(self, row: Row, action: str) -> None:
        """``action`` IN_PROGRESS, written with the step's outcome (or before it waits)."""
        row.action, row.status, row.reason = action, "IN_PROGRESS", "state changed"
        row.pending.append((action, "IN_PROGRESS", "state changed", utcnow()))

    def _start(self, name: str, rtype: str, props: dict[str, Any]) -> Row:
        """A new resource, CREATE IN_PROGRESS, not written yet."""
        if self.engine.halted:
            raise Halted("engine halted")
        row = Row(new_uuid(), name, rtype, None, props, {}, "CREATE", "IN_PROGRESS",
                  "state changed", persisted=False)  # fmt: skip
        row.pending.append(("CREATE", "IN_PROGRESS", "state changed", utcnow()))
        with self.lock:
            self.rows[name] = row
        return row

    def _remove(self, row: Row) -> None:
        """Delete the row, with its pending events and DELETE COMPLETE, in one transaction."""
        if self.engine.halted:
            raise Halted("engine halted")
        pending = list(row.pending)

        def work(uow: UnitOfWork) -> None:
            for action, status, reason, at in pending:
                store.event(uow.session, self.info.id, row.name, action, status, reason,
                            row.physical_id, row.type, at=at)  # fmt: skip
            r = uow.session.get(StackResource, row.id)
            if r is not None:
                uow.session.delete(r)
            store.event(uow.session, self.info.id, row.name, "DELETE", "COMPLETE",
                        "state changed", row.physical_id, row.type)  # fmt: skip

        if row.persisted or pending:
            run_in_transaction(self.rt.db, work)
        row.pending = []
        with self.lock:
            if self.rows.get(row.name) is row:
                del self.rows[row.name]
            if row in self.replaced:
                self.replaced.remove(row)

    # -- steps ----------------------------------------------------------------------

    def resolve_props(self, name: str) -> tuple[Plugin, dict[str, Any]]:
        d = self.tpl.resources[name]
        cls = registry.TYPES[d.type]
        props = fn.resolve(d.properties, self)
        return cls(), cls.check_properties(props, f"resources.{name}.properties")

    def _act(self, row: Row, action: str, step: Callable[[Env], None], *, remove: bool = False,
             **after: Any) -> None:  # fmt: skip
        env = self.env(row)
        try:
            step(env)
        except Halted:
            raise
        except Exception as e:
            if not isinstance(e, KumoError | ResourceFailure):
                log.exception("resource %s of stack %s: %s failed", row.name, self.info.id, action)
            reason = failure_reason(action, row.name, e)
            self._write(row, physical_id=env.physical_id, data=dict(env.data), action=action,
                        status="FAILED", reason=reason)  # fmt: skip
            raise ResourceFailure(f"Resource {action} failed: {reason}") from e
        if remove:
            self._remove(row)
            return
        self._write(row, physical_id=env.physical_id, data=dict(env.data), action=action,
                    status="COMPLETE", reason="state changed", **after)  # fmt: skip

    def create_one(self, name: str) -> None:
        rtype = self.tpl.resources[name].type
        try:
            plugin, props = self.resolve_props(name)
        except KumoError as e:
            row = self._start(name, rtype, {})
            reason = failure_reason("CREATE", name, e)
            self._write(row, status="FAILED", reason=reason)
            raise ResourceFailure(f"Resource CREATE failed: {reason}") from e
        row = self._start(name, rtype, props)
        self._act(row, "CREATE", lambda env: plugin.create(env, props))

    def converge_one(self, name: str) -> None:
        """Bring resource ``name`` to the template: create, keep, update or replace it."""
        row = self._row(name)
        if row is None:
            self.create_one(name)
            return
        new_type = self.tpl.resources[name].type
        plugin, props = self.resolve_props(name)
        if row.status == "FAILED" or row.status == "IN_PROGRESS":
            change = diff.Change.REPLACE
        else:
            change = diff.change(row.type, row.props, new_type, props,
                                 registry.update_allowed(new_type))  # fmt: skip
        if change is diff.Change.KEEP:
            return
        if change is diff.Change.UPDATE:
            old = dict(row.props)
            self._mark(row, "UPDATE")
            self._act(row, "UPDATE", lambda env: plugin.update(env, old, props), props=props)
            return
        self._write(row, current=False)
        with self.lock:
            del self.rows[name]
            self.replaced.append(row)
        self.create_one(name)

    def delete_row(self, row: Row) -> None:
        plugin = registry.plugin(row.type)
        self._mark(row, "DELETE")
        self._act(row, "DELETE", plugin.delete, remove=True)

    def simple(self, action: str, name: str) -> None:
        """SUSPEND, RESUME or CHECK one resource."""
        row = self._row(name)
        if row is None:
            return
        plugin = registry.plugin(row.type)
        step = {"SUSPEND": plugin.suspend, "RESUME": plugin.resume, "CHECK": plugin.check}[action]
        self._mark(row, action)
        self._act(row, action, step)

    # -- walking the graph ----------------------------------------------------------

    def run_graph(self, deps: dict[str, set[str]], step: Callable[[str], None]) -> None:
        """Run ``step`` for every node once the nodes it needs are done, up to the
        engine's number of workers at a time. After a failure nothing new starts;
        what runs finishes; the first failure is raised."""
        done: set[str] = set()
        running: dict[str, Future[None]] = {}
        failure: BaseException | None = None
        with ThreadPoolExecutor(self.engine.workers, thread_name_prefix="stack") as pool:
            while True:
                why = "" if self.sibling_failed else self.stop_reason()
                if failure is None and why:
                    failure = Halted(why) if self.engine.halted else ResourceFailure(why)
                if failure is None and time.monotonic() > self.deadline:
                    failure = ResourceFailure("Timed out")
                if failure is None:
                    for n in sorted(deps):
                        if n not in done and n not in running and deps[n] <= done:
                            running[n] = pool.submit(step, n)
                if not running:
                    break
                finished, _ = wait(list(running.values()), return_when=FIRST_COMPLETED)
                for n, f in list(running.items()):
                    if f in finished:
                        del running[n]
                        exc = f.exception()
                        if exc is None:
                            done.add(n)
                        elif failure is None or isinstance(exc, Halted):
                            failure = exc
                            self.sibling_failed = True
        if failure is not None:
            raise failure
        if len(done) < len(deps):
            raise ResourceFailure("Circular dependency between resources")

    def converge(self, old_tpl: tpllib.Template | None = None) -> None:
        """Create or update every enabled resource, then delete what the template no
        longer has and what was replaced."""
        enabled = self.enabled()
        deps = graph.restrict(graph.dependencies(self.tpl.resources), enabled)
        self.run_graph(deps, self.converge_one)
        self.cleanup(set(enabled), old_tpl)

    def cleanup(self, keep: set[str], old_tpl: tpllib.Template | None) -> None:
        with self.lock:
            doomed = {r.id: r for r in self.replaced}
            doomed.update({r.id: r for n, r in self.rows.items() if n not in keep})
        self.delete_rows(doomed, old_tpl or self.tpl)

    def delete_rows(self, rows: dict[str, Row], tpl: tpllib.Template) -> None:
        needs = graph.dependencies(tpl.resources)
        deps: dict[str, set[str]] = {}
        for rid, row in rows.items():
            # row waits for every doomed row whose resource needs it
            deps[rid] = {o for o, other in rows.items()
                         if o != rid and row.name in needs.get(other.name, set())}  # fmt: skip
        self.run_graph(deps, lambda rid: self.delete_row(rows[rid]))

    def delete_all(self) -> None:
        with self.lock:
            rows = {r.id: r for r in [*self.rows.values(), *self.replaced]}
        self.delete_rows(rows, self.tpl)

    def restore_replaced(self) -> None:
        """Rollback of an update: where a replaced resource still exists, delete its
        replacement and make it current again."""
        for old in list(self.replaced):
            new = self._row(old.name)
            if new is not None:
                self.delete_row(new)
            self._write(old, current=True)
            with self.lock:
                self.replaced.remove(old)
                self.rows[old.name] = old

    def in_order(self, action: str, reverse: bool) -> None:
        enabled = [n for n in self.enabled() if n in self.rows]
        deps = graph.restrict(graph.dependencies(self.tpl.resources), enabled)
        if reverse:
            deps = graph.restrict(graph.dependents(deps), enabled)
        self.run_graph(deps, lambda n: self.simple(action, n))


class Nested:
    """Nested stacks for resources that are stacks of their own (ResourceGroup)."""

    def __init__(self, run: Run) -> None:
        self.run = run

    def _child(self, env: Env) -> Run:
        with self.run.rt.db.read_session() as s:
            info = StackInfo.of(store.find(s, None, str(env.physical_id)))
        return Run(self.run.engine, info, self.run.ctx)

    def nested_apply(self, env: Env, template: dict[str, Any]) -> None:
        engine = self.run.engine
        env.flush()  # the member stack takes a while: show the resource IN_PROGRESS
        if env.physical_id:
            child_id = str(env.physical_id)
            engine.begin_update(child_id, template, {}, {})
        else:
            child_id = engine.new_child(self.run.info, env.name, template)
            env.physical_id = child_id
            env.save()
        status, reason = engine.run_now(child_id, self.run.ctx)
        if status != "COMPLETE":
            raise ResourceFailure(f"Nested stack failed: {reason}")

    def nested_delete(self, env: Env) -> None:
        if not env.physical_id:
            return
        engine = self.run.engine
        env.flush()  # the member stack's delete takes a while: show DELETE IN_PROGRESS
        try:
            engine.begin_delete(str(env.physical_id))
        except KumoError:
            return  # gone already
        status, reason = engine.run_now(str(env.physical_id), self.run.ctx)
        if status != "COMPLETE":
            raise ResourceFailure(f"Nested stack delete failed: {reason}")

    def nested_check(self, env: Env) -> None:
        self._child(env).in_order("CHECK", reverse=False)

    def nested_action(self, env: Env, action: str) -> None:
        self._child(env).in_order(action, reverse=action == "SUSPEND")

    def nested_ref(self, env: Env, member: str) -> Any:
        return self._child(env).resource_ref(member) if env.physical_id else None

    def nested_attr(self, env: Env, member: str, attr: str) -> Any:
        return self._child(env).resource_attr(member, attr) if env.physical_id else None
