"""The alert journal: every live alert decision (a match alert's, or a review-now alert's
qualifying samples) is on disk before its database write.

A decision is appended (and fsynced) to this process's journal file under
``$VANGNET_HOME/live-journal/`` before the monitor writes its alert row; once the row is
committed a ``done`` line follows. A write that fails (database locked, unreachable) stays
pending: the monitor retries it with backoff until it lands, and a process that dies with
pending entries leaves its file behind, which the next monitor to start (on the same home)
adopts and replays. Replaying is safe: `vangnet.live.alerts.record` extends an existing
alert instead of writing a second one.

Each file is held with an exclusive ``flock`` while its process runs, so a running monitor's
file is never adopted by another one.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from vangnet.live.decision import Decision, Rule, SampleMatch
from vangnet.match.results import Match
from vangnet.media.regions.edges import Box

log = logging.getLogger(__name__)

JOURNAL_DIR = "live-journal"
SUFFIX = ".jsonl"


@dataclass(frozen=True)
class PendingAlert:
    """Everything `vangnet.live.alerts.record` needs, in a form that survives a restart."""

    key: str
    stream_id: int
    decision: Decision
    pdq_by_time: dict[float, tuple[str, int]]
    captured_at: dict[float, datetime]
    actions: list[str]
    scores: dict[str, float] | None

    def to_json(self) -> dict[str, Any]:
        d = self.decision
        return {
            "op": "alert",
            "key": self.key,
            "stream_id": self.stream_id,
            "bank": d.bank,
            "content_id": d.content_id,
            "rule": [d.rule.min_frames, d.rule.window],
            "first": d.first,
            "samples": [[s.stream_time, s.match.to_dict()] for s in d.samples],
            "pdq": [[t, pdq, q] for t, (pdq, q) in self.pdq_by_time.items()],
            "captured_at": [[t, at.isoformat()] for t, at in self.captured_at.items()],
            "actions": self.actions,
            "scores": self.scores,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PendingAlert:
        rule = Rule(int(data["rule"][0]), int(data["rule"][1]))
        samples = tuple(SampleMatch(float(t), _match(m)) for t, m in data["samples"])
        decision = Decision(
            str(data["bank"]), int(data["content_id"]), rule, samples, bool(data["first"])
        )
        return cls(
            key=str(data["key"]),
            stream_id=int(data["stream_id"]),
            decision=decision,
            pdq_by_time={float(t): (str(p), int(q)) for t, p, q in data["pdq"]},
            captured_at={float(t): datetime.fromisoformat(at) for t, at in data["captured_at"]},
            actions=[str(a) for a in data["actions"]],
            scores=data.get("scores"),
        )


@dataclass(frozen=True)
class ReviewSample:
    """One qualifying sample of a review-now alert, as it is recorded (`AlertFrame`)."""

    stream_time: float
    captured_at: datetime
    pdq: str
    quality: int
    value: float  # the fused priority
    video_call: float
    summary: str
    scores: dict[str, float]
    video_call_reasons: tuple[str, ...] = ()
    parts: tuple[dict[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "stream_time": self.stream_time,
            "captured_at": self.captured_at.isoformat(),
            "pdq": self.pdq,
            "quality": self.quality,
            "value": self.value,
            "video_call": self.video_call,
            "summary": self.summary,
            "scores": self.scores,
            "video_call_reasons": list(self.video_call_reasons),
            "parts": list(self.parts),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReviewSample:
        return cls(
            stream_time=float(data["stream_time"]),
            captured_at=datetime.fromisoformat(data["captured_at"]),
            pdq=str(data["pdq"]),
            quality=int(data["quality"]),
            value=float(data["value"]),
            video_call=float(data["video_call"]),
            summary=str(data["summary"]),
            scores={str(k): float(v) for k, v in dict(data["scores"]).items()},
            video_call_reasons=tuple(str(r) for r in data.get("video_call_reasons", [])),
            parts=tuple(dict(p) for p in data.get("parts", [])),
        )


@dataclass(frozen=True)
class PendingReviewNow:
    """Everything `vangnet.live.review_now_alerts.record` needs to write or extend a
    stream's review-now alert, in a form that survives a restart: the ``rule`` (its text)
    and the likely ``samples`` it counted, oldest first (the last one qualified)."""

    key: str
    stream_id: int
    rule: str
    samples: tuple[ReviewSample, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "op": "review_now",
            "key": self.key,
            "stream_id": self.stream_id,
            "rule": self.rule,
            "samples": [s.to_json() for s in self.samples],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PendingReviewNow:
        return cls(
            key=str(data["key"]),
            stream_id=int(data["stream_id"]),
            rule=str(data["rule"]),
            samples=tuple(ReviewSample.from_json(s) for s in data["samples"]),
        )


#: A journaled write: a match alert's decision or a review-now alert's samples.
Pending = PendingAlert | PendingReviewNow


def _match(data: dict[str, Any]) -> Match:
    """A `Match` from its `Match.to_dict` (its region back to a `Box`)."""
    region = data.get("region")
    if isinstance(region, dict):
        data = {**data, "region": Box(**{k: int(region[k]) for k in ("x", "y", "w", "h")})}
    return Match(**data)


def new_key() -> str:
    return uuid.uuid4().hex


def _read(handle: IO[bytes]) -> dict[str, Pending]:
    """The entries of a journal file that have no ``done`` line (a torn last line is
    skipped: it was never acknowledged)."""
    handle.seek(0)
    pending: dict[str, Pending] = {}
    for raw in handle.read().splitlines():
        try:
            data = json.loads(raw)
            if data["op"] in ("alert", "review_now"):
                entry: Pending = (
                    PendingAlert.from_json(data)
                    if data["op"] == "alert"
                    else PendingReviewNow.from_json(data)
                )
                pending[entry.key] = entry
            elif data["op"] == "done":
                pending.pop(str(data["key"]), None)
        except (ValueError, KeyError, TypeError) as error:
            log.warning("skipped an unreadable alert journal line: %s", error)
    return pending


class AlertJournal:
    """This process's journal file, plus the files of processes that died, adopted."""

    def __init__(self, home: Path) -> None:
        self.folder = home / JOURNAL_DIR
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.path = self.folder / f"{os.getpid()}-{uuid.uuid4().hex[:8]}{SUFFIX}"
        self._lock = threading.Lock()
        self._pending: dict[str, Pending] = {}
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        self._file: IO[bytes] = os.fdopen(fd, "a+b")
        fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)

    # -- writing ---------------------------------------------------------------------------
    def _append(self, data: dict[str, Any], *, sync: bool) -> None:
        self._file.write(json.dumps(data, separators=(",", ":")).encode() + b"\n")
        self._file.flush()
        if sync:
            os.fsync(self._file.fileno())

    def add(self, entry: Pending) -> None:
        """Record ``entry`` durably (fsync) before its database write is tried."""
        with self._lock:
            self._append(entry.to_json(), sync=True)
            self._pending[entry.key] = entry

    def done(self, key: str) -> None:
        """The entry's alert row is committed; once nothing is pending, the file is emptied."""
        with self._lock:
            if self._pending.pop(key, None) is None:
                return
            if self._pending:
                self._append({"op": "done", "key": key}, sync=False)
            else:
                self._file.truncate(0)
                os.fsync(self._file.fileno())

    def pending(self) -> list[Pending]:
        with self._lock:
            return list(self._pending.values())

    def __len__(self) -> int:
        with self._lock:
            return len(self._pending)

    # -- adopting the files of processes that stopped --------------------------------------
    def adopt(self) -> list[Pending]:
        """Take over the pending entries of every journal file no running process holds:
        they are copied (fsynced) into this file before the old file is removed."""
        adopted: list[Pending] = []
        for path in sorted(self.folder.glob(f"*{SUFFIX}")):
            if path == self.path:
                continue
            try:
                handle = path.open("r+b")
            except FileNotFoundError:
                continue  # adopted by another process meanwhile
            with handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # its process is running
                entries = _read(handle)
                with self._lock:
                    for entry in entries.values():
                        if entry.key not in self._pending:
                            self._append(entry.to_json(), sync=False)
                            self._pending[entry.key] = entry
                            adopted.append(entry)
                    os.fsync(self._file.fileno())
                path.unlink(missing_ok=True)
        if adopted:
            log.warning("replaying %d alert(s) a stopped process had not written", len(adopted))
        return adopted

    def close(self) -> None:
        """Release the file: removed when nothing is pending, kept (for the next process to
        adopt) otherwise."""
        with self._lock:
            if self._file.closed:
                return
            if not self._pending:
                self.path.unlink(missing_ok=True)
            self._file.close()
