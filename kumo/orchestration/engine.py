"""The engine: runs stack operations in threads, durably.

Every step is written to the database as it happens (``run.py``), so the
database always says how far an operation got. An engine holds a lease on
each stack it works on (``engine_id``, ``lease_until``) and renews it
every third of ``stack_lease_seconds``. When the engine's process dies
(or its API server restarts), nothing renews the lease: the next engine to
look (at its start, and every lease period after) marks such a stack
FAILED with a reason naming the dead engine, and its in-progress
resources FAILED too (``reap``). What a failed stack made is recorded
(physical ids are written as soon as they exist), so ``stack delete`` or
an update cleans it up. We fail rather than resume: a half-done step of a
dead process cannot be told from a step that is about to finish.

On a graceful stop (``shutdown``) the engine marks its own stacks FAILED
at once. ``halt`` stops without writing anything more, as a crash does
(for tests).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from kumo.context import RequestContext
from kumo.db.base import utcnow
from kumo.db.orchestration_models import Stack, StackResource
from kumo.db.uow import UnitOfWork, run_in_transaction
from kumo.errors import KumoError
from kumo.orchestration import delegation, store
from kumo.orchestration import template as tpllib
from kumo.orchestration.errors import ActionInProgress, ResourceFailure
from kumo.orchestration.resources import registry
from kumo.orchestration.resources.base import Halted
from kumo.orchestration.run import Run, StackInfo

if TYPE_CHECKING:
    from kumo.runtime import Runtime

log = logging.getLogger(__name__)


ROLLBACK_STARTED = ("ROLLBACK", "IN_PROGRESS", "Stack ROLLBACK started")


def _message(exc: BaseException) -> str:
    return exc.message if isinstance(exc, KumoError) else str(exc)


class Engine:
    def __init__(self, rt: Runtime, *, lease_seconds: float, workers: int) -> None:
        self.rt = rt
        self.lease = lease_seconds
        self.workers = max(1, workers)
        self.id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._halted = threading.Event()
        self._threads: dict[str, threading.Thread] = {}
        self._ticker: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def halted(self) -> bool:
        return self._halted.is_set()

    # -- life cycle ---------------------------------------------------------------------

    def start(self) -> None:
        """Fail what dead engines left, then keep leases and keep looking."""
        self.reap()
        if self._ticker is None:
            self._ticker = threading.Thread(target=self._tick, name="stack-leases", daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        period = max(self.lease / 3, 0.1)
        since_reap = 0.0
        while not self._halted.wait(period):
            try:
                store.renew_leases(self.rt.db, self.id, self.lease)
                since_reap += period
                if since_reap >= self.lease:
                    since_reap = 0.0
                    self.reap()
            except Exception:  # the database may be briefly away; try again next tick
                log.exception("stack lease renewal failed")

    def halt(self) -> None:
        """Stop at once, writing nothing more (as a crash would)."""
        self._halted.set()

    def shutdown(self) -> None:
        """Stop, and mark this engine's operations FAILED now rather than at lease expiry."""
        self.halt()
        with self.rt.db.read_session() as s:
            ids = list(s.scalars(select(Stack.id).where(Stack.engine_id == self.id,
                                                        Stack.status == "IN_PROGRESS")))  # fmt: skip
        for stack_id in ids:
            self._fail_abandoned(stack_id, "The API server stopped during the operation")

    def wait_idle(self, timeout: float = 30) -> bool:
        with self._lock:
            threads = list(self._threads.values())
        for t in threads:
            t.join(timeout)
        return not any(t.is_alive() for t in threads)

    def reap(self) -> list[str]:
        """Mark FAILED every stack IN_PROGRESS whose lease has run out."""
        now = utcnow()
        with self.rt.db.read_session() as s:
            ids = list(s.scalars(select(Stack.id).where(
                Stack.status == "IN_PROGRESS", Stack.deleted_at.is_(None),
                (Stack.lease_until.is_(None)) | (Stack.lease_until < now))))  # fmt: skip
        out = []
        for stack_id in ids:
            if self._fail_abandoned(stack_id, None, expired_before=now):
                out.append(stack_id)
        return out

    def _fail_abandoned(
        self, stack_id: str, reason: str | None, expired_before: dt.datetime | None = None
    ) -> bool:
        def work(uow: UnitOfWork) -> bool:
            s = uow.session
            row = s.get(Stack, stack_id, with_for_update=True)
            if row is None or row.status != "IN_PROGRESS":
                return False
            if expired_before is not None and row.lease_until and row.lease_until >= expired_before:
                return False
            why = reason or (
                f"Engine {row.engine_id or 'unknown'} stopped while {row.action} was in "
                f"progress (its lease ran out); marked FAILED by engine {self.id}"
            )
            row.status, row.status_reason = "FAILED", why
            row.engine_id, row.lease_until, row.cancel_requested = None, None, False
            store.event(s, row.id, row.name, row.action, "FAILED", why, row.id, "OS::Heat::Stack")
            store.stack_changed(uow, row)
            for r in store.resources(s, row.id, current_only=False):
                if r.status == "IN_PROGRESS":
                    r.status, r.status_reason = "FAILED", why
                    store.event(s, row.id, r.name, r.action, "FAILED", why, r.physical_id, r.type)
            return True

        return run_in_transaction(self.rt.db, work)

    # -- starting operations (the service calls these, then ``submit``) -------------------

    def lease_fields(self) -> dict[str, Any]:
        return {"engine_id": self.id, "lease_until": utcnow() + dt.timedelta(seconds=self.lease)}

    def _begin(self, stack_id: str, action: str, reason: str, **fields: Any) -> None:
        def work(uow: UnitOfWork) -> None:
            row = uow.session.get(Stack, stack_id, with_for_update=True)
            if row is None or row.deleted_at is not None:
                raise KumoError("stack gone")
            if row.status == "IN_PROGRESS":
                raise ActionInProgress(
                    f"Stack {row.name} already has an action ({row.action}) in progress."
                )
            for k, v in fields.items():
                setattr(row, k, v)
            row.action, row.status, row.status_reason = action, "IN_PROGRESS", reason
            row.updated_at = utcnow()
            for k, v in self.lease_fields().items():
                setattr(row, k, v)
            store.event(uow.session, row.id, row.name, action, "IN_PROGRESS", reason, row.id,
                        "OS::Heat::Stack")  # fmt: skip
            store.stack_changed(uow, row)

        run_in_transaction(self.rt.db, work)

    def begin_update(
        self,
        stack_id: str,
        template: dict[str, Any],
        params: dict[str, Any],
        files: dict[str, Any],
        **fields: Any,
    ) -> None:
        with self.rt.db.read_session() as s:
            row = s.get(Stack, stack_id)
            assert row is not None
            previous = {"template": row.template, "params": row.params, "files": row.files}
        self._begin(stack_id, "UPDATE", "Stack UPDATE started", template=template, params=params,
                    files=files, previous=previous, **fields)  # fmt: skip

    def begin_delete(self, stack_id: str) -> None:
        self._begin(stack_id, "DELETE", "Stack DELETE started")

    def begin_action(self, stack_id: str, action: str) -> None:
        self._begin(stack_id, action, f"Stack {action} started")

    def new_child(self, parent: StackInfo, resource: str, template: dict[str, Any]) -> str:
        def work(uow: UnitOfWork) -> str:
            p = uow.session.get(Stack, parent.id)
            assert p is not None
            name = f"{parent.name}-{resource}-{uuid.uuid4().hex[:12]}"
            child = Stack(name=name, live_name=name, project_id=p.project_id, user_id=p.user_id,
                          username=p.username, parent_id=p.id, parent_resource=resource,
                          template=template, files={}, params={}, disable_rollback=True,
                          timeout_mins=p.timeout_mins, action="CREATE", status="IN_PROGRESS",
                          status_reason="Stack CREATE started", **self.lease_fields())  # fmt: skip
            uow.session.add(child)
            uow.session.flush()
            store.event(uow.session, child.id, name, "CREATE", "IN_PROGRESS",
                        "Stack CREATE started", child.id, "OS::Heat::Stack")  # fmt: skip
            store.stack_changed(uow, child)
            return child.id

        return run_in_transaction(self.rt.db, work)

    def submit(self, stack_id: str, fallback: RequestContext | None = None) -> None:
        """Run the stack's pending operation in a thread of its own."""
        thread = threading.Thread(target=self._guard, args=(stack_id, fallback),
                                  name=f"stack-{stack_id[:8]}", daemon=True)  # fmt: skip
        with self._lock:
            self._threads = {k: t for k, t in self._threads.items() if t.is_alive()}
            self._threads[stack_id] = thread
        thread.start()

    def _guard(self, stack_id: str, fallback: RequestContext | None) -> None:
        try:
            self.run_now(stack_id, fallback)
        except Halted:
            return
        except Exception as e:
            log.exception("stack %s: operation failed", stack_id)
            if not self.halted:
                self._fail_abandoned(stack_id, f"Internal error: {_message(e)}")

    # -- running -------------------------------------------------------------------------

    def context_for(self, stack_id: str) -> RequestContext:
        with self.rt.db.read_session() as s:
            row = s.get(Stack, stack_id)
            while row is not None and row.parent_id:
                row = s.get(Stack, row.parent_id)
            if row is None:
                raise ResourceFailure("stack gone")
            return delegation.context(s, row.id)

    def run_now(self, stack_id: str, ctx: RequestContext | None = None) -> tuple[str, str]:
        """Run the stack's pending operation here; its final (status, reason)."""
        with self.rt.db.read_session() as s:
            row = s.get(Stack, stack_id)
            assert row is not None
            info, action = StackInfo.of(row), row.action
        try:
            acting = self.context_for(stack_id)
        except ResourceFailure as e:
            if ctx is None or action != "DELETE":
                self._set(info.id, action, "FAILED", str(e))
                return "FAILED", str(e)
            acting = ctx  # a delete by a project member goes on with the deleter's rights
        if info.parent_id is not None and ctx is not None:
            acting = ctx
        op = {"CREATE": self._create, "UPDATE": self._update, "DELETE": self._delete}.get(
            action, self._simple
        )
        op(info, acting, action)
        with self.rt.db.read_session() as s:
            final = s.get(Stack, stack_id)
            assert final is not None
            return final.status, final.status_reason

    def _set(self, stack_id: str, action: str, status: str, reason: str,
             *then: tuple[str, str, str]) -> None:  # fmt: skip
        if self.halted:
            raise Halted("engine halted")
        store.set_stack(self.rt.db, stack_id, (action, status, reason), *then)

    def _create(self, info: StackInfo, ctx: RequestContext, action: str) -> None:
        try:
            Run(self, info, ctx).converge()
        except Halted:
            raise
        except Exception as e:
            if info.disable_rollback:
                self._set(info.id, "CREATE", "FAILED", _message(e))
            else:
                self._set(info.id, "CREATE", "FAILED", _message(e), ROLLBACK_STARTED)
                self._rollback_create(info, ctx)
            return
        self._set(info.id, "CREATE", "COMPLETE", "Stack CREATE completed successfully")

    def _rollback_create(self, info: StackInfo, ctx: RequestContext) -> None:
        try:
            Run(self, info, ctx).delete_all()
        except Halted:
            raise
        except Exception as e:
            self._set(info.id, "ROLLBACK", "FAILED", _message(e))
            return
        self._set(info.id, "ROLLBACK", "COMPLETE", "Stack ROLLBACK completed successfully")

    def _update(self, info: StackInfo, ctx: RequestContext, action: str) -> None:
        prev = info.previous or {}
        old_tpl = None
        if prev.get("template"):
            old_tpl = tpllib.parse(prev["template"], registry.known)
        try:
            Run(self, info, ctx).converge(old_tpl)
        except Halted:
            raise
        except Exception as e:
            if self._rollback_disabled(info.id) or not prev.get("template"):
                self._set(info.id, "UPDATE", "FAILED", _message(e))
            else:
                self._set(info.id, "UPDATE", "FAILED", _message(e), ROLLBACK_STARTED)
                self._rollback_update(info, ctx)
            return
        self._set(info.id, "UPDATE", "COMPLETE", "Stack UPDATE completed successfully")

    def _rollback_disabled(self, stack_id: str) -> bool:
        """As the row says now (``cancel_without_rollback`` turns it off mid-update)."""
        with self.rt.db.read_session() as s:
            row = s.get(Stack, stack_id)
            return row is None or row.disable_rollback

    def _rollback_update(self, info: StackInfo, ctx: RequestContext) -> None:
        prev = info.previous

        def restore(uow: UnitOfWork) -> None:
            row = uow.session.get(Stack, info.id)
            assert row is not None
            row.template, row.params, row.files = prev["template"], prev["params"], prev["files"]

        try:
            run_in_transaction(self.rt.db, restore)
            back = StackInfo(**{**info.__dict__, "template": prev["template"],
                                "params": prev["params"], "files": prev["files"]})  # fmt: skip
            run = Run(self, back, ctx)
            run.restore_replaced()
            run.converge(tpllib.parse(info.template, registry.known))
        except Halted:
            raise
        except Exception as e:
            self._set(info.id, "ROLLBACK", "FAILED", _message(e))
            return
        self._set(info.id, "ROLLBACK", "COMPLETE", "Stack ROLLBACK completed successfully")

    def _delete(self, info: StackInfo, ctx: RequestContext, action: str) -> None:
        try:
            Run(self, info, ctx).delete_all()
        except Halted:
            raise
        except Exception as e:
            self._set(info.id, "DELETE", "FAILED", _message(e))
            return
        if self.halted:
            raise Halted("engine halted")

        def finish(uow: UnitOfWork) -> None:
            s = uow.session
            row = s.get(Stack, info.id)
            assert row is not None
            for r in s.scalars(select(StackResource).where(StackResource.stack_id == row.id)):
                s.delete(r)
            row.action, row.status = "DELETE", "COMPLETE"
            row.status_reason = "Stack DELETE completed successfully"
            row.live_name, row.deleted_at = None, utcnow()
            row.engine_id, row.lease_until = None, None
            delegation.revoke(s, row.id)
            store.event(s, row.id, row.name, "DELETE", "COMPLETE", row.status_reason, row.id,
                        "OS::Heat::Stack")  # fmt: skip
            store.stack_changed(uow, row)

        run_in_transaction(self.rt.db, finish)

    def _simple(self, info: StackInfo, ctx: RequestContext, action: str) -> None:
        try:
            Run(self, info, ctx).in_order(action, reverse=action == "SUSPEND")
        except Halted:
            raise
        except Exception as e:
            self._set(info.id, action, "FAILED", _message(e))
            return
        self._set(info.id, action, "COMPLETE", f"Stack {action} completed successfully")
