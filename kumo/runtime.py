"""Everything a process of the control plane holds: settings, database, services."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kumo.compute.service import ComputeService
from kumo.config import Settings
from kumo.db.engine import Database
from kumo.identity.service import IdentityService
from kumo.image.service import ImageService
from kumo.network.service import NetworkService
from kumo.volume.service import VolumeService

if TYPE_CHECKING:
    from kumo.orchestration.service import OrchestrationService


@dataclass
class Runtime:
    settings: Settings
    db: Database
    identity: IdentityService
    network: NetworkService
    compute: ComputeService
    image: ImageService
    volume: VolumeService
    orchestration: OrchestrationService = field(init=False)

    @classmethod
    def open(cls, settings: Settings, *, migrate: bool = True) -> Runtime:
        db = Database(settings.resolved_database_url)
        if migrate:
            from kumo.db.migrate import upgrade

            upgrade(db)
        identity = IdentityService(db, settings)
        network = NetworkService(db, settings)
        return cls(
            settings=settings,
            db=db,
            identity=identity,
            network=network,
            compute=ComputeService(db, settings, network),
            image=ImageService(db, settings),
            volume=VolumeService(db, settings),
        )

    def __post_init__(self) -> None:
        from kumo.orchestration.service import OrchestrationService

        self.orchestration = OrchestrationService(self)

    def close(self) -> None:
        self.db.dispose()
