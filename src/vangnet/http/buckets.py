"""Token buckets: the bookkeeping behind request-rate limits, kept in one process, shared by
the worker processes of one server, or shared by several servers through Redis
(`vangnet.http.redis_buckets`).

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens a second; a request
spends one. `LocalBuckets` keeps them in a dict (one process: the tests' in-process app, a
single-worker server). `SharedBuckets` keeps them in a small file mapped into every worker of
one ``vangnet serve --workers N`` (made by the serving process before the workers start), so a
key or an address gets its rate once per server, not once per worker: without it, N workers
would let a client make N times the requests a limit allows.

The file holds no address or key in clear: a bucket is found by a keyed 64-bit hash (the key
is random, written in the file's header when it is made). It has a fixed number of slots, the
first `KEY_SLOTS` for API keys (names ``key:...``) and the rest for everything else (client
addresses), so a flood of addresses cannot crowd out the keys. A new bucket takes an empty
slot near its place, else a slot whose bucket has refilled (forgetting a full bucket changes
nothing). A bucket that has not refilled is never reused: a flood of many distinct clients
cannot reset a limited client's bucket. When every slot near a new bucket's place holds a
bucket that has not refilled, the new client is refused (as if limited) until the first of
them has refilled, and counted in `crowded`. `LocalBuckets` keeps the same rule with at most
`MAX_LOCAL` buckets of each kind. One request takes a thread lock and an advisory file lock
(``flock``) for a few microseconds.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import mmap
import os
import secrets
import struct
import tempfile
import threading
from pathlib import Path
from typing import Protocol

#: The environment variable naming the bucket file the workers of one server share (set by
#: `vangnet serve` for its workers; not a setting: outside the ``VANGNET_`` names).
SHARED_BUCKETS_ENV = "_VANGNET_SHARED_BUCKETS"
#: Buckets of each kind (API keys, addresses) a process keeps (`LocalBuckets`).
MAX_LOCAL = 100_000
#: Slots of a shared file, the first of them for API keys, and how far from its place a
#: bucket may sit.
SLOTS = 65_536
KEY_SLOTS = 8_192
PROBE = 8
_HEADER = 16  # the hash key
#: bucket hash (0: empty), tokens, time of the last update, time it is full again
_SLOT = struct.Struct("<Qddd")


class Buckets(Protocol):
    """Where the token buckets of a limit live."""

    def take(self, name: str, *, rate: float, burst: float, now: float) -> float:
        """Spend one token of bucket ``name``: 0.0 when it had one, else the seconds until
        it will have one (nothing is spent then)."""
        ...

    def peek(self, name: str, *, rate: float, burst: float, now: float) -> float:
        """Seconds until bucket ``name`` has a token (0.0: it has one now); spends nothing."""
        ...

    def close(self) -> None:
        """Let go of what the buckets hold open (files, connections); they stay usable."""
        ...


def _refill(tokens: float, at: float, *, rate: float, burst: float, now: float) -> float:
    return min(burst, tokens + max(0.0, now - at) * rate)


def _wait(tokens: float, rate: float) -> float:
    return 0.0 if tokens >= 1.0 else (1.0 - tokens) / rate if rate > 0 else float("inf")


def _full_at(tokens: float, now: float, *, rate: float, burst: float) -> float:
    """When a bucket left with ``tokens`` at ``now`` is full again."""
    if tokens >= burst:
        return now
    return now + (burst - tokens) / rate if rate > 0 else float("inf")


def _kind(name: str) -> str:
    """The kind of a bucket: API keys (``key:ID``) and everything else (client addresses)
    each have their own room."""
    return "key" if name.startswith("key:") else "other"


class LocalBuckets:
    """The buckets of one process."""

    def __init__(self, max_per_kind: int = MAX_LOCAL) -> None:
        # kind -> name -> (tokens, time of the last update, time it is full again)
        self._buckets: dict[str, dict[str, tuple[float, float, float]]] = {}
        self._max = max_per_kind
        # kind -> before this time no bucket of a full room refills (nothing to sweep)
        self._busy_until: dict[str, float] = {}
        self._lock = threading.Lock()
        self.crowded = 0  # new buckets refused because every bucket of their kind is in use

    def take(self, name: str, *, rate: float, burst: float, now: float) -> float:
        return self._use(name, rate=rate, burst=burst, now=now, spend=True)

    def peek(self, name: str, *, rate: float, burst: float, now: float) -> float:
        return self._use(name, rate=rate, burst=burst, now=now, spend=False)

    def close(self) -> None:
        """Nothing held open."""

    def _use(self, name: str, *, rate: float, burst: float, now: float, spend: bool) -> float:
        with self._lock:
            kind = _kind(name)
            buckets = self._buckets.setdefault(kind, {})
            found = buckets.get(name)
            if found is None:
                if len(buckets) >= self._max:
                    # a sweep that freed nothing is not repeated before a bucket can refill
                    # (a flood would otherwise cost a sweep of the whole room per request)
                    if now < self._busy_until.get(kind, now):
                        self.crowded += 1
                        return self._busy_until[kind] - now
                    busy_until = self._forget_full(buckets, now)
                    if busy_until is not None:
                        self._busy_until[kind] = busy_until
                        self.crowded += 1
                        return busy_until - now
                tokens = burst
            else:
                tokens = _refill(found[0], found[1], rate=rate, burst=burst, now=now)
            wait = _wait(tokens, rate)
            if spend:
                left = tokens - 1.0 if wait == 0.0 else tokens
                buckets[name] = (left, now, _full_at(left, now, rate=rate, burst=burst))
            return wait

    def _forget_full(
        self, buckets: dict[str, tuple[float, float, float]], now: float
    ) -> float | None:
        """Drop the buckets that have refilled (forgetting them changes nothing); None when
        there is room now, else when the first bucket will have refilled."""
        for name, (_, _, full_at) in list(buckets.items()):
            if full_at <= now:
                del buckets[name]
        if len(buckets) < self._max:
            return None
        return max(now + 1e-3, min(full_at for _, _, full_at in buckets.values()))


class SharedBuckets:
    """The buckets of every worker process of one server, in a file they all map."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._fd = os.open(self.path, os.O_RDWR)
        try:
            size = os.fstat(self._fd).st_size
            if size != _HEADER + SLOTS * _SLOT.size:
                raise ValueError(f"{self.path} is not a bucket file ({size} bytes)")
            self._map = mmap.mmap(self._fd, size)
        except BaseException:
            os.close(self._fd)
            raise
        self._key = bytes(self._map[:_HEADER])
        self._lock = threading.Lock()
        self.crowded = 0  # new buckets refused (this process) because their slots are in use

    @classmethod
    def create(cls, directory: str | os.PathLike[str] | None = None) -> SharedBuckets:
        """A new, empty bucket file (mode 0600) in ``directory`` (default: ``/dev/shm`` where
        there is one, else the temporary folder); the caller removes it with `remove`."""
        if directory is None:
            directory = "/dev/shm" if os.path.isdir("/dev/shm") else tempfile.gettempdir()
        fd, name = tempfile.mkstemp(prefix="vangnet-limits-", dir=directory)
        try:
            os.ftruncate(fd, _HEADER + SLOTS * _SLOT.size)
            os.pwrite(fd, secrets.token_bytes(_HEADER), 0)
        finally:
            os.close(fd)
        return cls(name)

    def close(self) -> None:
        with contextlib.suppress(BufferError, ValueError):
            self._map.close()
        with contextlib.suppress(OSError):
            os.close(self._fd)

    def remove(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)

    def take(self, name: str, *, rate: float, burst: float, now: float) -> float:
        return self._use(name, rate=rate, burst=burst, now=now, spend=True)

    def peek(self, name: str, *, rate: float, burst: float, now: float) -> float:
        return self._use(name, rate=rate, burst=burst, now=now, spend=False)

    def _hash(self, name: str) -> int:
        digest = hashlib.blake2b(name.encode(), digest_size=8, key=self._key).digest()
        return int.from_bytes(digest, "little") or 1

    @staticmethod
    def _room(name: str) -> tuple[int, int]:
        """The first slot and the number of slots of the buckets of ``name``'s kind."""
        if _kind(name) == "key":
            return 0, KEY_SLOTS
        return KEY_SLOTS, SLOTS - KEY_SLOTS

    def _use(self, name: str, *, rate: float, burst: float, now: float, spend: bool) -> float:
        wanted = self._hash(name)
        first, size = self._room(name)
        with self._lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                slot, held, busy_until = self._find(wanted, first, size, now=now)
                if slot is None:  # every slot near its place holds a bucket not refilled
                    self.crowded += 1
                    return max(1e-3, busy_until - now)
                tokens = burst if held is None else _refill(*held, rate=rate, burst=burst, now=now)
                wait = _wait(tokens, rate)
                if spend:
                    left = tokens - 1.0 if wait == 0.0 else tokens
                    full_at = _full_at(left, now, rate=rate, burst=burst)
                    offset = _HEADER + slot * _SLOT.size
                    _SLOT.pack_into(self._map, offset, wanted, left, now, full_at)
                return wait
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _find(
        self, wanted: int, first: int, size: int, *, now: float
    ) -> tuple[int | None, tuple[float, float] | None, float]:
        """(slot, held, busy until) of bucket ``wanted``: its slot and (tokens, time) when it
        is there; a new bucket (held None: full) takes an empty slot near its place, else the
        one whose bucket refilled first; when none has refilled, slot is None and "busy until"
        says when the first of them will have."""
        empty: int | None = None
        refilled: tuple[float, int] | None = None
        busy_until = float("inf")
        start = wanted % size
        for i in range(PROBE):
            slot = first + (start + i) % size
            found, tokens, at, full_at = _SLOT.unpack_from(self._map, _HEADER + slot * _SLOT.size)
            if found == wanted:
                return slot, (tokens, at), now
            if found == 0:
                if empty is None:
                    empty = slot
            elif full_at <= now:
                if refilled is None or full_at < refilled[0]:
                    refilled = (full_at, slot)
            else:
                busy_until = min(busy_until, full_at)
        if empty is not None:
            return empty, None, now
        if refilled is not None:
            return refilled[1], None, now
        return None, None, busy_until
