"""The matching indexes of one process, kept current from the database's change log.

One index per installed signal type, of the class the type names (`SignalType.index`,
resolved by `vangnet.index.registry`): the PDQ multi-index for PDQ, the digest index for
MD5/SHA-1/SHA-256, the frame index for vPDQ, and whatever a plug-in asks for. Index ids are
the database's signal ids, so a hit maps straight back to bank content.

Isolation: a signal type whose plug-in failed to load, names an unknown index, or whose index
fails to build or to apply a change is marked failed (`failed`, the index status, the log,
the metrics) together with the banks that hold its values; every other index keeps serving.
Lookups of a failed type raise `IndexUnavailableError` (HTTP 503).

Feature indexes: beside the index of a type whose wider net verifies candidates with local
features (`FEATURE_INDEXED`: PDQ), a second index of the same class holds only the signals
whose banked item keeps those features (`vangnet.banks.features`): the matcher searches it,
not the whole index, to the wider radius (`vangnet.match.service.Matcher`), so hash-only
banks cost nothing there however large they are. It follows the same change log (an entry
adds a signal to it when its item holds features then: an item given features later is
logged again, `vangnet.banks.contents.add_content`), is saved in the same snapshots and
fails with its type.

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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from vangnet.banks.bank import list_banks
from vangnet.banks.changes import changes_since, last_change_seq
from vangnet.banks.features import import_has_features, signals_with_features
from vangnet.banks.matchable import current_signals, import_pages
from vangnet.banks.views import BankView, IndexChange
from vangnet.errors import VangnetError
from vangnet.index.base import SignalIndex, SnapshotUnsupported
from vangnet.index.registry import get_index
from vangnet.signals.base import SignalType
from vangnet.signals.features import KIND as FEATURES_KIND
from vangnet.signals.registry import failed_signal_types, signal_types
from vangnet.store.models import Bank, ChangeOp, ContentSignal

log = logging.getLogger(__name__)

SNAPSHOT_VERSION = 2

#: Signal types with a feature index (the wider net's candidates), and the kind of local
#: features (`vangnet.banks.features`) an item must hold to be in it.
FEATURE_INDEXED: dict[str, str] = {"pdq": FEATURES_KIND}


class _ReadError(Exception):
    """Reading a published import failed (its cause is re-raised, not blamed on the index)."""


class IndexUnavailableError(VangnetError):
    """The index of a signal type is not serving (its plug-in failed to load or build)."""

    code = "index_unavailable"
    status = 503


@dataclass
class IndexStatus:
    signal_type: str
    kind: str  # the index's registry name
    size: int
    built_to: int
    present: bool
    error: str | None = None
    banks: list[str] = field(default_factory=list)  # banks holding values of a failed type


class SignalIndexes:
    """All indexes of this process. Thread-safe: lookups never wait for updates."""

    #: signals read per query when adding a published import (they are added all at once)
    import_page = 50_000

    def __init__(self, engine: Engine, *, snapshot_dir: Path | None = None) -> None:
        self._engine = engine
        self._snapshot_dir = snapshot_dir
        self._write_lock = threading.Lock()
        self._seq = 0
        self._loaded = False
        self.indexes: dict[str, SignalIndex] = {}
        #: signal type -> the index of its signals whose item keeps local features
        self.featured: dict[str, SignalIndex] = {}
        #: signal type -> why its index is not serving
        self.failed: dict[str, str] = {}
        # Bank settings, reloaded with every refresh: lookups read them without a query.
        self.banks: dict[str, BankView] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_snapshot = time.monotonic()
        #: signal types whose index claims snapshots but raised `SnapshotUnsupported`
        self._snapshotless: set[str] = set()

    # -- access --------------------------------------------------------------------------
    def get(self, signal_type: str) -> SignalIndex | None:
        """The serving index of ``signal_type`` (None before `load`); raises
        `IndexUnavailableError` when it failed."""
        why = self.failed.get(signal_type)
        if why is not None:
            raise IndexUnavailableError(f"the {signal_type} index is not available: {why}")
        return self.indexes.get(signal_type)

    def get_featured(self, signal_type: str) -> SignalIndex | None:
        """The feature index of ``signal_type``: its signals whose banked item keeps the local
        features the wider net verifies with (None for a type without one, or before `load`);
        raises `IndexUnavailableError` when the type failed."""
        self.get(signal_type)
        return self.featured.get(signal_type)

    def _fail(self, signal_type: str, error: BaseException | str) -> None:
        why = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
        if self.failed.get(signal_type) != why:
            log.error("index of signal type %r is not serving: %s", signal_type, why)
        self.failed[signal_type] = why
        self.indexes.pop(signal_type, None)
        self.featured.pop(signal_type, None)

    def _index_class(self, cls: type[SignalType]) -> type[SignalIndex]:
        return get_index(cls.index)

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
            self.failed = dict(failed_signal_types())
            with Session(self._engine) as session:
                seq = last_change_seq(session)
            loaded = self._load_snapshot()
            if loaded is None:
                self._seq = seq
            for name, cls in signal_types().items():
                if loaded is None or name not in loaded:
                    self._build_one(name, cls)
                elif name in FEATURE_INDEXED and name not in self.featured:
                    self._build_featured(name, cls)  # a snapshot made without it
            self._loaded = True
        self.refresh()

    def _build_one(self, name: str, cls: type[SignalType]) -> None:
        try:
            index_cls = self._index_class(cls)
            with Session(self._engine) as session:
                rows = list(current_signals(session, signal_type=name))
            index = index_cls.build(cls, [r.value for r in rows], [r.signal_id for r in rows])
        except Exception as error:  # one broken plug-in never stops the others
            self._fail(name, error)
            return
        self.indexes[name] = index
        if name in FEATURE_INDEXED:
            self._build_featured(name, cls)

    def _build_featured(self, name: str, cls: type[SignalType]) -> None:
        """The feature index of ``name`` from the database (its type fails if it cannot)."""
        try:
            with Session(self._engine) as session:
                rows = list(
                    current_signals(session, signal_type=name, with_features=FEATURE_INDEXED[name])
                )
            self.featured[name] = self._index_class(cls).build(
                cls, [r.value for r in rows], [r.signal_id for r in rows]
            )
        except Exception as error:
            self._fail(name, error)

    # -- change log ----------------------------------------------------------------------
    def refresh(self, *, batch: int = 50_000) -> int:
        """Apply every change logged since the last refresh and reload bank settings.
        Returns how many changes were applied."""
        applied = 0
        with self._write_lock:
            with Session(self._engine) as session:
                self.banks = {b.name: b for b in list_banks(session)}
            while True:
                with Session(self._engine) as session:
                    changes = changes_since(session, self._seq, limit=batch)
                if not changes:
                    break
                self._apply(changes)
                applied += len(changes)
                self._seq = changes[-1].seq
                if len(changes) < batch:
                    break
        return applied

    def _apply(self, changes: list[IndexChange]) -> None:
        """Apply ``changes`` in order; an ``import`` entry adds every matchable signal of
        the published import it names (read in pages, as it stands now)."""
        segment: list[IndexChange] = []
        for change in changes:
            if change.op is ChangeOp.IMPORT:
                self._apply_changes(segment)
                segment = []
                self._apply_import(change)
            else:
                segment.append(change)
        self._apply_changes(segment)

    def _apply_import(self, change: IndexChange) -> None:
        """Add a published import's matchable signals, read in pages (one streamed query), to
        its type's index in one bulk add (`SignalIndex.add_pages`): one merge into the index,
        not one per page.
        A database error while reading propagates (the entry is applied again next time);
        an error of the index marks its type failed, as for any change."""
        name = change.signal_type
        cls = signal_types().get(name)
        if cls is None:
            if name not in self.failed:
                log.warning("change log names unknown signal type %r; skipped", name)
            return
        if name in self.failed:
            return  # rebuilt from the database once its plug-in is fixed and restarted
        page = self.import_page

        kind = FEATURE_INDEXED.get(name)

        def pages(featured: bool = False) -> Iterator[tuple[list[str], list[int]]]:
            try:
                with Session(self._engine) as session:
                    for ids, values in import_pages(
                        session,
                        import_id=change.signal_id,
                        signal_type=name,
                        page=page,
                        with_features=kind if featured else None,
                    ):
                        yield values, ids
            except Exception as error:
                raise _ReadError from error

        if kind is not None:  # read before any index changes (an error: applied again)
            with Session(self._engine) as session:
                has_features = import_has_features(session, change.signal_id, kind)
        try:
            index = self.indexes.get(name)
            if index is None:
                index = self.indexes[name] = self._index_class(cls).build(cls, [], [])
            index.add_pages(pages())
            if kind is not None:
                featured = self._featured_of(name, cls)
                if has_features:  # an import of hash lists has none: not read again
                    featured.add_pages(pages(featured=True))
        except _ReadError as error:
            assert error.__cause__ is not None
            raise error.__cause__ from None
        except Exception as error:  # isolate: the other types' changes still apply
            self._fail(name, error)

    def _apply_changes(self, changes: list[IndexChange]) -> None:
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
        # which added signals the feature indexes take, read before any index changes (a
        # database error propagates: the changes are applied again next time)
        verifiable: dict[str, set[int]] = {}
        for name, kind in FEATURE_INDEXED.items():
            if adds.get(name) and name in known and name not in self.failed:
                with Session(self._engine) as session:
                    verifiable[name] = signals_with_features(session, adds[name], kind)
        for name in set(adds) | set(removes):
            cls = known.get(name)
            if cls is None:
                if name not in self.failed:
                    log.warning("change log names unknown signal type %r; skipped", name)
                continue
            if name in self.failed:
                continue  # rebuilt from the database once its plug-in is fixed and restarted
            try:
                index = self.indexes.get(name)
                if index is None:
                    index = self.indexes[name] = self._index_class(cls).build(cls, [], [])
                gone = sorted(removes.get(name, set()))
                new = adds.get(name, {})
                if gone:
                    index.remove(gone)
                if new:
                    index.add(list(new.values()), list(new.keys()))
                if name in FEATURE_INDEXED:
                    featured = self._featured_of(name, cls)
                    if gone:
                        featured.remove(gone)
                    taken = sorted(verifiable.get(name, set()))
                    if taken:
                        featured.add([new[i] for i in taken], taken)
            except Exception as error:  # isolate: the other types' changes still apply
                self._fail(name, error)

    def _featured_of(self, name: str, cls: type[SignalType]) -> SignalIndex:
        featured = self.featured.get(name)
        if featured is None:
            featured = self.featured[name] = self._index_class(cls).build(cls, [], [])
        return featured

    # -- snapshots -----------------------------------------------------------------------
    def _snapshot_file(self, signal_type: str, index_name: str, *, featured: bool = False) -> Path:
        assert self._snapshot_dir is not None
        part = ".featured" if featured else ""
        return self._snapshot_dir / f"{signal_type}{part}.{index_name}.idx"

    def _no_snapshot(self, signal_type: str, index_name: str, error: SnapshotUnsupported) -> None:
        """An index that says it keeps snapshots but has none: left out of the snapshot and
        built from the database (said once per signal type: it is the plug-in's bug)."""
        if signal_type not in self._snapshotless:
            self._snapshotless.add(signal_type)
            log.warning(
                "index %r of signal type %r claims snapshots but has none (%s): it is built "
                "from the database at start",
                index_name,
                signal_type,
                error.message,
            )

    def save_snapshot(self) -> Path | None:
        """Write every index that has snapshots to the snapshot folder (atomically, per index)."""
        if self._snapshot_dir is None:
            return None
        with self._write_lock:
            folder = self._snapshot_dir
            folder.mkdir(parents=True, exist_ok=True)
            saved: dict[str, str] = {}
            for name, index in self.indexes.items():
                if not index.snapshots:
                    continue  # built from the database at start
                try:
                    index.save(self._snapshot_file(name, index.name))
                except SnapshotUnsupported as error:  # claims snapshots, has none: no snapshot
                    self._no_snapshot(name, index.name, error)
                    continue
                except NotImplementedError as error:  # an older plug-in's way of saying so
                    self._no_snapshot(
                        name, index.name, SnapshotUnsupported(str(error) or "NotImplementedError")
                    )
                    continue
                saved[name] = index.name
            featured: dict[str, str] = {}
            for name, index in self.featured.items():
                if name in saved:  # its type's index saved, so was this one's class
                    index.save(self._snapshot_file(name, index.name, featured=True))
                    featured[name] = index.name
            manifest = {
                "version": SNAPSHOT_VERSION,
                "seq": self._seq,
                "indexes": saved,
                "featured": featured,
                "database": self._engine.url.render_as_string(hide_password=True),
            }
            # one temporary name per process: several server workers share the folder
            tmp = folder / f"manifest.json.{os.getpid()}.tmp"
            tmp.write_text(json.dumps(manifest))
            tmp.replace(folder / "manifest.json")
        self._last_snapshot = time.monotonic()
        return folder

    def _load_snapshot(self) -> dict[str, SignalIndex] | None:
        """The indexes read from a usable snapshot (and its sequence number set), else None.
        A type whose snapshot is missing or bad is left out: it is built from the database."""
        folder = self._snapshot_dir
        if folder is None or not (folder / "manifest.json").is_file():
            return None
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
            if manifest.get("version") != SNAPSHOT_VERSION:
                return None
            if manifest.get("database") != self._engine.url.render_as_string(hide_password=True):
                return None
            with Session(self._engine) as session:
                if last_change_seq(session) < int(manifest["seq"]):
                    return None  # the database was reset since the snapshot
            listed = {str(k): str(v) for k, v in dict(manifest["indexes"]).items()}
            listed_featured = {
                str(k): str(v) for k, v in dict(manifest.get("featured", {})).items()
            }
            seq = int(manifest["seq"])
        except Exception as error:  # a bad snapshot is never fatal: rebuild from the database
            log.warning("index snapshot in %s not usable (%s); rebuilding", folder, error)
            return None
        loaded: dict[str, SignalIndex] = {}
        for name, cls in signal_types().items():
            try:
                index_cls = self._index_class(cls)
            except Exception:
                continue  # reported when it is built
            if listed.get(name) != index_cls.name or not index_cls.snapshots:
                continue
            try:
                loaded[name] = index_cls.load(cls, self._snapshot_file(name, index_cls.name))
            except SnapshotUnsupported as error:  # deliberately: built from the database
                self._no_snapshot(name, index_cls.name, error)
            except NotImplementedError as error:  # an older plug-in's way of saying so
                self._no_snapshot(
                    name, index_cls.name, SnapshotUnsupported(str(error) or "NotImplementedError")
                )
            except Exception as error:
                log.warning("index snapshot of %s not usable (%s); rebuilding it", name, error)
            if name in loaded and listed_featured.get(name) == index_cls.name:
                try:
                    self.featured[name] = index_cls.load(
                        cls, self._snapshot_file(name, index_cls.name, featured=True)
                    )
                except Exception as error:  # built from the database by `load`
                    log.warning("feature index snapshot of %s not usable (%s)", name, error)
        if not loaded and listed:
            return None
        # Types built from the database now are newer than the snapshot: the changes since
        # it are applied to them again, which is harmless (adds replace, removes ignore).
        self.indexes.update(loaded)
        self._seq = seq
        return loaded

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
    def featured_sizes(self) -> dict[str, int]:
        """Entries of each serving feature index (signal type -> size)."""
        return {n: len(i) for n, i in dict(self.featured).items() if n not in self.failed}

    def _banks_holding(self, names: Iterable[str]) -> dict[str, list[str]]:
        wanted = sorted(set(names))
        if not wanted:
            return {}
        out: dict[str, list[str]] = {n: [] for n in wanted}
        with Session(self._engine) as session:
            rows = session.execute(
                select(ContentSignal.signal_type, Bank.name)
                .join(Bank, Bank.id == ContentSignal.bank_id)
                .where(ContentSignal.signal_type.in_(wanted))
                .distinct()
                .order_by(ContentSignal.signal_type, Bank.name)
            ).all()
        for signal_type, bank in rows:
            out[str(signal_type)].append(str(bank))
        return out

    def status(self) -> list[IndexStatus]:
        rows = []
        failed = dict(self.failed)
        holding = self._banks_holding(failed)
        installed = signal_types()
        for name in sorted(set(installed) | set(failed)):
            cls = installed.get(name)
            kind = cls.index if cls is not None else ""
            index = self.indexes.get(name)
            size = len(index) if index is not None and name not in failed else 0
            rows.append(
                IndexStatus(
                    name,
                    kind,
                    size,
                    self._seq,
                    self._loaded and name not in failed,
                    failed.get(name),
                    holding.get(name, []),
                )
            )
        return rows

    def status_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for s in self.status():
            entry: dict[str, Any] = {"present": s.present, "built_to": s.built_to, "size": s.size}
            if s.error is not None:
                entry["error"] = s.error
                entry["banks"] = s.banks
            out[s.signal_type] = entry
        return out
