"""Shared machinery of the matching indexes: segments, versions, compaction, snapshots.

Rows are fixed-width vectors of ``uint64`` words with an ``int64`` id. The live state is

* ``main``: a large immutable segment (rows sorted by id, plus search tables),
* ``mid``: an optional smaller immutable segment, rebuilt when the tail overflows,
* ``tail``: an append-only buffer of at most ``tail_rows`` rows, scanned by brute force.

Readers never lock: they take the current `State` (one attribute read) and only look at rows
that existed in it. Removals do not copy anything: a row's ``dead`` entry is set to the
version at which it disappeared, and a reader of version ``rv`` treats a row as alive iff
``dead[row] > rv``. Writers serialise on a lock and publish a new `State` per operation, so
an add, remove or replacement becomes visible atomically to the very next query.

Compaction merges everything alive into a new main segment in a background thread from a
snapshot of the state; writes made meanwhile are logged and replayed onto the new segment
under the writer lock before it is published.
"""

from __future__ import annotations

import logging
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

from vangnet.errors import ValidationError
from vangnet.index.snapshot import SnapshotError

log = logging.getLogger(__name__)

U64 = NDArray[np.uint64]
I64 = NDArray[np.int64]
U32 = NDArray[np.uint32]
Arr = np.ndarray[Any, Any]

ALIVE = 0xFFFFFFFF
_ALIVE = np.uint32(ALIVE)
_EMPTY_I64: I64 = np.zeros(0, np.int64)

TablesT = TypeVar("TablesT")


def unique_ids(ids: I64) -> I64:
    """Sorted unique ids (np.unique's hash path is slow for large int arrays)."""
    s = np.sort(ids)
    if s.size > 1:
        s = s[np.concatenate(([True], s[1:] != s[:-1]))]
    return s


class Segment(Generic[TablesT]):
    """Immutable rows sorted by id, their search tables and a (mutable) death version."""

    __slots__ = ("dead", "ids", "n_dead", "tables", "words")

    def __init__(self, words: U64, ids: I64, tables: TablesT, dead: U32 | None = None) -> None:
        self.words = words
        self.ids = ids
        self.tables = tables
        self.dead = dead
        self.n_dead = 0 if dead is None else int(np.count_nonzero(dead != _ALIVE))

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def alive_at(self, rv: int) -> NDArray[np.intp]:
        dead = self.dead
        if dead is None:
            return np.arange(len(self), dtype=np.intp)
        return np.flatnonzero(dead > rv)

    def find_alive(self, ids: I64) -> NDArray[np.intp]:
        """Row numbers of those ``ids`` that are alive now (for writers)."""
        n = len(self)
        if n == 0 or ids.size == 0:
            return np.zeros(0, np.intp)
        pos = np.searchsorted(self.ids, ids)
        inside = pos < n
        pos, wanted = pos[inside], ids[inside]
        hit = pos[self.ids[pos] == wanted]
        if self.dead is not None and hit.size:
            hit = hit[self.dead[hit] == _ALIVE]
        return np.asarray(hit, dtype=np.intp)

    def kill(self, rows: NDArray[np.intp], version: int) -> None:
        if rows.size == 0:
            return
        dead = self.dead
        if dead is None:
            dead = np.full(len(self), _ALIVE, np.uint32)
            dead[rows] = version
            self.dead = dead  # publish only once filled: readers see None or a full array
        else:
            dead[rows] = version
        self.n_dead += int(rows.size)


class Tail:
    """Append-only row buffer; readers only look at the first ``tail_len`` rows of theirs."""

    __slots__ = ("dead", "ids", "words")

    def __init__(self, width: int, capacity: int) -> None:
        self.words: U64 = np.zeros((capacity, width), np.uint64)
        self.ids: I64 = np.zeros(capacity, np.int64)
        self.dead: U32 = np.full(capacity, _ALIVE, np.uint32)

    @property
    def capacity(self) -> int:
        return int(self.ids.shape[0])


@dataclass(frozen=True, slots=True)
class State(Generic[TablesT]):
    main: Segment[TablesT]
    mid: Segment[TablesT] | None
    tail: Tail
    tail_len: int
    rv: int
    count: int


class SegmentedIndex(ABC, Generic[TablesT]):
    """Base of `PDQIndex` and `ExactIndex`; subclasses provide tables and search."""

    #: rows kept in the brute-force tail before they are merged into the mid segment
    tail_rows: int = 4096
    #: compact once mid + tail + removed rows exceed max(min_rows, fraction * len(main))
    compaction_min_rows: int = 65536
    compaction_fraction: float = 0.02
    #: start compaction automatically in a background thread
    auto_compact: bool = True

    _snapshot_kind = "segmented"

    def __init__(self, width: int) -> None:
        self._width = width
        self._lock = threading.Lock()
        self._main: Segment[TablesT] = self._segment(np.zeros((0, width), np.uint64), _EMPTY_I64)
        self._mid: Segment[TablesT] | None = None
        self._tail = Tail(width, 16)
        self._tail_len = 0
        self._tail_pos: dict[int, int] = {}
        self._rv = 0
        self._count = 0
        self._compactor: threading.Thread | None = None
        self._replay: list[tuple[str, U64 | None, I64]] | None = None
        self._compact_error: BaseException | None = None
        self._state: State[TablesT] = self._make_state()

    # -- subclass hooks ----------------------------------------------------------------------

    @abstractmethod
    def _tables(self, words: U64) -> TablesT:
        """Search tables for the rows ``words`` (already in id order)."""

    @abstractmethod
    def _search(
        self, seg: Segment[TablesT], qwords: U64, param: int
    ) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.int64]]:
        """Matches in a segment: (query number, row, distance); duplicates allowed."""

    @abstractmethod
    def _scan(
        self, words: U64, qwords: U64, param: int
    ) -> tuple[NDArray[np.intp], NDArray[np.intp], NDArray[np.int64]]:
        """Brute-force matches among ``words``: (query number, row, distance)."""

    def _tables_to_arrays(self, tables: TablesT) -> dict[str, Arr]:
        return {}

    def _tables_from_arrays(self, words: U64, arrays: Mapping[str, Arr]) -> TablesT:
        return self._tables(words)

    # -- internals ---------------------------------------------------------------------------

    def _segment(self, words: U64, ids: I64) -> Segment[TablesT]:
        return Segment(words, ids, self._tables(words))

    def _make_state(self) -> State[TablesT]:
        return State(self._main, self._mid, self._tail, self._tail_len, self._rv, self._count)

    def _publish(self) -> None:
        self._state = self._make_state()

    def _next_version(self) -> int:
        if self._rv + 1 >= ALIVE - 1:  # ~4e9 writes without a compaction: renumber
            for seg in (self._main, self._mid):
                if seg is not None and seg.dead is not None:
                    seg.dead[seg.dead != _ALIVE] = 1
            self._tail.dead[self._tail.dead != _ALIVE] = 1
            self._rv = 1
        return self._rv + 1

    def _garbage(self) -> int:
        mid = 0 if self._mid is None else len(self._mid)
        return self._main.n_dead + mid + self._tail_len

    def _threshold(self) -> int:
        return max(self.compaction_min_rows, int(self.compaction_fraction * len(self._main)))

    def _kill_ids(self, ids: I64, version: int) -> int:
        """Mark the alive rows of ``ids`` (unique) dead at ``version``; return how many."""
        killed = 0
        for seg in (self._main, self._mid):
            if seg is not None:
                rows = seg.find_alive(ids)
                seg.kill(rows, version)
                killed += int(rows.size)
        if self._tail_pos:
            for i in ids.tolist():
                row = self._tail_pos.pop(i, None)
                if row is not None:
                    self._tail.dead[row] = version
                    killed += 1
        return killed

    def _apply_remove(self, ids: I64) -> bool:
        version = self._next_version()
        killed = self._kill_ids(unique_ids(ids), version)
        if killed:
            self._rv = version
            self._count -= killed
        return killed > 0

    def _apply_add(self, words: U64, ids: I64) -> None:
        if ids.size == 0:
            return
        # last occurrence of a repeated id wins
        order = np.argsort(ids, kind="stable")
        ordered = ids[order]
        if ordered.size > 1 and bool(np.any(ordered[1:] == ordered[:-1])):
            last = np.concatenate((ordered[1:] != ordered[:-1], [True]))
            keep = np.sort(order[last])
            words, ids = words[keep], ids[keep]
        version = self._next_version()
        killed = self._kill_ids(unique_ids(ids), version)
        k = int(ids.size)
        if self._tail_len + k <= self.tail_rows:
            tail = self._tail
            if self._tail_len + k > tail.capacity:
                cap = min(max(2 * tail.capacity, self._tail_len + k), max(self.tail_rows, 16))
                grown = Tail(self._width, cap)
                grown.words[: self._tail_len] = tail.words[: self._tail_len]
                grown.ids[: self._tail_len] = tail.ids[: self._tail_len]
                grown.dead[: self._tail_len] = tail.dead[: self._tail_len]
                tail = grown
            start = self._tail_len
            tail.words[start : start + k] = words
            tail.ids[start : start + k] = ids
            tail.dead[start : start + k] = _ALIVE
            for offset, i in enumerate(ids.tolist()):
                self._tail_pos[i] = start + offset
            self._tail = tail
            self._tail_len = start + k
        else:
            # merge the mid segment, the tail and the new rows into a new mid segment
            parts_w: list[U64] = []
            parts_i: list[I64] = []
            if self._mid is not None:
                mid_dead = self._mid.dead
                alive = (
                    np.arange(len(self._mid))
                    if mid_dead is None
                    else np.flatnonzero(mid_dead == _ALIVE)
                )
                parts_w.append(self._mid.words[alive])
                parts_i.append(self._mid.ids[alive])
            t_alive = np.flatnonzero(self._tail.dead[: self._tail_len] == _ALIVE)
            parts_w.append(self._tail.words[t_alive])
            parts_i.append(self._tail.ids[t_alive])
            parts_w.append(words)
            parts_i.append(ids)
            all_i = np.concatenate(parts_i)
            order = np.argsort(all_i, kind="stable")
            all_w = np.concatenate(parts_w)[order]
            self._mid = self._segment(np.ascontiguousarray(all_w), all_i[order])
            self._tail = Tail(self._width, 16)
            self._tail_len = 0
            self._tail_pos = {}
        self._rv = version
        self._count += k - killed

    def _after_write(self) -> None:
        """Under the lock: start a background compaction if the delta got too large."""
        if self.auto_compact and self._compactor is None and self._garbage() > self._threshold():
            self._start_compaction()

    def _start_compaction(self) -> threading.Thread:
        snapshot = self._state
        self._replay = []
        self._compact_error = None
        thread = threading.Thread(
            target=self._compact_worker, args=(snapshot,), name="vangnet-index-compact", daemon=True
        )
        self._compactor = thread
        thread.start()
        return thread

    def _collect(self, state: State[TablesT]) -> tuple[U64, I64]:
        parts_w: list[U64] = []
        parts_i: list[I64] = []
        for seg in (state.main, state.mid):
            if seg is not None and len(seg):
                if seg.dead is None:
                    parts_w.append(seg.words)
                    parts_i.append(seg.ids)
                else:
                    rows = seg.alive_at(state.rv)
                    parts_w.append(seg.words.take(rows, axis=0))
                    parts_i.append(seg.ids[rows])
        if state.tail_len:
            rows = np.flatnonzero(state.tail.dead[: state.tail_len] > state.rv)
            parts_w.append(state.tail.words[rows])
            parts_i.append(state.tail.ids[rows])
        if not parts_i:
            return np.zeros((0, self._width), np.uint64), _EMPTY_I64
        if len(parts_i) == 1:
            return np.ascontiguousarray(parts_w[0]), parts_i[0]
        ids = np.concatenate(parts_i)
        order = np.argsort(ids, kind="stable")
        return np.ascontiguousarray(np.concatenate(parts_w)[order]), ids[order]

    def _compact_worker(self, snapshot: State[TablesT]) -> None:
        try:
            words, ids = self._collect(snapshot)
            main = self._segment(words, ids)
        except BaseException as exc:  # report through compact(); keep serving the old state
            log.exception("index compaction failed")
            with self._lock:
                self._compact_error = exc
                self._replay = None
                self._compactor = None
            return
        with self._lock:
            replay = self._replay or []
            self._replay = None
            self._main, self._mid = main, None
            self._tail, self._tail_len, self._tail_pos = Tail(self._width, 16), 0, {}
            self._rv, self._count = 0, len(main)
            for op, op_words, op_ids in replay:
                if op == "add":
                    assert op_words is not None
                    self._apply_add(op_words, op_ids)
                else:
                    self._apply_remove(op_ids)
            self._publish()
            self._compactor = None
            self._after_write()

    # -- writer API --------------------------------------------------------------------------

    def _add_rows(self, words: U64, ids: I64) -> None:
        if words.shape[0] != ids.shape[0]:
            raise ValidationError("hashes and ids differ in length")
        if ids.size == 0:
            return
        with self._lock:
            self._apply_add(words, ids)
            if self._replay is not None:
                self._replay.append(("add", words, ids))
            self._publish()
            self._after_write()

    def _remove_ids(self, ids: I64) -> None:
        if ids.size == 0:
            return
        with self._lock:
            if self._apply_remove(ids):
                if self._replay is not None:
                    self._replay.append(("remove", None, ids))
                self._publish()
                self._after_write()

    def _set_main(self, words: U64, ids: I64) -> None:
        """Replace the whole content (used by build/load); rows need not be sorted by id."""
        if ids.size > 1 and not bool(np.all(ids[1:] > ids[:-1])):
            order = np.argsort(ids, kind="stable")
            words, ids = words.take(order, axis=0), ids[order]
            if bool(np.any(ids[1:] == ids[:-1])):
                raise ValidationError("ids must be unique")
        with self._lock:
            self._main = self._segment(np.ascontiguousarray(words), np.ascontiguousarray(ids))
            self._mid, self._tail, self._tail_len, self._tail_pos = (
                None,
                Tail(self._width, 16),
                0,
                {},
            )
            self._rv, self._count = 0, len(self._main)
            self._publish()

    def compact(self, wait: bool = True) -> None:
        """Merge all changes into a new main segment (in a background thread).

        Lookups keep using the previous state until the new one is swapped in. With
        ``wait`` this returns when the compaction is done and re-raises its error.
        """
        with self._lock:
            thread = self._compactor or self._start_compaction()
        if wait:
            thread.join()
            with self._lock:
                error, self._compact_error = self._compact_error, None
            if error is not None:
                raise error

    def __len__(self) -> int:
        return self._state.count

    # -- reader ------------------------------------------------------------------------------

    def _lookup(
        self, qwords: U64, param: int
    ) -> tuple[NDArray[np.intp], NDArray[np.int64], NDArray[np.int64]]:
        """(query number, id, distance) of all matches, sorted by query, distance, id."""
        state = self._state
        rv = state.rv
        qs: list[NDArray[np.intp]] = []
        ids: list[I64] = []
        ds: list[NDArray[np.int64]] = []
        for seg in (state.main, state.mid):
            if seg is None or len(seg) == 0:
                continue
            qi, rows, dist = self._search(seg, qwords, param)
            dead = seg.dead
            if dead is not None and rows.size:
                keep = dead[rows] > rv
                qi, rows, dist = qi[keep], rows[keep], dist[keep]
            qs.append(qi)
            ids.append(seg.ids[rows])
            ds.append(dist)
        if state.tail_len:
            qi, rows, dist = self._scan(state.tail.words[: state.tail_len], qwords, param)
            if rows.size:
                keep = state.tail.dead[rows] > rv
                qi, rows, dist = qi[keep], rows[keep], dist[keep]
            qs.append(qi)
            ids.append(state.tail.ids[rows])
            ds.append(dist)
        if not qs:
            return np.zeros(0, np.intp), _EMPTY_I64, _EMPTY_I64
        q = np.concatenate(qs)
        i = np.concatenate(ids)
        d = np.concatenate(ds)
        if q.size > 1:
            order = np.lexsort((i, d, q))
            q, i, d = q[order], i[order], d[order]
            dup = (q[1:] == q[:-1]) & (i[1:] == i[:-1])
            if dup.any():
                keep = np.concatenate(([True], ~dup))
                q, i, d = q[keep], i[keep], d[keep]
        return q, i, d

    # -- snapshots ---------------------------------------------------------------------------

    def _snapshot_meta(self) -> dict[str, Any]:
        return {}

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write a snapshot file atomically (temp file + rename)."""
        from vangnet.index.snapshot import write_snapshot

        state = self._state
        main = state.main
        dead_rows = (
            np.zeros(0, np.int64)
            if main.dead is None
            else np.flatnonzero(main.dead <= state.rv).astype(np.int64)
        )
        delta = State(
            Segment(main.words[:0], main.ids[:0], main.tables),
            state.mid,
            state.tail,
            state.tail_len,
            state.rv,
            0,
        )
        dwords, dids = self._collect(delta)
        arrays: dict[str, Arr] = {
            "main_words": main.words,
            "main_ids": main.ids,
            "main_dead_rows": dead_rows,
            "delta_words": dwords,
            "delta_ids": dids,
        }
        for name, arr in self._tables_to_arrays(main.tables).items():
            arrays["t_" + name] = arr
        meta = {"width": self._width, "count": state.count, **self._snapshot_meta()}
        write_snapshot(path, self._snapshot_kind, meta, arrays)

    def _restore(self, meta: Mapping[str, Any], arrays: Mapping[str, Arr]) -> None:
        try:
            words = arrays["main_words"]
            ids = arrays["main_ids"]
            dead_rows = np.asarray(arrays["main_dead_rows"], dtype=np.int64)
            dwords = np.asarray(arrays["delta_words"], dtype=np.uint64)
            dids = np.asarray(arrays["delta_ids"], dtype=np.int64)
            width = int(meta["width"])
            n = int(ids.shape[0])
            ok = (
                width == self._width
                and words.dtype == np.uint64
                and ids.dtype == np.int64
                and words.shape == (n, width)
                and dwords.shape == (dids.shape[0], width)
                and (n < 2 or bool(np.all(ids[1:] > ids[:-1])))
                and (dead_rows.size == 0 or (dead_rows.min() >= 0 and dead_rows.max() < n))
            )
            if not ok:
                raise SnapshotError("index snapshot is corrupt (inconsistent arrays)")
            tables = self._tables_from_arrays(
                words, {k[2:]: v for k, v in arrays.items() if k.startswith("t_")}
            )
        except KeyError as exc:
            raise SnapshotError(f"index snapshot is corrupt (missing {exc})") from exc
        dead = None
        if dead_rows.size:
            dead = np.full(n, _ALIVE, np.uint32)
            dead[dead_rows] = 0
        with self._lock:
            self._main = Segment(words, ids, tables, dead)
            self._mid, self._tail, self._tail_len, self._tail_pos = (
                None,
                Tail(self._width, 16),
                0,
                {},
            )
            self._rv, self._count = 0, n - self._main.n_dead
            if dids.size:
                self._apply_add(dwords, dids)
            self._publish()
        if int(meta.get("count", self._count)) != self._count:
            raise SnapshotError("index snapshot is corrupt (row count)")
