"""What a triage reads: folders, single files, archives (zip, tar, 7z, gzip; nested) and disk
images (raw ``dd`` and EnCase E01, through The Sleuth Kit and libewf), including deleted
files the file system still describes.

`walk(paths)` yields one `Entry` per file, in a stable order (sorted folder listings, archive
and file-system order), each with its ``chain``: where it was found, outermost first, e.g.
``("/cases/disk.E01", "partition 2 @ 1048576 (ntfs)", "/Users/a/holiday.zip", "img/1.jpg")``.
Containers are recognised by their content (magic bytes), never by their name; an archive is
an entry itself (kind ``archive``) and its members follow it. Nothing is extracted to disk:
members are read into memory, within limits that stop zip bombs and runaway nesting; a
container that cannot be opened (corrupt, encrypted, too deep) is an entry with ``error``.

Originals are opened read-only (with ``O_NOATIME`` where the system allows it).
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import hashlib
import io
import itertools
import lzma
import os
import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MAX_DEPTH = 8  # containers inside containers
MAX_MEMBER_BYTES = 2 * 1024**3  # largest member read from an archive or image
MAX_RATIO = 200  # expanded / compressed size of one archive member (zip bombs)
MAX_EXPANDED = 16 * 1024**3  # all members of one archive together

_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
_SEVEN_Z = b"7z\xbc\xaf\x27\x1c"
_GZIP = b"\x1f\x8b"
_BZIP2 = b"BZh"
_XZ = b"\xfd7zXZ\x00"
_EWF = b"EVF\x09\x0d\x0a\xff\x00"


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

    @property
    def key(self) -> str:
        """Stable identity of this file within a case: SHA-256 of its chain."""
        return chain_key(self.chain)

    @property
    def name(self) -> str:
        return self.chain[-1].rsplit("/", 1)[-1] or self.chain[-1]


def chain_key(chain: tuple[str, ...] | list[str]) -> str:
    return hashlib.sha256("\x00".join(chain).encode("utf-8", "surrogateescape")).hexdigest()


def _iso(ts: float | int | None) -> str | None:
    if ts is None or ts <= 0:
        return None
    try:
        return datetime.fromtimestamp(float(ts), UTC).isoformat(timespec="seconds")
    except (OverflowError, OSError, ValueError):
        return None


def container_kind(head: bytes) -> str | None:
    """What kind of container the first bytes say (None for an ordinary file)."""
    if head.startswith(_ZIP):
        return "zip"
    if head.startswith(_SEVEN_Z):
        return "7z"
    if head.startswith(_EWF):
        return "ewf"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    if head.startswith(_GZIP):
        return "gzip"
    if head.startswith(_BZIP2) and len(head) > 4 and head[3:4].isdigit():
        return "bzip2"
    if head.startswith(_XZ):
        return "xz"
    if _looks_like_disk(head):
        return "raw"
    return None


def _looks_like_disk(head: bytes) -> bool:
    """An MBR / GPT partition table or a FAT / NTFS / ext boot sector at offset 0."""
    if len(head) < 512 or head[510:512] != b"\x55\xaa":
        return len(head) >= 1082 and head[1080:1082] == b"\x53\xef"  # ext2/3/4 superblock
    return (
        head[3:11] in (b"NTFS    ", b"MSDOS5.0", b"mkfs.fat", b"MSWIN4.1", b"EXFAT   ")
        or head[54:62] in (b"FAT12   ", b"FAT16   ")
        or head[82:90] == b"FAT32   "
        or any(head[446 + 16 * i + 4] != 0 for i in range(4))  # a partition entry's type
    )


# -- folders and files --------------------------------------------------------------------

_NOATIME = getattr(os, "O_NOATIME", 0)


def _read_path(path: Path) -> bytes:
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags | _NOATIME)
    except PermissionError:  # O_NOATIME needs ownership
        fd = os.open(path, flags)
    with os.fdopen(fd, "rb") as handle:
        return handle.read()


def _head_of(path: Path, size: int = 4096) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(size)
    except OSError:
        return b""


def _file_entry(path: Path, st: os.stat_result) -> Entry:
    return Entry(
        chain=(str(path),),
        size=st.st_size,
        read=lambda: _read_path(path),
        times={
            "modified": _iso(st.st_mtime),
            "accessed": _iso(st.st_atime),
            "changed": _iso(st.st_ctime),
            "created": _iso(getattr(st, "st_birthtime", None)),
        },
    )


def _walk_folder(root: Path) -> Iterator[Path]:
    """Regular files under ``root``, sorted, without following symbolic links."""
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return
    for name in names:
        path = root / name
        try:
            st = path.lstat()
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            yield from _walk_folder(path)
        elif stat.S_ISREG(st.st_mode):
            yield path


def walk(paths: Sequence[str | Path], *, depth: int = MAX_DEPTH) -> Iterator[Entry]:
    """Every file of every source, containers expanded, in a stable order."""
    for raw in paths:
        root = Path(raw).resolve()
        if root.is_dir():
            files: Iterator[Path] = _walk_folder(root)
        elif root.is_file():
            files = iter([root])
        else:
            yield Entry(chain=(str(raw),), size=0, read=lambda: b"", error="no such file or folder")
            continue
        for path in files:
            try:
                st = path.stat()
            except OSError as exc:
                yield Entry(chain=(str(path),), size=0, read=lambda: b"", error=str(exc))
                continue
            entry = _file_entry(path, st)
            yield from expand(entry, _head_of(path, 4096), depth=depth, path=path)


# -- containers ---------------------------------------------------------------------------


def expand(entry: Entry, head: bytes, *, depth: int, path: Path | None = None) -> Iterator[Entry]:
    """``entry`` itself, then (if it is a container) everything inside it."""
    kind = container_kind(head)
    if kind is None:
        yield entry
        return
    entry.container = kind
    if depth <= 0:
        entry.error = f"{kind} container nested too deep (more than {MAX_DEPTH} levels)"
        yield entry
        return
    try:
        if kind in ("raw", "ewf"):
            from vangnet.investigate.disk import walk_image

            members: Iterator[Entry] = walk_image(entry, kind, path=path)
        else:
            members = _archive_members(entry, kind)
        first = next(members, None)  # a container that cannot be opened fails here
    except ContainerError as exc:
        entry.error = str(exc)
        yield entry
        return
    yield entry
    if first is None:
        return
    try:
        for member in itertools.chain([first], members):
            if member.error is not None:
                yield member
                continue
            try:
                member_head = member.read()[:4096] if member.size else b""
            except Exception as exc:  # a member that cannot be read is recorded, not fatal
                member.error = f"cannot read: {exc}"
                yield member
                continue
            yield from expand(member, member_head, depth=depth - 1)
    except ContainerError as exc:  # failed part way: what was read stands
        yield Entry(
            chain=(*entry.chain, "<rest of container>"), size=0, read=lambda: b"", error=str(exc)
        )


class ContainerError(Exception):
    """A container could not be opened or read further."""


def _member_guard(name: str, size: int, compressed: int | None, total: list[int]) -> str | None:
    if size > MAX_MEMBER_BYTES:
        return f"member larger than {MAX_MEMBER_BYTES} bytes"
    if compressed is not None and compressed > 0 and size / compressed > MAX_RATIO and size > 1e7:
        return f"compression ratio {size / compressed:.0f}:1 (a zip bomb?)"
    total[0] += size
    if total[0] > MAX_EXPANDED:
        return f"archive expands to more than {MAX_EXPANDED} bytes"
    return None


def _archive_members(entry: Entry, kind: str) -> Iterator[Entry]:
    try:
        data = entry.read()
    except OSError as exc:
        raise ContainerError(f"cannot read {kind} archive: {exc}") from None
    if kind == "zip":
        yield from _zip_members(entry, data)
    elif kind == "tar":
        yield from _tar_members(entry, data)
    elif kind == "7z":
        yield from _seven_z_members(entry, data)
    else:
        yield _stream_member(entry, data, kind)


def _member(entry: Entry, name: str, size: int, read: Callable[[], bytes], **kw: Any) -> Entry:
    return Entry(chain=(*entry.chain, name), size=size, read=read, **kw)


def _zip_members(entry: Entry, data: bytes) -> Iterator[Entry]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
        raise ContainerError(f"corrupt zip archive: {exc}") from None
    total = [0]
    for info in infos:
        if info.is_dir():
            continue
        times = {"modified": _zip_time(info.date_time)}
        problem = _member_guard(info.filename, info.file_size, info.compress_size, total)
        if info.flag_bits & 0x1:
            problem = "encrypted zip member (no password)"
        if problem is not None:
            yield _member(
                entry, info.filename, info.file_size, lambda: b"", times=times, error=problem
            )
            continue

        def read(info: zipfile.ZipInfo = info) -> bytes:
            try:
                with archive.open(info) as handle:
                    out = handle.read(MAX_MEMBER_BYTES + 1)
            except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError) as exc:
                raise OSError(f"corrupt zip member: {exc}") from None
            if len(out) > MAX_MEMBER_BYTES:
                raise OSError("member larger than declared (a zip bomb?)")
            return out

        yield _member(entry, info.filename, info.file_size, _cached(read), times=times)


def _zip_time(value: tuple[int, int, int, int, int, int]) -> str | None:
    try:
        year, month, day, hour, minute, second = value
        return datetime(year, month, day, hour, minute, second).isoformat(timespec="seconds")
    except (ValueError, TypeError):
        return None


def _tar_members(entry: Entry, data: bytes) -> Iterator[Entry]:
    try:
        archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:")  # noqa: SIM115 - read lazily below
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ContainerError(f"corrupt tar archive: {exc}") from None
    total = [0]
    with archive:
        try:
            for info in archive:
                if not info.isfile():
                    continue
                times = {"modified": _iso(info.mtime)}
                problem = _member_guard(info.name, info.size, None, total)
                if problem is not None:
                    yield _member(
                        entry, info.name, info.size, lambda: b"", times=times, error=problem
                    )
                    continue
                handle = archive.extractfile(info)
                body = handle.read() if handle is not None else b""
                yield _member(entry, info.name, info.size, _constant(body), times=times)
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise ContainerError(f"tar archive breaks off: {exc}") from None


def _seven_z_members(entry: Entry, data: bytes) -> Iterator[Entry]:
    import py7zr
    from py7zr.exceptions import ArchiveError, PasswordRequired, UnsupportedCompressionMethodError

    try:
        archive = py7zr.SevenZipFile(io.BytesIO(data), mode="r")
        if archive.needs_password():
            raise ContainerError("encrypted 7z archive (no password)")
        infos = [i for i in archive.list() if not i.is_directory]
        total = [0]
        guarded = {
            i.filename: _member_guard(i.filename, i.uncompressed, i.compressed, total)
            for i in infos
        }
        wanted = [name for name, problem in guarded.items() if problem is None]
        contents: dict[str, bytes] = {}
        if wanted:
            factory = _MemoryFactory()
            archive.extract(targets=wanted, factory=factory)  # type: ignore[arg-type]
            contents = factory.contents()
    except ContainerError:
        raise
    except (
        ArchiveError,
        PasswordRequired,
        UnsupportedCompressionMethodError,
        EOFError,
        OSError,
        ValueError,
        KeyError,
        lzma.LZMAError,
    ) as exc:
        raise ContainerError(f"corrupt 7z archive: {exc}") from None
    for info in infos:
        problem = guarded[info.filename]
        times = {
            "modified": info.creationtime.isoformat(timespec="seconds")
            if info.creationtime
            else None
        }
        body = contents.get(info.filename, b"")
        yield _member(
            entry,
            info.filename,
            info.uncompressed,
            _constant(body),
            times=times,
            error=problem,
        )


class _MemoryFactory:
    """py7zr writer factory keeping extracted members in memory (never on disk)."""

    def __init__(self) -> None:
        from py7zr.io import BytesIOFactory

        self._inner = BytesIOFactory(MAX_MEMBER_BYTES)

    def create(self, filename: str) -> Any:
        return self._inner.create(filename)

    def contents(self) -> dict[str, bytes]:
        return {name: buf.read() for name, buf in self._inner.products.items()}


def _stream_member(entry: Entry, data: bytes, kind: str) -> Entry:
    """The single member of a gzip / bzip2 / xz stream, decompressed with a size cap."""
    buffer = io.BytesIO(data)
    try:
        if kind == "gzip":
            with gzip.GzipFile(fileobj=buffer) as handle:
                body = handle.read(MAX_MEMBER_BYTES + 1)
        elif kind == "bzip2":
            with bz2.BZ2File(buffer) as handle:
                body = handle.read(MAX_MEMBER_BYTES + 1)
        else:
            with lzma.LZMAFile(buffer) as handle:
                body = handle.read(MAX_MEMBER_BYTES + 1)
    except (OSError, EOFError, lzma.LZMAError, ValueError) as exc:
        raise ContainerError(f"corrupt {kind} stream: {exc}") from None
    name = entry.name
    for suffix in (".gz", ".tgz", ".bz2", ".xz"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)] + (".tar" if suffix == ".tgz" else "")
            break
    else:
        name = name + ".decompressed"
    if len(body) > MAX_MEMBER_BYTES:
        return _member(entry, name, len(body), lambda: b"", error="decompresses to too much")
    if len(data) and len(body) / len(data) > MAX_RATIO and len(body) > 1e7:
        ratio = len(body) / len(data)
        return _member(entry, name, len(body), lambda: b"", error=f"ratio {ratio:.0f}:1 (a bomb?)")
    return _member(entry, name, len(body), lambda: body)


def _constant(body: bytes) -> Callable[[], bytes]:
    def read() -> bytes:
        return body

    return read


def _cached(read: Callable[[], bytes]) -> Callable[[], bytes]:
    """Read once (the head is looked at, then the whole member is hashed)."""
    box: list[bytes] = []

    def once() -> bytes:
        if not box:
            box.append(read())
        return box[0]

    return once


def forget(entry: Entry) -> None:
    """Drop a member's cached bytes once it has been processed."""
    with contextlib.suppress(AttributeError):
        cells = entry.read.__closure__ or ()
        for cell in cells:
            if isinstance(cell.cell_contents, list):
                cell.cell_contents.clear()
