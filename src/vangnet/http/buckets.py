"""Token buckets: the bookkeeping behind request-rate limits, kept in one process or shared by
the worker processes of one server.

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens a second; a request
spends one. `LocalBuckets` keeps them in a dict (one process: the tests' in-process app, a
single-worker server). `SharedBuckets` keeps them in a small file mapped into every worker of
one ``vangnet serve --workers N`` (made by the serving process before the workers start), so a
key or an address gets its rate once per server, not once per worker: without it, N workers
would let a client make N times the requests a limit allows.

The file holds no address or key in clear: a bucket is found by a keyed 64-bit hash (the key
is random, written in the file's header when it is made). It has a fixed number of slots; when
every slot near a new bucket's place is taken, the one used longest ago is reused (a bucket
that has refilled loses nothing; under a flood of many distinct clients an old client's bucket
may start full again). One request takes a thread lock and an advisory file lock (``flock``)
for a few microseconds.
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
#: Buckets a process keeps before forgetting the refilled ones (`LocalBuckets`).
MAX_LOCAL = 100_000
#: Slots of a shared file, and how far from its place a bucket may sit.
SLOTS = 65_536
PROBE = 8
_HEADER = 16  # the hash key
_SLOT = struct.Struct("<Qdd")  # bucket hash (0: empty), tokens, time of the last update


class Buckets(Protocol):
    """Where the token buckets of a limit live."""

    def take(self, name: str, *, rate: float, burst: float, now: float) -> float:
        """Spend one token of bucket ``name``: 0.0 when it had one, else the seconds until
        it will have one (nothing is spent then)."""
        ...

    def peek(self, name: str, *, rate: float, burst: float, now: float) -> float:
        """Seconds until bucket ``name`` has a token (0.0: it has one now); spends nothing."""
        ...


def _refill(tokens: float, at: float, *, rate: float, burst: float, now: float) -> float:
    return min(burst, tokens + max(0.0, now - at) * rate)


def _wait(tokens: float, rate: float) -> float:
    return 0.0 if tokens >= 1.0 else (1.0 - tokens) / rate if rate > 0 else float("inf")


class LocalBuckets:
    """The buckets of one process."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, name: str, *, rate: float, burst: float, now: float) -> float:
        with self._lock:
            tokens = self._tokens(name, rate=rate, burst=burst, now=now)
            wait = _wait(tokens, rate)
            self._buckets[name] = (tokens - 1.0 if wait == 0.0 else tokens, now)
            return wait

    def peek(self, name: str, *, rate: float, burst: float, now: float) -> float:
        with self._lock:
            return _wait(self._tokens(name, rate=rate, burst=burst, now=now), rate)

    def _tokens(self, name: str, *, rate: float, burst: float, now: float) -> float:
        found = self._buckets.get(name)
        if found is None:
            if len(self._buckets) >= MAX_LOCAL:
                self._forget_full(rate=rate, burst=burst, now=now)
            return burst
        return _refill(*found, rate=rate, burst=burst, now=now)

    def _forget_full(self, *, rate: float, burst: float, now: float) -> None:
        """Drop buckets that have refilled (forgetting them changes nothing)."""
        for name, (tokens, at) in list(self._buckets.items()):
            if _refill(tokens, at, rate=rate, burst=burst, now=now) >= burst:
                del self._buckets[name]
        if len(self._buckets) >= MAX_LOCAL:  # all busy: start over rather than grow
            self._buckets.clear()


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

    def _use(self, name: str, *, rate: float, burst: float, now: float, spend: bool) -> float:
        wanted = self._hash(name)
        start = wanted % SLOTS
        with self._lock:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                slot, (held, at) = self._find(wanted, start, burst=burst)
                tokens = _refill(held, at, rate=rate, burst=burst, now=now)
                wait = _wait(tokens, rate)
                if spend:
                    left = tokens - 1.0 if wait == 0.0 else tokens
                    _SLOT.pack_into(self._map, _HEADER + slot * _SLOT.size, wanted, left, now)
                return wait
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _find(self, wanted: int, start: int, *, burst: float) -> tuple[int, tuple[float, float]]:
        """The slot of bucket ``wanted`` and its (tokens, time); a new bucket (full) takes an
        empty slot near its place, else the one used longest ago."""
        empty: int | None = None
        oldest: tuple[float, int] | None = None
        for i in range(PROBE):
            slot = (start + i) % SLOTS
            found, tokens, at = _SLOT.unpack_from(self._map, _HEADER + slot * _SLOT.size)
            if found == wanted:
                return slot, (tokens, at)
            if found == 0:
                if empty is None:
                    empty = slot
            elif oldest is None or at < oldest[0]:
                oldest = (at, slot)
        if empty is None:
            assert oldest is not None
            empty = oldest[1]
        return empty, (burst, 0.0)
