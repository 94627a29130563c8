"""Single-file index snapshots: raw arrays plus a JSON footer, written atomically.

Layout::

    b"VNGTSNAP"                               8-byte magic
    array 0, array 1, ...                     raw C-order bytes, each 64-byte aligned
    header                                    UTF-8 JSON: kind, meta, arrays (dtype, shape,
                                              offset, nbytes, crc32)
    trailer (24 bytes)                        u64 header offset, u32 header length,
                                              u32 header crc32, u32 format version, b"VNGT"

The footer is written last, so a truncated file has no valid trailer. Loading checks the
magic, format version, header checksum, every array's bounds and (by default) every array's
CRC-32; arrays can be memory-mapped read-only so a 10 M-hash restart takes seconds.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import tempfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from vangnet.errors import VangnetError

FORMAT_VERSION = 1
MAGIC = b"VNGTSNAP"
_TRAILER = struct.Struct("<QIII4s")
_TRAILER_MAGIC = b"VNGT"
_ALIGN = 64
_CRC_BLOCK = 1 << 24


class SnapshotError(VangnetError):
    """An index snapshot is missing, truncated, corrupt or of an unknown format."""

    code = "invalid_snapshot"
    status = 500


def _crc(arr: np.ndarray[Any, Any]) -> int:
    flat = arr.reshape(-1).view(np.uint8) if arr.size else np.zeros(0, np.uint8)
    crc = 0
    for start in range(0, flat.size, _CRC_BLOCK):
        crc = zlib.crc32(flat[start : start + _CRC_BLOCK].data, crc)
    return crc


def write_snapshot(
    path: str | os.PathLike[str],
    kind: str,
    meta: Mapping[str, Any],
    arrays: Mapping[str, np.ndarray[Any, Any]],
) -> None:
    """Write ``arrays`` to ``path`` atomically (temp file in the same directory + rename)."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(MAGIC)
            pos = len(MAGIC)
            entries = []
            for name, value in arrays.items():
                arr = np.ascontiguousarray(value)
                pad = (-pos) % _ALIGN
                fh.write(b"\0" * pad)
                pos += pad
                entries.append(
                    {
                        "name": name,
                        "dtype": arr.dtype.str,
                        "shape": list(arr.shape),
                        "offset": pos,
                        "nbytes": int(arr.nbytes),
                        "crc32": _crc(arr),
                    }
                )
                if arr.nbytes:
                    fh.write(arr.reshape(-1).view(np.uint8).data)
                pos += int(arr.nbytes)
            header = json.dumps(
                {"kind": kind, "meta": dict(meta), "arrays": entries}, sort_keys=True
            ).encode()
            fh.write(header)
            fh.write(
                _TRAILER.pack(pos, len(header), zlib.crc32(header), FORMAT_VERSION, _TRAILER_MAGIC)
            )
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise


def read_snapshot(
    path: str | os.PathLike[str], kind: str, *, mmap: bool = True, verify: bool = True
) -> tuple[dict[str, Any], dict[str, np.ndarray[Any, Any]]]:
    """Read a snapshot written by `write_snapshot`; raise `SnapshotError` if it is bad."""
    source = Path(path)
    try:
        size = source.stat().st_size
        with source.open("rb") as fh:
            magic = fh.read(len(MAGIC))
            if size < len(MAGIC) + _TRAILER.size:
                raise SnapshotError(f"index snapshot {source} is truncated")
            fh.seek(size - _TRAILER.size)
            hoff, hlen, hcrc, version, tmagic = _TRAILER.unpack(fh.read(_TRAILER.size))
            if magic != MAGIC:
                raise SnapshotError(f"{source} is not a Vangnet index snapshot")
            if tmagic != _TRAILER_MAGIC:
                raise SnapshotError(f"index snapshot {source} is truncated or corrupt")
            if version != FORMAT_VERSION:
                raise SnapshotError(
                    f"index snapshot {source} has format version {version}; "
                    f"this Vangnet reads version {FORMAT_VERSION}"
                )
            if hoff + hlen + _TRAILER.size != size:
                raise SnapshotError(f"index snapshot {source} is truncated or corrupt")
            fh.seek(hoff)
            raw = fh.read(hlen)
    except OSError as exc:
        raise SnapshotError(f"cannot read index snapshot {source}: {exc.strerror}") from exc
    if zlib.crc32(raw) != hcrc:
        raise SnapshotError(f"index snapshot {source} is corrupt (header checksum)")
    try:
        header = json.loads(raw)
        if header["kind"] != kind:
            raise SnapshotError(f"{source} holds a {header['kind']!r} index, not {kind!r}")
        arrays: dict[str, np.ndarray[Any, Any]] = {}
        for entry in header["arrays"]:
            dtype = np.dtype(entry["dtype"])
            shape = tuple(int(s) for s in entry["shape"])
            offset, nbytes = int(entry["offset"]), int(entry["nbytes"])
            if offset < len(MAGIC) or offset + nbytes > hoff:
                raise SnapshotError(f"index snapshot {source} is corrupt (array bounds)")
            if int(np.prod(shape)) * dtype.itemsize != nbytes:
                raise SnapshotError(f"index snapshot {source} is corrupt (array shape)")
            arr: np.ndarray[Any, Any]
            if nbytes == 0:
                arr = np.zeros(shape, dtype)
            elif mmap:
                arr = np.memmap(source, dtype=dtype, mode="r", offset=offset, shape=shape)
            else:
                arr = np.fromfile(
                    source, dtype=dtype, count=nbytes // dtype.itemsize, offset=offset
                )
                arr = arr.reshape(shape)
            if verify and _crc(arr) != int(entry["crc32"]):
                raise SnapshotError(f"index snapshot {source} is corrupt ({entry['name']})")
            arrays[str(entry["name"])] = arr
        meta = dict(header["meta"])
    except SnapshotError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise SnapshotError(f"index snapshot {source} is corrupt ({exc})") from exc
    return meta, arrays
