"""Bounded reading of archive members: decompressing streams that stop as soon as they
expand too far, and chunked reads with a size cap.

`Capped` wraps a member's stream: decoder errors become `OSError` (recorded per item, never
fatal), and for a decompressing stream (gzip, bzip2, xz; `decompressing`) the output is
checked on every read against `MAX_RATIO` times the compressed bytes taken so far (once past
`RATIO_FLOOR`) and against an absolute cap: a bomb is stopped with `BombError` after about
``RATIO_FLOOR`` bytes, not after filling memory.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import lzma
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from typing import IO, Any

MAX_MEMBER_BYTES = 2 * 1024**3  # largest member read from an archive or image
MAX_RATIO = 200  # expanded / compressed size of one archive member (zip bombs)
RATIO_FLOOR = 10 * 1024 * 1024  # the ratio is enforced once this much has been expanded
MAX_EXPANDED = 16 * 1024**3  # all members of one archive together
CHUNK = 1024 * 1024  # bytes read from a stream at a time
_INPUT_BUFFER = 64 * 1024  # compressed bytes read ahead (the ratio is measured against them)


class BombError(OSError):
    """A stream was stopped: it expanded past the ratio or the absolute cap."""


_DECODER_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    ValueError,
    NotImplementedError,
    tarfile.TarError,
)


class _Counting(io.RawIOBase):
    """The compressed input of a decompressor, counting the bytes it has taken."""

    def __init__(self, inner: IO[bytes]) -> None:
        super().__init__()
        self._inner = inner
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._inner.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._inner.close()
        super().close()


class Capped(io.RawIOBase):
    """A member's bytes, with decoder errors as `OSError` and, for a decompressing stream
    (``consumed`` given), the caps enforced on every read: more than ``limit`` bytes out, or
    more than `MAX_RATIO` times the compressed bytes taken (once past `RATIO_FLOOR`), stops
    the stream with `BombError`. Seekable when the inner stream is and no count is kept."""

    def __init__(
        self,
        inner: IO[bytes] | gzip.GzipFile | bz2.BZ2File | lzma.LZMAFile,
        *,
        what: str,
        consumed: Callable[[], int] | None = None,
        limit: int = MAX_EXPANDED,
    ) -> None:
        super().__init__()
        self._inner = inner
        self._what = what
        self._consumed = consumed
        self._limit = limit
        self.produced = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return self._consumed is None and self._inner.seekable()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if not self.seekable():
            raise io.UnsupportedOperation("a decompressing stream only reads forward")
        try:
            return self._inner.seek(offset, whence)
        except _DECODER_ERRORS as exc:
            raise OSError(f"corrupt {self._what}: {exc}") from None

    def tell(self) -> int:
        return self._inner.tell() if self.seekable() else self.produced

    def readinto(self, buffer: Any) -> int:
        try:
            data = self._inner.read(len(buffer))
        except BombError:
            raise
        except _DECODER_ERRORS as exc:
            raise OSError(f"corrupt {self._what}: {exc}") from None
        buffer[: len(data)] = data
        self.produced += len(data)
        if self._consumed is not None:
            self._check()
        return len(data)

    def _check(self) -> None:
        if self.produced > self._limit:
            raise BombError(f"{self._what} expands to more than {self._limit} bytes (a bomb?)")
        taken = max(1, self._consumed() if self._consumed is not None else 1)
        if self.produced > RATIO_FLOOR and self.produced / taken > MAX_RATIO:
            raise BombError(
                f"{self._what}: compression ratio {self.produced / taken:.0f}:1 after "
                f"{self.produced} bytes, more than {MAX_RATIO}:1 (a zip bomb?); stopped"
            )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._inner.close()
        super().close()


def buffered(raw: io.RawIOBase) -> IO[bytes]:
    return io.BufferedReader(raw, buffer_size=CHUNK)


def decompressing(raw: IO[bytes], kind: str, *, what: str) -> IO[bytes]:
    """The decompressed stream of a gzip / bzip2 / xz ``raw`` stream, capped (`Capped`)."""
    counting = _Counting(raw)
    source = io.BufferedReader(counting, buffer_size=_INPUT_BUFFER)
    inner: gzip.GzipFile | bz2.BZ2File | lzma.LZMAFile
    if kind == "gzip":
        inner = gzip.GzipFile(fileobj=source, mode="rb")
    elif kind == "bzip2":
        inner = bz2.BZ2File(source, mode="rb")
    else:
        inner = lzma.LZMAFile(source, mode="rb")  # noqa: SIM115 - closed with the stream
    return buffered(Capped(inner, what=what, consumed=lambda: counting.count))


def read_all(handle: IO[bytes], *, limit: int, what: str) -> bytes:
    """Everything ``handle`` holds, in chunks; more than ``limit`` bytes is an `OSError`."""
    out = io.BytesIO()
    while chunk := handle.read(CHUNK):
        out.write(chunk)
        if out.tell() > limit:
            raise BombError(f"{what} is larger than {limit} bytes")
    return out.getvalue()


def reader(opener: Callable[[], IO[bytes]], *, limit: int, what: str) -> Callable[[], bytes]:
    """A member's ``read``: open a fresh stream and read it all (at most ``limit`` bytes)."""

    def read() -> bytes:
        with contextlib.closing(opener()) as handle:
            return read_all(handle, limit=limit, what=what)

    return read
