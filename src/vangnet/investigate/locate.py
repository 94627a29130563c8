"""Read one recorded file again from its chain (for previews in the workbench, reports):
open the source, then each container in turn, down to the file; nothing is extracted to
disk. The bytes are checked against the SHA-256 recorded at triage: a source that changed
since is reported, not shown."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from threading import Lock

from vangnet.errors import MediaError, NotFoundError
from vangnet.investigate.sources import _file_entry, _head_of, expand

_CACHE_BYTES = 256 * 1024 * 1024
_cache: OrderedDict[tuple[str, ...], bytes] = OrderedDict()
_cache_size = 0
_lock = Lock()


class SourceChanged(MediaError):
    code = "source_changed"
    status = 409


def _remember(chain: tuple[str, ...], data: bytes) -> None:
    global _cache_size
    if len(data) > _CACHE_BYTES // 4:
        return
    with _lock:
        if chain in _cache:
            return
        _cache[chain] = data
        _cache_size += len(data)
        while _cache_size > _CACHE_BYTES and _cache:
            _old, dropped = _cache.popitem(last=False)
            _cache_size -= len(dropped)


def _cached(chain: tuple[str, ...]) -> bytes | None:
    with _lock:
        data = _cache.get(chain)
        if data is not None:
            _cache.move_to_end(chain)
        return data


def read_chain(chain: Sequence[str], *, sha256: str | None = None) -> bytes:
    """The bytes of the file at ``chain`` (checked against ``sha256`` when given)."""
    key = tuple(chain)
    data = _cached(key)
    if data is None:
        data = _read(key)
        _remember(key, data)
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise SourceChanged(f"{' > '.join(chain)} no longer matches what triage recorded")
    return data


def _read(chain: tuple[str, ...]) -> bytes:
    root = Path(chain[0])
    try:
        st = root.stat()
    except OSError:
        raise NotFoundError(f"source {chain[0]} is no longer there") from None
    if len(chain) == 1:
        return _file_entry(root, st).read()
    top = _file_entry(root, st)
    for entry in expand(top, _head_of(root, 4096), depth=8, path=root):
        if entry.chain == chain:
            if entry.error is not None:
                raise MediaError(f"{' > '.join(chain)}: {entry.error}")
            return entry.read()
    raise NotFoundError(f"{' > '.join(chain)} is not in its source any more")
