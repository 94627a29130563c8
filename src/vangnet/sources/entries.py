"""What a source yields: `Entry`, one file found in a folder, archive or disk image, with its
chain of containers, size, times and readers; and what the walkers over them share.

`vangnet.sources.archives` (folders, files, archives) and `vangnet.sources.disk` (disk images)
both make entries; archives hands a disk image to disk, never the other way round.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO

Opener = Callable[[], IO[bytes]]
#: Where a chain step sits in its container (a header offset), None where not recorded.
Location = int | None
#: The one member a reader looks for: its name and, when recorded, its location.
Wanted = tuple[str, Location]


@dataclass
class Entry:
    """One file found in a source."""

    chain: tuple[str, ...]
    size: int
    read: Callable[[], bytes] = field(repr=False)
    times: dict[str, str | None] = field(default_factory=dict)
    deleted: bool = False
    error: str | None = None  # the container or file could not be read
    container: str | None = None  # "zip", "tar", "7z", "gzip", "raw", "ewf" when expanded
    opener: Opener | None = field(default=None, repr=False)  # the bytes as a stream
    locations: tuple[Location, ...] = ()  # per chain step (padded with None)

    @property
    def key(self) -> str:
        """Stable identity of this file within a case: SHA-256 of its chain."""
        return chain_key(self.chain)

    @property
    def name(self) -> str:
        return self.chain[-1].rsplit("/", 1)[-1] or self.chain[-1]

    def stream(self) -> IO[bytes]:
        """The bytes as a stream (read lazily where the container allows it)."""
        if self.opener is not None:
            return self.opener()
        return io.BytesIO(self.read())

    def head(self, size: int = 4096) -> bytes:
        """The first ``size`` bytes (what `container_kind` looks at)."""
        with contextlib.closing(self.stream()) as handle:
            return handle.read(size)

    def location_list(self) -> list[Location]:
        """``locations`` with one entry per chain step."""
        found = list(self.locations[: len(self.chain)])
        return found + [None] * (len(self.chain) - len(found))


def chain_key(chain: tuple[str, ...] | list[str]) -> str:
    return hashlib.sha256("\x00".join(chain).encode("utf-8", "surrogateescape")).hexdigest()


def iso_time(ts: float | int | None) -> str | None:
    if ts is None or ts <= 0:
        return None
    try:
        return datetime.fromtimestamp(float(ts), UTC).isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):
        return None


class ContainerError(Exception):
    """A container could not be opened or read further."""


def read_once(read: Callable[[], bytes]) -> Callable[[], bytes]:
    """Read once (the head is looked at, then the whole member is hashed)."""
    box: list[bytes] = []

    def once() -> bytes:
        if not box:
            box.append(read())
        return box[0]

    return once


def forget(entry: Entry) -> None:
    """Drop a member's held bytes once it has been processed."""
    with contextlib.suppress(AttributeError):
        cells = entry.read.__closure__ or ()
        for cell in cells:
            if isinstance(cell.cell_contents, list):
                cell.cell_contents.clear()
