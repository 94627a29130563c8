"""Keeping an alert's frames as evidence, off the processing path: a queue and one thread
that encodes and encrypts them into the vault (`vangnet.evidence.frames.preserve`).

Encoding and encrypting full frames takes tens of milliseconds each and must not hold up the
samples of every other stream. The queue holds `EVIDENCE_QUEUE` jobs (one alert's frames
each); beyond, a job is logged and skipped (the alert itself is already durable).
"""

from __future__ import annotations

import logging
import queue
import threading
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from vangnet.config import Settings
from vangnet.evidence.frames import EvidenceFrame, preserve
from vangnet.live.runtime import StreamRuntime
from vangnet.live.samples import Sample
from vangnet.store.vault import Vault

log = logging.getLogger(__name__)

#: Evidence jobs (one alert's frames each) waiting to be encrypted; beyond, logged and skipped.
EVIDENCE_QUEUE = 256


class EvidenceKeeper:
    """Preserves queued frames with ``engine`` (a writer) in the vault of ``settings``
    (its key is loaded on first use)."""

    def __init__(self, engine: Engine, *, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings
        self._vault: Vault | None = None
        #: (stream id, metadata, alert id, frames) for the evidence thread; None stops it.
        self._jobs: queue.Queue[tuple[int, dict[str, Any], int, list[EvidenceFrame]] | None] = (
            queue.Queue(maxsize=EVIDENCE_QUEUE)
        )
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="vangnet-evidence", daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Preserve what is queued, then stop."""
        if self._thread is not None:
            self._jobs.put(None)
            self._thread.join(timeout=60)

    def keep(
        self, runtime: StreamRuntime, alert_id: int, samples: list[Sample], matched: set[float]
    ) -> None:
        """Queue ``samples`` (those that can be kept) to be preserved for alert ``alert_id``;
        ``matched`` are the stream times of the samples that matched."""
        frames = [
            EvidenceFrame(
                stream_time=s.stream_time,
                captured_at=datetime.fromtimestamp(s.received_at, UTC),
                media_type=s.media_type,
                encode=s.evidence,
                matched=s.stream_time in matched,
                pdq=s.pdq,
                signals=dict(s.signals),
            )
            for s in samples
            if s.evidence is not None
        ]
        if not frames:
            return
        try:
            self._jobs.put_nowait((runtime.id, dict(runtime.metadata), alert_id, frames))
        except queue.Full:
            log.error("evidence queue full: %d frames of alert %d not kept", len(frames), alert_id)

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            stream_id, metadata, alert_id, frames = job
            try:
                if self._vault is None:
                    self._vault = Vault.from_settings(self.settings)
                preserve(
                    self.engine,
                    self._vault,
                    alert_id=alert_id,
                    stream_id=stream_id,
                    metadata=metadata,
                    frames=frames,
                    settings=self.settings,
                )
            except Exception:  # the alert is already durable; evidence failure is logged
                log.exception("could not preserve evidence for alert %d", alert_id)
