"""The matching indexes of one process, kept current from the database's change log.

One index per signal type: `PDQIndex` for Hamming signals (PDQ), `ExactIndex` for digests,
a frame index (a `PDQIndex` over every banked video frame) for vPDQ. Index ids are the
database's signal ids, so a hit maps straight back to bank content.

Freshness: `refresh()` applies the change log since the last applied sequence number; a
background thread calls it every `index_poll_seconds`, so a hash added by the CLI or another
server process is matchable within a fraction of a second, with no rebuild and no stall of
lookups (the indexes apply changes incrementally). Snapshots on disk make restarts fast: load
the snapshot, then apply the changes logged after it.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from vangnet.banks import service as bank_service
from vangnet.index.exact_index import ExactIndex
from vangnet.index.pdq_index import PDQIndex
from vangnet.signals.base import FrameHashes, IndexKind
from vangnet.signals.registry import get_signal_type, signal_types
from vangnet.signals.vpdq import FrameSet
from vangnet.store.models import ChangeOp

log = logging.getLogger(__name__)

FRAME_BITS = 20  # frame ids are signal_id << FRAME_BITS | frame position
SNAPSHOT_VERSION = 1


@dataclass
class FrameIndex:
    """Every unique frame of every banked video of one per-frame signal type, in one PDQ
    index; hit ids are ``signal_id << FRAME_BITS | key position`` in the video's `FrameSet`."""

    signal_type: str = "vpdq"
    pdq: PDQIndex = field(default_factory=lambda: PDQIndex.build([]))
    videos: dict[int, FrameSet] = field(default_factory=dict)

    def add(self, signal_id: int, value: str) -> None:
        self.remove(signal_id)
        cls = get_signal_type(self.signal_type)
        if not issubclass(cls, FrameHashes):
            raise TypeError(f"signal type {self.signal_type} has no frames")
        frames = FrameSet.of(cls.frames(value)[: (1 << FRAME_BITS) - 1])
        ids = [(signal_id << FRAME_BITS) | pos for pos in range(len(frames))]
        self.pdq.add(frames.hashes, ids)
        self.videos[signal_id] = frames

    def remove(self, signal_id: int) -> None:
        frames = self.videos.pop(signal_id, None)
        if frames:
            self.pdq.remove([(signal_id << FRAME_BITS) | pos for pos in range(len(frames))])

    def __len__(self) -> int:
        return len(self.videos)


@dataclass
class IndexStatus:
    signal_type: str
    kind: str
    size: int
    built_to: int
    present: bool


class SignalIndexes:
    """All indexes of this process. Thread-safe: lookups never wait for updates."""

    def __init__(self, engine: Engine, *, snapshot_dir: Path | None = None) -> None:
        self._engine = engine
        self._snapshot_dir = snapshot_dir
        self._write_lock = threading.Lock()
        self._seq = 0
        self._loaded = False
        self.hamming: dict[str, PDQIndex] = {}
        self.exact: dict[str, ExactIndex] = {}
        self.frames: dict[str, FrameIndex] = {}
        # Bank settings, reloaded with every refresh: lookups read them without a query.
        self.banks: dict[str, bank_service.BankView] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_snapshot = time.monotonic()

    # -- loading -------------------------------------------------------------------------
    @property
    def seq(self) -> int:
        return self._seq

    @property
    def loaded(self) -> bool:
        return self._loaded

    def load(self) -> None:
        """From the snapshot when there is a usable one, else from the database; then catch up."""
        with self._write_lock:
            if not self._load_snapshot():
                self._build_from_db()
            self._loaded = True
        self.refresh()

    def _build_from_db(self) -> None:
        with Session(self._engine) as session:
            seq = bank_service.last_change_seq(session)
            for name, cls in signal_types().items():
                rows = list(bank_service.current_signals(session, signal_type=name))
                ids = [row.signal_id for row in rows]
                values = [row.value for row in rows]
                if cls.index_kind is IndexKind.HAMMING:
                    self.hamming[name] = PDQIndex.build(values, ids)
                elif cls.index_kind is IndexKind.EXACT:
                    self.exact[name] = ExactIndex.build(
                        values, ids, hex_length=getattr(cls, "hex_length", None)
                    )
                else:
                    frame_index = FrameIndex(name)
                    for row in rows:
                        frame_index.add(row.signal_id, row.value)
                    self.frames[name] = frame_index
        self._seq = seq

    # -- change log ----------------------------------------------------------------------
    def refresh(self, *, batch: int = 50_000) -> int:
        """Apply every change logged since the last refresh and reload bank settings.
        Returns how many changes were applied."""
        applied = 0
        with self._write_lock:
            with Session(self._engine) as session:
                self.banks = {b.name: b for b in bank_service.list_banks(session)}
            while True:
                with Session(self._engine) as session:
                    changes = bank_service.changes_since(session, self._seq, limit=batch)
                if not changes:
                    break
                self._apply(changes)
                applied += len(changes)
                self._seq = changes[-1].seq
                if len(changes) < batch:
                    break
        return applied

    def _apply(self, changes: list[bank_service.IndexChange]) -> None:
        """Apply ``changes`` in order; an ``import`` entry adds every matchable signal of
        the published import it names (read in pages, as it stands now)."""
        segment: list[bank_service.IndexChange] = []
        for change in changes:
            if change.op is ChangeOp.IMPORT:
                self._apply_changes(segment)
                segment = []
                self._apply_import(change)
            else:
                segment.append(change)
        self._apply_changes(segment)

    def _apply_import(self, change: bank_service.IndexChange, *, page: int = 50_000) -> None:
        after = 0
        while True:
            with Session(self._engine) as session:
                rows = bank_service.import_signals(
                    session,
                    import_id=change.signal_id,
                    signal_type=change.signal_type,
                    after_id=after,
                    limit=page,
                )
            self._apply_changes(
                [
                    bank_service.IndexChange(
                        seq=change.seq,
                        op=ChangeOp.ADD,
                        signal_type=change.signal_type,
                        signal_id=row.signal_id,
                        bank_id=row.bank_id,
                        value=row.value,
                        created_at=change.created_at,
                    )
                    for row in rows
                ]
            )
            if len(rows) < page:
                return
            after = rows[-1].signal_id

    def _apply_changes(self, changes: list[bank_service.IndexChange]) -> None:
        # Group consecutive changes per signal type and operation to use batch updates.
        adds: dict[str, dict[int, str]] = {}
        removes: dict[str, set[int]] = {}
        for change in changes:
            name = change.signal_type
            if change.op == "add":
                removes.get(name, set()).discard(change.signal_id)
                adds.setdefault(name, {})[change.signal_id] = change.value
            else:
                adds.get(name, {}).pop(change.signal_id, None)
                removes.setdefault(name, set()).add(change.signal_id)
        known = signal_types()
        for name in set(adds) | set(removes):
            cls = known.get(name)
            if cls is None:
                log.warning("change log names unknown signal type %r; skipped", name)
                continue
            gone = sorted(removes.get(name, set()))
            new = adds.get(name, {})
            if cls.index_kind is IndexKind.HAMMING:
                index = self.hamming.setdefault(name, PDQIndex.build([]))
                if gone:
                    index.remove(gone)
                if new:
                    index.add(list(new.values()), list(new.keys()))
            elif cls.index_kind is IndexKind.EXACT:
                exact = self.exact.get(name)
                if exact is None:  # digests of this type have their own length (md5: 32)
                    exact = self.exact[name] = ExactIndex.build(
                        [], [], hex_length=getattr(cls, "hex_length", None)
                    )
                if gone or new:
                    exact.remove([*gone, *new.keys()])
                if new:
                    exact.add(list(new.values()), list(new.keys()))
            else:
                frames = self.frames.setdefault(name, FrameIndex(name))
                for signal_id in gone:
                    frames.remove(signal_id)
                for signal_id, value in new.items():
                    frames.add(signal_id, value)

    # -- snapshots -----------------------------------------------------------------------
    def save_snapshot(self) -> Path | None:
        """Write every index to the snapshot folder (atomically, per index)."""
        if self._snapshot_dir is None:
            return None
        with self._write_lock:
            folder = self._snapshot_dir
            folder.mkdir(parents=True, exist_ok=True)
            for name, index in self.hamming.items():
                index.save(folder / f"{name}.pdqidx")
            for name, exact in self.exact.items():
                exact.save(folder / f"{name}.exactidx")
            manifest = {
                "version": SNAPSHOT_VERSION,
                "seq": self._seq,
                "hamming": sorted(self.hamming),
                "exact": sorted(self.exact),
                "database": self._engine.url.render_as_string(hide_password=True),
            }
            # one temporary name per process: several server workers share the folder
            tmp = folder / f"manifest.json.{os.getpid()}.tmp"
            tmp.write_text(json.dumps(manifest))
            tmp.replace(folder / "manifest.json")
        self._last_snapshot = time.monotonic()
        return folder

    def _load_snapshot(self) -> bool:
        folder = self._snapshot_dir
        if folder is None or not (folder / "manifest.json").is_file():
            return False
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
            if manifest.get("version") != SNAPSHOT_VERSION:
                return False
            if manifest.get("database") != self._engine.url.render_as_string(hide_password=True):
                return False
            with Session(self._engine) as session:
                if bank_service.last_change_seq(session) < int(manifest["seq"]):
                    return False  # the database was reset since the snapshot
            hamming = {n: PDQIndex.load(folder / f"{n}.pdqidx") for n in manifest["hamming"]}
            exact = {n: ExactIndex.load(folder / f"{n}.exactidx") for n in manifest["exact"]}
        except Exception as error:  # a bad snapshot is never fatal: rebuild from the database
            log.warning("index snapshot in %s not usable (%s); rebuilding", folder, error)
            return False
        self.hamming, self.exact = hamming, exact
        # Video frame indexes are small; always rebuilt from the database.
        with Session(self._engine) as session:
            for name, cls in signal_types().items():
                if cls.index_kind is IndexKind.FRAMES:
                    frame_index = FrameIndex(name)
                    for row in bank_service.current_signals(session, signal_type=name):
                        frame_index.add(row.signal_id, row.value)
                    self.frames[name] = frame_index
        self._seq = int(manifest["seq"])
        return True

    # -- background refresh --------------------------------------------------------------
    def start(self, *, poll_seconds: float, snapshot_seconds: float) -> None:
        if self._thread is not None:
            return
        self._stop.clear()

        def run() -> None:
            while not self._stop.wait(poll_seconds):
                try:
                    self.refresh()
                    if (
                        self._snapshot_dir is not None
                        and time.monotonic() - self._last_snapshot > snapshot_seconds
                    ):
                        self.save_snapshot()
                except Exception:  # keep serving; the next poll retries
                    log.exception("index refresh failed")

        self._thread = threading.Thread(target=run, name="vangnet-index-refresh", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    # -- status --------------------------------------------------------------------------
    def status(self) -> list[IndexStatus]:
        rows = []
        for name, cls in signal_types().items():
            size: int
            if cls.index_kind is IndexKind.HAMMING:
                size = len(self.hamming[name]) if name in self.hamming else 0
            elif cls.index_kind is IndexKind.EXACT:
                size = len(self.exact[name]) if name in self.exact else 0
            else:
                size = len(self.frames[name]) if name in self.frames else 0
            rows.append(IndexStatus(name, cls.index_kind.value, size, self._seq, self._loaded))
        return rows

    def status_dict(self) -> dict[str, Any]:
        return {
            s.signal_type: {"present": s.present, "built_to": s.built_to, "size": s.size}
            for s in self.status()
        }
