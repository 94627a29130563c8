"""Writing live alerts durably: journaled (fsync) first, then written to the database.
Match alerts (`vangnet.live.alerts.record`) and review-now alerts
(`vangnet.live.review_now_alerts.record`) go the same way.

A write that fails (database locked or unreachable) is retried with backoff in a thread of
its own until it lands; while earlier writes wait, a new one queues behind them at once, so
the processor never waits for a lock per alert. What has not landed when the writer closes
stays in the on-disk journal, and the next process (`AlertWriter.start`) writes it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from vangnet.config import Settings
from vangnet.live import alerts as alert_service
from vangnet.live import review_now_alerts
from vangnet.live.journal import AlertJournal, Pending, PendingAlert
from vangnet.live.runtime import StreamRuntime
from vangnet.live.samples import Sample
from vangnet.store.db import bounded_writer

log = logging.getLogger(__name__)


@dataclass
class AlertContext:
    """What the monitor keeps in memory about an alert decision until its row is written:
    the stream and the samples around the decision (its evidence)."""

    runtime: StreamRuntime
    stream_time: float
    by_time: dict[float, Sample]
    before: list[Sample]


@dataclass
class RetryItem:
    entry: Pending
    context: AlertContext | None  # None: replayed from a journal a stopped process left
    attempts: int = 0
    next_at: float = 0.0


#: Called once an alert's row is committed (events, webhooks, evidence follow from it).
Written = Callable[[Pending, AlertContext | None, alert_service.Recorded], None]


class AlertWriter:
    """Journals and writes alerts; ``on_written`` runs after each row is committed.
    ``lock`` guards the per-stream alert bookkeeping (shared with the processor)."""

    def __init__(
        self, engine: Engine, *, settings: Settings, lock: threading.RLock, on_written: Written
    ) -> None:
        self.settings = settings
        #: Alert writes wait briefly for a lock, then go to the retry queue (journaled).
        self._engine = bounded_writer(engine, settings.live_alert_wait_seconds)
        self._lock = lock
        self._on_written = on_written
        self._journal: AlertJournal | None = None
        self._retry: dict[str, RetryItem] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def journal(self) -> AlertJournal:
        if self._journal is None:
            self._journal = AlertJournal(self.settings.home)
        return self._journal

    @property
    def pending(self) -> int:
        """Alert writes waiting for the database (each is in the on-disk journal)."""
        return len(self._retry)

    def start(self) -> None:
        """Queue the alerts a stopped process had not written, and start retrying."""
        for entry in self.journal.adopt():
            self._retry[entry.key] = RetryItem(entry, None)
        self._thread = threading.Thread(
            target=self._retry_loop, name="vangnet-alert-retry", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop retrying after one last try; what fails stays journaled."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.settings.live_alert_wait_seconds + 5)
        if self._thread is None or not self._thread.is_alive():
            self._retry_pending(final=True)  # one last try; what fails stays journaled
        if self._journal is not None:
            self._journal.close()  # kept on disk while entries are pending

    def write(self, entry: Pending, context: AlertContext | None) -> None:
        """Write the alert of ``entry``: journaled (fsync) first, then written; a write that
        fails (database locked or unreachable) is retried with backoff until it lands."""
        self.journal.add(entry)
        # While earlier writes wait for the database, queue this one behind them at once:
        # the processor does not wait for a lock per alert while the database is busy.
        recorded = None if self._retry else self._try_write(entry)
        if recorded is None:
            with self._lock:
                self._retry[entry.key] = RetryItem(entry, context, attempts=1)
                self._retry[entry.key].next_at = time.monotonic() + 0.2
                if context is not None:
                    context.runtime.alerts_pending += 1
                    context.runtime.dirty = True
            self._wake.set()
            return
        self._on_written(entry, context, recorded)

    def _record(self, session: Session, entry: Pending) -> alert_service.Recorded:
        if not isinstance(entry, PendingAlert):
            return review_now_alerts.record(session, entry, settings=self.settings)
        return alert_service.record(
            session,
            stream_id=entry.stream_id,
            decision=entry.decision,
            pdq_by_time=entry.pdq_by_time,
            captured_at=entry.captured_at,
            actions=entry.actions,
            scores=entry.scores,
            settings=self.settings,
        )

    def _try_write(self, entry: Pending) -> alert_service.Recorded | None:
        try:
            with Session(self._engine) as session:
                recorded = self._record(session, entry)
                session.commit()
        except SQLAlchemyError as error:
            what = (
                f"{entry.decision.bank} item {entry.decision.content_id}"
                if isinstance(entry, PendingAlert)
                else "review now"
            )
            log.warning(
                "alert of stream %d (%s) not written yet, will retry: %s",
                entry.stream_id,
                what,
                type(error.orig if isinstance(error, DBAPIError) else error).__name__,
            )
            return None
        self.journal.done(entry.key)
        return recorded

    def _retry_pending(self, *, final: bool = False) -> None:
        now = time.monotonic()
        for key, item in list(self._retry.items()):
            if item.next_at > now and not final:
                continue
            recorded = self._try_write(item.entry)
            if recorded is None:
                if final:  # still busy: the rest stay journaled for the next process
                    return
                item.attempts += 1
                delay = min(self.settings.live_alert_retry_max_seconds, 0.2 * 2**item.attempts)
                item.next_at = time.monotonic() + delay
                if item.attempts % 10 == 0:
                    log.error("alert write still failing after %d attempts", item.attempts)
                continue
            with self._lock:
                self._retry.pop(key, None)
                if item.context is not None:
                    item.context.runtime.alerts_pending -= 1
            self._on_written(item.entry, item.context, recorded)

    def _retry_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=0.1)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self._retry_pending()
            except Exception:  # keep retrying; the entries stay journaled
                log.exception("alert retry failed")
