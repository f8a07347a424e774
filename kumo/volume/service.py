"""VolumeService: the facade the block storage API and the internal API call.

Writes run in ``run_in_transaction``; reads open one session and render
views for the caller's microversion.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from kumo.compute.microversion import Version
from kumo.config import Settings
from kumo.context import RequestContext
from kumo.db.engine import Database
from kumo.db.uow import UnitOfWork, run_in_transaction
from kumo.db.volume_models import Volume
from kumo.errors import BadRequest
from kumo.policy import authorize
from kumo.volume import (
    attachments,
    groups,
    image_metadata,
    messages,
    pools,
    quotas,
    replication,
    reports,
    snapshots,
    types,
    uploads,
    volumes,
)
from kumo.volume.volumes import Lookups

T = TypeVar("T")
VOLUME_ACTIONS = ("os-extend", "os-retype", "os-reset_status", "os-force_delete",
                  "os-set_bootable", "os-reserve", "os-unreserve", "os-begin_detaching",
                  "os-roll_detaching", "os-attach", "os-detach", "os-force_detach",
                  "os-update_readonly_flag")  # fmt: skip


def _volume_fields(shown: dict[str, Any]) -> dict[str, Any]:
    """Cinder answers a create or an update with the volume's own fields: no
    extension attributes, no image metadata."""
    return {
        k: v
        for k, v in shown.items()
        if not k.startswith("os-vol-") and k != "volume_image_metadata"
    }


class VolumeService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def _write(self, fn: Callable[[UnitOfWork], T]) -> T:
        return run_in_transaction(self.db, fn)

    def write(self, fn: Callable[[UnitOfWork], T]) -> T:
        """Run one of the volume modules' writes (``qos``, ``transfers``, ...) in a
        transaction of its own."""
        return run_in_transaction(self.db, fn)

    def read(self, fn: Callable[[Session], T]) -> T:
        """Run one of the volume modules' reads in one session."""
        with self.db.read_session() as s:
            return fn(s)

    def bootstrap(self) -> None:
        def work(uow: UnitOfWork) -> None:
            types.ensure_default(uow.session)
            groups.ensure_default(uow.session)

        self._write(work)

    # -- volumes ------------------------------------------------------------------------

    def _volume_views(
        self, ctx: RequestContext, ids: list[str], base: str, version: Version
    ) -> list[dict[str, Any]]:
        with self.db.read_session() as s:
            look = Lookups.read(s, ids)
            rows = {v.id: v for v in (volumes.load(s, ctx, i) for i in ids)}
            return [volumes.view(rows[i], ctx, look, base, version) for i in ids]

    def list_volumes(
        self,
        ctx: RequestContext,
        params: dict[str, str],
        base: str,
        version: Version,
        *,
        detail: bool,
    ) -> tuple[list[dict[str, Any]], bool, int]:
        with self.db.read_session() as s:
            items, more, total = volumes.listing(s, ctx, params)
            look = Lookups.read(s, [v.id for v in items])
            views = [volumes.view(v, ctx, look, base, version, detail=detail) for v in items]
            return views, more, total

    def show_volume(
        self, ctx: RequestContext, volume_id: str, base: str, version: Version
    ) -> dict[str, Any]:
        return self._volume_views(ctx, [volume_id], base, version)[0]

    def create_volume(
        self, ctx: RequestContext, body: Any, base: str, version: Version
    ) -> dict[str, Any]:
        v = self._write(lambda uow: volumes.create(uow, self.settings, ctx, body, version))
        shown = self.show_volume(ctx, v.id, base, version)
        return _volume_fields(shown)

    def update_volume(
        self, ctx: RequestContext, volume_id: str, body: Any, base: str, version: Version
    ) -> dict[str, Any]:
        self._write(lambda uow: volumes.update(uow, ctx, volume_id, body))
        shown = self.show_volume(ctx, volume_id, base, version)
        return _volume_fields(shown)

    def delete_volume(self, ctx: RequestContext, volume_id: str, *, cascade: bool) -> None:
        self._write(lambda uow: volumes.remove(uow, ctx, volume_id, cascade=cascade))

    def volume_action(
        self, ctx: RequestContext, volume_id: str, body: Any, version: Version
    ) -> tuple[int, dict[str, Any] | None]:
        """Run the action: the status Cinder answers it with, and its body if any."""
        if not isinstance(body, dict) or len(body) != 1:
            raise BadRequest("Expected one volume action, e.g. {'os-extend': {'new_size': 2}}.")
        action, data = next(iter(body.items()))
        if action in image_metadata.ACTIONS:
            return 200, self._write(
                lambda uow: image_metadata.run(uow, ctx, volume_id, action, data)
            )
        if action == uploads.ACTION:
            wanted = uploads.fields(ctx, data, version)

            def upload(uow: UnitOfWork) -> dict[str, Any]:
                v = volumes.load(uow.session, ctx, volume_id, lock=True)
                return uploads.request(uow, ctx, v, wanted)

            return 202, self._write(upload)
        if action not in VOLUME_ACTIONS:
            raise BadRequest(f"There is no such action: {action}")

        def work(uow: UnitOfWork) -> None:
            v = volumes.load(uow.session, ctx, volume_id, lock=True)
            if action == "os-extend":
                volumes.extend(uow, self.settings, ctx, v, data, version)
            elif action == "os-retype":
                volumes.retype(uow, self.settings, ctx, v, data)
            elif action == "os-reset_status":
                volumes.reset_status(uow, ctx, v, data)
            elif action == "os-force_delete":
                volumes.remove(uow, ctx, volume_id, cascade=True, force=True)
            elif action == "os-force_detach":
                attachments.force_detach(uow, ctx, v, data)
            elif action == "os-set_bootable":
                volumes.set_bootable(ctx, v, data)
            elif action == "os-update_readonly_flag":
                volumes.set_readonly(ctx, v, data)
            else:
                attachments.legacy_action(uow, ctx, v, action, data)

        self._write(work)
        return (200 if action == "os-set_bootable" else 202), None

    def upload_context(self, ctx: RequestContext, image_id: str) -> RequestContext:
        """For the storage agent uploading a volume into an image: the
        requester's delegated context (``kumo.volume.uploads``)."""
        return self._write(lambda uow: uploads.delegated(uow, ctx, image_id))

    def end_upload(self, ctx: RequestContext, image_id: str, ok: bool, error: str = "") -> None:
        self._write(lambda uow: uploads.end(uow, ctx, image_id, ok, error))

    def volume_metadata(self, ctx: RequestContext, volume_id: str) -> dict[str, str]:
        with self.db.read_session() as s:
            return dict(volumes.load(s, ctx, volume_id).meta or {})

    def set_volume_metadata(
        self, ctx: RequestContext, volume_id: str, body: Any, *, replace: bool
    ) -> dict[str, str]:
        return self._write(
            lambda uow: volumes.set_metadata(uow, ctx, volume_id, body, replace=replace)
        )

    def set_volume_metadata_item(
        self, ctx: RequestContext, volume_id: str, key: str, body: Any
    ) -> dict[str, str]:
        return self._write(lambda uow: volumes.set_metadata_item(uow, ctx, volume_id, key, body))

    def delete_volume_metadata(self, ctx: RequestContext, volume_id: str, key: str) -> None:
        self._write(lambda uow: volumes.delete_metadata(uow, ctx, volume_id, key))

    # -- snapshots ----------------------------------------------------------------------

    def list_snapshots(
        self, ctx: RequestContext, params: dict[str, str], version: Version, *, detail: bool
    ) -> tuple[list[dict[str, Any]], bool, int]:
        with self.db.read_session() as s:
            items, more, total = snapshots.listing(s, ctx, params)
            return [snapshots.view(x, version, detail=detail) for x in items], more, total

    def show_snapshot(
        self, ctx: RequestContext, snapshot_id: str, version: Version
    ) -> dict[str, Any]:
        with self.db.read_session() as s:
            return snapshots.view(snapshots.load(s, ctx, snapshot_id), version)

    def create_snapshot(self, ctx: RequestContext, body: Any, version: Version) -> dict[str, Any]:
        snap = self._write(lambda uow: snapshots.create(uow, self.settings, ctx, body, version))
        return _own_fields(self.show_snapshot(ctx, snap.id, version))

    def update_snapshot(
        self, ctx: RequestContext, snapshot_id: str, body: Any, version: Version
    ) -> dict[str, Any]:
        self._write(lambda uow: snapshots.update(uow, ctx, snapshot_id, body))
        return _own_fields(self.show_snapshot(ctx, snapshot_id, version))

    def delete_snapshot(self, ctx: RequestContext, snapshot_id: str) -> None:
        self._write(lambda uow: snapshots.remove(uow, ctx, snapshot_id))

    def snapshot_action(self, ctx: RequestContext, snapshot_id: str, body: Any) -> None:
        if not isinstance(body, dict) or len(body) != 1:
            raise BadRequest("Expected one snapshot action, e.g. {'os-force_delete': {}}.")
        ((action, data),) = body.items()
        if action == "os-reset_status":
            self._write(lambda uow: snapshots.reset_status(uow, ctx, snapshot_id, data))
        elif action == "os-update_snapshot_status":
            self._write(lambda uow: snapshots.update_status(uow, ctx, snapshot_id, data))
        elif action == "os-force_delete":
            self._write(lambda uow: snapshots.force_delete(uow, ctx, snapshot_id))
        else:
            raise BadRequest(f"There is no such action: {action}")

    def snapshot_metadata(self, ctx: RequestContext, snapshot_id: str) -> dict[str, str]:
        with self.db.read_session() as s:
            return snapshots.metadata_of(s, ctx, snapshot_id)

    def set_snapshot_metadata(
        self, ctx: RequestContext, snapshot_id: str, body: Any, *, replace: bool
    ) -> dict[str, str]:
        return self._write(
            lambda uow: snapshots.set_metadata(uow, ctx, snapshot_id, body, replace=replace)
        )

    def set_snapshot_metadata_item(
        self, ctx: RequestContext, snapshot_id: str, key: str, body: Any
    ) -> dict[str, str]:
        return self._write(
            lambda uow: snapshots.set_metadata_item(uow, ctx, snapshot_id, key, body)
        )

    def delete_snapshot_metadata(self, ctx: RequestContext, snapshot_id: str, key: str) -> None:
        self._write(lambda uow: snapshots.delete_metadata(uow, ctx, snapshot_id, key))

    # -- volume types -------------------------------------------------------------------

    def list_types(self, ctx: RequestContext, params: dict[str, str]) -> list[dict[str, Any]]:
        with self.db.read_session() as s:
            return [types.view(t) for t in types.listing(s, ctx, params)]

    def show_type(self, ctx: RequestContext, type_id: str) -> dict[str, Any]:
        with self.db.read_session() as s:
            if type_id == "default":
                return types.view(types.default(s))
            return types.view(types.find(s, ctx, type_id))

    def create_type(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        def work(uow: UnitOfWork) -> dict[str, Any]:
            out = types.view(types.create(uow, ctx, body))
            out.pop("qos_specs_id", None)  # not in Cinder's answer to a create
            return out

        return self._write(work)

    def update_type(self, ctx: RequestContext, type_id: str, body: Any) -> dict[str, Any]:
        def work(uow: UnitOfWork) -> dict[str, Any]:
            out = types.view(types.update(uow, ctx, type_id, body))
            # Cinder's answer to an update has neither extension attribute
            out.pop("os-volume-type-access:is_public", None)
            out.pop("qos_specs_id", None)
            return out

        return self._write(work)

    def delete_type(self, ctx: RequestContext, type_id: str) -> None:
        self._write(lambda uow: types.remove(uow, ctx, type_id))

    def type_specs(self, ctx: RequestContext, type_id: str) -> dict[str, str]:
        with self.db.read_session() as s:
            return dict(types.find(s, ctx, type_id).extra_specs or {})

    def set_type_specs(self, ctx: RequestContext, type_id: str, body: Any) -> dict[str, str]:
        return self._write(lambda uow: types.set_specs(uow, ctx, type_id, body))

    def set_type_spec(
        self, ctx: RequestContext, type_id: str, key: str, body: Any
    ) -> dict[str, str]:
        return self._write(lambda uow: types.set_spec(uow, ctx, type_id, key, body))

    def delete_type_spec(self, ctx: RequestContext, type_id: str, key: str) -> None:
        self._write(lambda uow: types.delete_spec(uow, ctx, type_id, key))

    def type_access(self, ctx: RequestContext, type_id: str) -> list[dict[str, str]]:
        with self.db.read_session() as s:
            return types.access_list(s, ctx, type_id)

    def type_action(self, ctx: RequestContext, type_id: str, body: Any) -> None:
        self._write(lambda uow: types.change_access(uow, ctx, type_id, body))

    # -- quotas, limits -----------------------------------------------------------------

    def quota_set(
        self, ctx: RequestContext, project_id: str, *, usage: bool = False, defaults: bool = False
    ) -> dict[str, Any]:
        authorize(ctx, "volume_extension:quotas:show", {"project_id": project_id})
        with self.db.read_session() as s:
            return quotas.quota_view(
                s, self.settings, project_id, usage_too=usage, defaults=defaults
            )

    def update_quota_set(self, ctx: RequestContext, project_id: str, body: Any) -> dict[str, Any]:
        self._write(lambda uow: quotas.update(uow, self.settings, ctx, project_id, body))
        with self.db.read_session() as s:
            out = quotas.quota_view(s, self.settings, project_id, usage_too=False, defaults=False)
        out.pop("id", None)
        return out

    def delete_quota_set(self, ctx: RequestContext, project_id: str) -> None:
        self._write(lambda uow: quotas.reset(uow, ctx, project_id))

    def quota_class(self, ctx: RequestContext, class_name: str) -> dict[str, Any]:
        authorize(ctx, "volume_extension:quota_classes")
        with self.db.read_session() as s:
            return {"id": class_name, **quotas.class_limits(s, self.settings, class_name)}

    def update_quota_class(self, ctx: RequestContext, class_name: str, body: Any) -> dict[str, Any]:
        self._write(lambda uow: quotas.update_class(uow, self.settings, ctx, class_name, body))
        with self.db.read_session() as s:
            return quotas.class_limits(s, self.settings, class_name)

    def limits(self, ctx: RequestContext, project_id: str | None) -> dict[str, Any]:
        project = project_id or ctx.project_id or ""
        if project != ctx.project_id:
            authorize(ctx, "volume_extension:quotas:show", {"project_id": project})
        with self.db.read_session() as s:
            return {"rate": [], "absolute": quotas.absolute_limits(s, self.settings, project)}

    # -- attachments --------------------------------------------------------------------

    def list_attachments(
        self, ctx: RequestContext, params: dict[str, str], *, detail: bool
    ) -> list[dict[str, Any]]:
        with self.db.read_session() as s:
            rows = attachments.listing(s, ctx, params)
            vols = {a.volume_id: s.get(Volume, a.volume_id) for a in rows}
            return [attachments.view(s, a, vols.get(a.volume_id), detail=detail) for a in rows]

    def show_attachment(self, ctx: RequestContext, attachment_id: str) -> dict[str, Any]:
        with self.db.read_session() as s:
            a = attachments.load(s, ctx, attachment_id)
            return attachments.view(s, a, s.get(Volume, a.volume_id))

    def create_attachment(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        def work(uow: UnitOfWork) -> dict[str, Any]:
            a, v = attachments.create(uow, ctx, body)
            return attachments.view(uow.session, a, v)

        return self._write(work)

    def update_attachment(
        self, ctx: RequestContext, attachment_id: str, body: Any
    ) -> dict[str, Any]:
        def work(uow: UnitOfWork) -> dict[str, Any]:
            a, v = attachments.update(uow, ctx, attachment_id, body)
            return attachments.view(uow.session, a, v)

        return self._write(work)

    def complete_attachment(self, ctx: RequestContext, attachment_id: str, body: Any) -> None:
        if not isinstance(body, dict) or list(body) != ["os-complete"]:
            raise BadRequest("There is no such action (attachments take os-complete).")
        self._write(lambda uow: attachments.complete(uow, ctx, attachment_id))

    def delete_attachment(self, ctx: RequestContext, attachment_id: str) -> list[dict[str, Any]]:
        def work(uow: UnitOfWork) -> list[dict[str, Any]]:
            return [
                attachments.view(uow.session, a, None, detail=False)
                for a in attachments.remove(uow, ctx, attachment_id)
            ]

        return self._write(work)

    # -- groups -------------------------------------------------------------------------

    def list_group_types(
        self, ctx: RequestContext, params: dict[str, str] | None = None
    ) -> list[dict[str, Any]]:
        with self.db.read_session() as s:
            return [groups.type_view(gt) for gt in groups.list_types(s, ctx, params)]

    def show_group_type(self, ctx: RequestContext, type_id: str) -> dict[str, Any]:
        with self.db.read_session() as s:
            return groups.type_view(groups.find_type(s, ctx, type_id))

    def create_group_type(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        return self._write(lambda uow: groups.type_view(groups.create_type(uow, ctx, body)))

    def update_group_type(self, ctx: RequestContext, type_id: str, body: Any) -> dict[str, Any]:
        return self._write(
            lambda uow: groups.type_view(groups.update_type(uow, ctx, type_id, body))
        )

    def delete_group_type(self, ctx: RequestContext, type_id: str) -> None:
        self._write(lambda uow: groups.delete_type(uow, ctx, type_id))

    def group_specs(self, ctx: RequestContext, type_id: str) -> dict[str, str]:
        with self.db.read_session() as s:
            return dict(groups.find_type(s, ctx, type_id).group_specs or {})

    def set_group_specs(self, ctx: RequestContext, type_id: str, body: Any) -> dict[str, str]:
        return self._write(lambda uow: groups.set_specs(uow, ctx, type_id, body))

    def set_group_spec(
        self, ctx: RequestContext, type_id: str, key: str, body: Any
    ) -> dict[str, str]:
        return self._write(lambda uow: groups.set_spec(uow, ctx, type_id, key, body))

    def delete_group_spec(self, ctx: RequestContext, type_id: str, key: str) -> None:
        self._write(lambda uow: groups.delete_spec(uow, ctx, type_id, key))

    def list_groups(
        self,
        ctx: RequestContext,
        params: dict[str, str],
        *,
        detail: bool,
        with_project: bool = False,
    ) -> list[dict[str, Any]]:
        with self.db.read_session() as s:
            return [
                groups.view(s, g, detail=detail, with_project=with_project)
                for g in groups.listing(s, ctx, params)
            ]

    def show_group(
        self, ctx: RequestContext, group_id: str, *, with_volumes: bool, with_project: bool = False
    ) -> dict[str, Any]:
        with self.db.read_session() as s:
            g = groups.load(s, ctx, group_id)
            return groups.view(s, g, with_volumes=with_volumes, with_project=with_project)

    def create_group(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        g = self._write(lambda uow: groups.create(uow, self.settings, ctx, body))
        return {"id": g.id, "name": g.name}

    def update_group(self, ctx: RequestContext, group_id: str, body: Any) -> None:
        self._write(lambda uow: groups.update(uow, ctx, group_id, body))

    def group_action(
        self, ctx: RequestContext, group_id: str, body: Any, version: Version | None = None
    ) -> None:
        if isinstance(body, dict) and list(body) == ["reset_status"] and version is not None:
            from kumo.volume.microversion import require

            require(version, "3.20", "Resetting a group's status")
            self._write(lambda uow: groups.reset_status(uow, ctx, group_id, body["reset_status"]))
            return
        if not isinstance(body, dict) or list(body) != ["delete"]:
            raise BadRequest(
                "There is no such group action (groups take delete, and reset_status from 3.20)."
            )
        data = body["delete"] if isinstance(body["delete"], dict) else {}
        from kumo.volume.common import boolean

        wipe = boolean(data.get("delete-volumes", False), "delete-volumes")
        self._write(lambda uow: groups.delete(uow, ctx, group_id, wipe))

    def list_group_snapshots(
        self,
        ctx: RequestContext,
        params: dict[str, str],
        *,
        detail: bool,
        with_project: bool = False,
    ) -> list[dict[str, Any]]:
        with self.db.read_session() as s:
            return [
                groups.snapshot_view(s, x, detail=detail, with_project=with_project)
                for x in groups.list_snapshots(s, ctx, params)
            ]

    def show_group_snapshot(
        self, ctx: RequestContext, ident: str, *, with_project: bool = False
    ) -> dict[str, Any]:
        with self.db.read_session() as s:
            gs = groups.load_snapshot(s, ctx, ident)
            return groups.snapshot_view(s, gs, with_project=with_project)

    def create_group_snapshot(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        gs = self._write(lambda uow: groups.create_snapshot(uow, self.settings, ctx, body))
        return {"id": gs.id, "name": gs.name, "group_type_id": gs.group_type_id}

    def delete_group_snapshot(self, ctx: RequestContext, ident: str) -> None:
        self._write(lambda uow: groups.delete_snapshot(uow, ctx, ident))

    # -- administration -----------------------------------------------------------------

    def availability_zones(self, ctx: RequestContext) -> list[dict[str, Any]]:
        with self.db.read_session() as s:
            return pools.zones(s, self.settings)

    def services(
        self, ctx: RequestContext, params: dict[str, str], version: Version
    ) -> list[dict[str, Any]]:
        with self.db.read_session() as s:
            return pools.services_view(s, self.settings, ctx, params, version)

    def set_service(self, ctx: RequestContext, action: str, body: Any) -> dict[str, Any]:
        return self._write(lambda uow: pools.set_enabled(uow, ctx, action, body))

    def failover_host(self, ctx: RequestContext, body: Any) -> list[str]:
        return self._write(lambda uow: replication.failover(uow, self.settings, ctx, body))

    def get_pools(self, ctx: RequestContext, detail: bool) -> list[dict[str, Any]]:
        with self.db.read_session() as s:
            return pools.pools_view(s, self.settings, ctx, detail)

    def list_messages(self, ctx: RequestContext, params: dict[str, str]) -> list[dict[str, Any]]:
        with self.db.read_session() as s:
            return [messages.view(m) for m in messages.listing(s, ctx, params)]

    def show_message(self, ctx: RequestContext, message_id: str) -> dict[str, Any]:
        with self.db.read_session() as s:
            return messages.view(messages.load(s, ctx, message_id))

    def delete_message(self, ctx: RequestContext, message_id: str) -> None:
        self._write(lambda uow: messages.remove(uow, ctx, message_id))

    # -- storage agents (internal API) --------------------------------------------------

    def register_storage_host(self, ctx: RequestContext, body: Any) -> dict[str, Any]:
        host = self._write(lambda uow: pools.register(uow, ctx, body))
        return {"host": host.host, "availability_zone": host.availability_zone}

    def storage_report(self, ctx: RequestContext, body: Any) -> list[str]:
        return self._write(lambda uow: reports.apply(uow, ctx, body))

    def attachment_report(self, ctx: RequestContext, body: Any) -> list[str]:
        """A compute host's outcomes of plugging and unplugging volumes."""
        return self._write(lambda uow: attachments.report(uow, ctx, body))


def _own_fields(view: dict[str, Any]) -> dict[str, Any]:
    """A snapshot as Cinder answers a create or an update: without the
    extended attributes that show and list carry."""
    return {k: v for k, v in view.items() if not k.startswith("os-extended-snapshot-attributes:")}
