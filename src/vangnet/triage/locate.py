"""Read one recorded file again from its chain (for previews in the workbench, reports):
open the source, then each container in turn, down to the file, reading only what leads to
it: a zip's central directory and the member (found by the local header offset triage
recorded in ``locations``), a tar's member header (by its recorded offset), a compressed
stream decompressed as it is read (ratio and size checked while decompressing). Nothing is
extracted to disk, no archive is read whole into memory, and at most ``max_bytes`` of the
file itself are read. The bytes are checked against the SHA-256 recorded at triage: a source
that changed since is reported, not shown."""

from __future__ import annotations

import contextlib
import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from threading import Lock

from vangnet.errors import MediaError, MediaTooLargeError, NotFoundError
from vangnet.sources.archive_streams import MAX_MEMBER_BYTES, BombError, read_all
from vangnet.sources.archives import MAX_DEPTH, container_kind, file_entry, open_members
from vangnet.sources.entries import ContainerError, Entry, Location

#: A zip or 7z inside another archive up to this size is held in memory while a member is
#: read from it; a larger one is read through a seeking stream (slower, bounded memory), or
#: refused when it cannot seek (a zip inside a gzip stream).
NESTED_IN_MEMORY_BYTES = 64 * 1024 * 1024
_CACHE_BYTES = 64 * 1024 * 1024  # recently read files kept for repeated previews
_CACHE_ITEM_BYTES = 16 * 1024 * 1024  # larger files are read again each time
#: A cached file is found by its chain and its source's identity (device, inode, size,
#: modification time): a source changed on disk since is read, and checked, again.
_Key = tuple[tuple[str, ...], tuple[int, int, int, int]]
_cache: OrderedDict[_Key, bytes] = OrderedDict()
_cache_size = 0
_lock = Lock()


class SourceChanged(MediaError):
    code = "source_changed"
    status = 409


def _remember(key: _Key, data: bytes) -> None:
    global _cache_size
    if len(data) > _CACHE_ITEM_BYTES:
        return
    with _lock:
        if key in _cache:
            return
        _cache[key] = data
        _cache_size += len(data)
        while _cache_size > _CACHE_BYTES and _cache:
            _old, dropped = _cache.popitem(last=False)
            _cache_size -= len(dropped)


def _cached(key: _Key) -> bytes | None:
    with _lock:
        data = _cache.get(key)
        if data is not None:
            _cache.move_to_end(key)
        return data


def _identity(source: str) -> tuple[int, int, int, int] | None:
    try:
        st = Path(source).stat()
    except OSError:
        return None  # (`_read` reports it)
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


def read_chain(
    chain: Sequence[str],
    *,
    sha256: str | None = None,
    locations: Sequence[Location] | None = None,
    max_bytes: int = MAX_MEMBER_BYTES,
) -> bytes:
    """The bytes of the file at ``chain`` (checked against ``sha256`` when given).

    ``locations`` (as triage recorded them) let each container open the member directly;
    without them members are found by name. A file larger than ``max_bytes`` is refused
    with `MediaTooLargeError` before it is read."""
    steps = tuple(chain)
    identity = _identity(steps[0])
    key = (steps, identity) if identity is not None else None
    data = _cached(key) if key is not None else None
    if data is None:
        data = _read(steps, list(locations or ()), max_bytes)
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise SourceChanged(f"{' > '.join(chain)} no longer matches what triage recorded")
    if key is not None:  # only bytes that were checked (when a digest was given)
        _remember(key, data)
    return data


def _read(chain: tuple[str, ...], locations: list[Location], max_bytes: int) -> bytes:
    root = Path(chain[0])
    try:
        st = root.stat()
    except OSError:
        raise NotFoundError(f"source {chain[0]} is no longer there") from None
    where = " > ".join(chain)
    with contextlib.ExitStack() as stack:  # every container on the way stays open to the end
        entry = _descend(file_entry(root, st), chain, locations, stack, root)
        if entry.chain != chain:
            raise NotFoundError(f"{where} is not in its source any more")
        if entry.error is not None:
            raise MediaError(f"{where}: {entry.error}")
        if entry.size > max_bytes:
            raise MediaTooLargeError(
                f"{where} is {entry.size} bytes, more than {max_bytes} can be shown"
            )
        try:
            with contextlib.closing(entry.stream()) as handle:
                return read_all(handle, limit=max_bytes, what=where)
        except BombError as exc:
            raise MediaTooLargeError(f"{where}: {exc}") from None
        except OSError as exc:
            raise MediaError(f"{where}: cannot read: {exc}") from None


def _descend(
    entry: Entry,
    chain: tuple[str, ...],
    locations: list[Location],
    stack: contextlib.ExitStack,
    root: Path,
) -> Entry:
    """The entry at ``chain`` (or the deepest one found on the way down to it)."""
    depth = 0
    while len(entry.chain) < len(chain):
        depth += 1
        if depth > MAX_DEPTH + 1:
            return entry
        try:
            kind = container_kind(entry.head())
        except OSError as exc:
            raise MediaError(f"{' > '.join(entry.chain)}: cannot read: {exc}") from None
        if kind is None:
            return entry
        entry.container = kind
        step = len(entry.chain)
        wanted = (chain[step], locations[step] if step < len(locations) else None)
        members = open_members(
            entry,
            kind,
            path=root if len(entry.chain) == 1 else None,
            wanted=wanted,
            in_memory_up_to=NESTED_IN_MEMORY_BYTES,
        )
        stack.callback(members.close)
        found = None
        try:
            for member in members:
                if member.chain == chain[: len(member.chain)]:
                    found = member
                    break
        except ContainerError as exc:
            raise MediaError(f"{' > '.join(entry.chain)}: {exc}") from None
        if found is None:
            return entry
        entry = found
    return entry
