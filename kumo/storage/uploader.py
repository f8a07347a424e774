"""Volumes uploaded into images (``os-volume_upload_image``), one thread each.

Each upload converts its source (the volume's file, or the point-in-time
copy the storage daemon took of an attached volume) into the image's disk
format beside the pool's files, then streams that file to the API, which
writes it into the image as the user who asked (``kumo.volume.uploads``).
The data passes through memory a MiB at a time. Either way the temporary
files go; a failure tells the API (the image is killed, the volume goes
back to its status with the reason as a user message).

An upload is started once per image: ``known`` stays true from the start
until the volume is seen out of ``uploading`` (``forget``), so a pass that
runs before the watch brings the volume's new status does not start it
again. An agent restarted half-way starts it again: the API answers 4xx if
the image is no longer waiting for data, and the failure is reported. A
failure that cannot be reported (the API is away) lets a later pass try
the whole upload again.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

import httpx

from kumo.agent.client import ApiClient, UploadRefused
from kumo.storage import qemu

log = logging.getLogger("kumo.storage")


@dataclass(frozen=True)
class Work:
    volume_id: str
    image_id: str
    source: Path
    disk_format: str
    """qemu-img's name of the image's format (``vpc`` for vhd)."""
    converted: Path
    shared: bool = False
    """The source is open in the storage daemon: read it without its lock."""
    copied: Path | None = None
    """A point-in-time copy made for this upload (removed after it)."""


class Uploads:
    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self._lock = threading.Lock()
        self._started: set[str] = set()
        self.threads: dict[str, threading.Thread] = {}

    def known(self, image_id: str) -> bool:
        with self._lock:
            return image_id in self._started

    def forget(self, uploading: set[str]) -> None:
        """Keep only the images whose volume is still ``uploading``."""
        with self._lock:
            self._started &= uploading
            for image_id in [i for i, t in self.threads.items() if not t.is_alive()]:
                del self.threads[image_id]

    def start(self, work: Work) -> None:
        with self._lock:
            if work.image_id in self._started:
                return
            self._started.add(work.image_id)
        thread = threading.Thread(target=self.run, args=(work,), daemon=True,
                                  name=f"upload-{work.image_id[:8]}")  # fmt: skip
        self.threads[work.image_id] = thread
        thread.start()

    def fail(self, image_id: str, error: str) -> None:
        """Tell the API the upload cannot be made (once)."""
        with self._lock:
            if image_id in self._started:
                return
            self._started.add(image_id)
        self._abandon(image_id, error)

    def run(self, work: Work) -> None:
        try:
            qemu.convert(work.source, work.converted, work.disk_format, shared=work.shared)
            log.info("volume %s converted to %s (%d bytes); uploading into image %s",
                     work.volume_id, work.disk_format, work.converted.stat().st_size,
                     work.image_id)  # fmt: skip
            self.client.upload_volume_image(work.image_id, work.converted)
        except UploadRefused as exc:
            log.error("volume %s: upload refused: %s", work.volume_id, exc)
            self._abandon(work.image_id, str(exc))  # 404 when the API ended it already
        except (qemu.QemuError, OSError, httpx.HTTPError) as exc:
            log.error("volume %s: upload into image %s failed: %s", work.volume_id,
                      work.image_id, exc)  # fmt: skip
            self._abandon(work.image_id, str(exc))
        else:
            log.info("volume %s uploaded into image %s", work.volume_id, work.image_id)
        finally:
            work.converted.unlink(missing_ok=True)
            if work.copied is not None:
                work.copied.unlink(missing_ok=True)

    def _abandon(self, image_id: str, error: str) -> None:
        try:
            self.client.abandon_volume_upload(image_id, error)
        except (httpx.HTTPError, OSError) as exc:
            log.warning("reporting the failed upload into image %s: %s (the upload is tried "
                        "again)", image_id, exc)  # fmt: skip
            with self._lock:
                self._started.discard(image_id)
