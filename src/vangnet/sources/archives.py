"""What a triage reads: folders, single files, archives (zip, tar, 7z, gzip; nested) and disk
images (raw ``dd`` and EnCase E01, through The Sleuth Kit and libewf), including deleted
files the file system still describes.

`walk(paths)` yields one `Entry` per file, in a stable order (sorted folder listings, archive
and file-system order), each with its ``chain``: where it was found, outermost first, e.g.
``("/cases/disk.E01", "partition 2 @ 1048576 (ntfs)", "/Users/a/holiday.zip", "img/1.jpg")``,
and its ``locations``: where each step sits in its container (a zip member's local header
offset, a tar member's header offset), so that one member can be opened again later without
reading the rest (`vangnet.triage.locate`). Containers are recognised by their content
(magic bytes), never by their name; an archive is an entry itself (kind ``archive``) and its
members follow it. Nothing is extracted to disk.

Memory stays bounded whatever the input: archives are read as streams (a zip's central
directory and then one member at a time, a tar header by header, gzip / bzip2 / xz through a
streaming decompressor), never whole; a member's bytes are read only when asked for. Sizes
and compression ratios are checked from the headers before reading and again WHILE
decompressing (`Capped`): a stream stops as soon as its output passes `MAX_RATIO` times the
compressed input read so far (past `RATIO_FLOOR` bytes) or an absolute cap, so a gzip bomb is
refused after about ``RATIO_FLOOR`` bytes, not after filling memory. A container that cannot
be opened (corrupt, encrypted, too deep) is an entry with ``error``.

Originals are opened read-only (with ``O_NOATIME`` where the system allows it).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import lzma
import os
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Generator, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from vangnet.sources.archive_streams import (
    MAX_EXPANDED,
    MAX_MEMBER_BYTES,
    MAX_RATIO,
    RATIO_FLOOR,
    BombError,
    Capped,
    buffered,
    decompressing,
    read_all,
    reader,
)
from vangnet.sources.entries import (
    ContainerError,
    Entry,
    Location,
    Opener,
    Wanted,
    forget,
    iso_time,
)

MAX_DEPTH = 8  # containers inside containers
SEVEN_Z_BATCH_BYTES = 256 * 1024 * 1024  # 7z members decompressed into memory at one time

_ZIP = (b"PK\x03\x04", b"PK\x05\x06")
_SEVEN_Z = b"7z\xbc\xaf\x27\x1c"
_GZIP = b"\x1f\x8b"
_BZIP2 = b"BZh"
_XZ = b"\xfd7zXZ\x00"
_EWF = b"EVF\x09\x0d\x0a\xff\x00"


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


def _random_access(handle: IO[bytes]) -> bool:
    """A stream that seeks cheaply: a real file, or bytes in memory (a member of a
    compressed archive seeks back only by decompressing again from its start)."""
    if isinstance(handle, io.BytesIO | io.FileIO):
        return True
    return isinstance(handle, io.BufferedReader) and isinstance(handle.raw, io.FileIO)


def seekable_stream(entry: Entry, *, in_memory_up_to: int = MAX_MEMBER_BYTES) -> IO[bytes]:
    """``entry``'s bytes as a seekable stream (zip and 7z readers need one): the stream
    itself when it seeks cheaply, or when it is larger than ``in_memory_up_to`` and can seek
    at all (slowly, in bounded memory); otherwise its bytes, read into memory, at most
    ``in_memory_up_to`` of them (more is an `OSError`)."""
    handle = entry.stream()
    if _random_access(handle):
        return handle
    if handle.seekable() and entry.size > in_memory_up_to:
        return handle
    with contextlib.closing(handle):
        return io.BytesIO(read_all(handle, limit=in_memory_up_to, what=entry.name))


# -- folders and files --------------------------------------------------------------------

_NOATIME = getattr(os, "O_NOATIME", 0)


def _open_path(path: Path) -> IO[bytes]:
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(path, flags | _NOATIME)
    except PermissionError:  # O_NOATIME needs ownership
        fd = os.open(path, flags)
    return os.fdopen(fd, "rb")


def _read_path(path: Path) -> bytes:
    with _open_path(path) as handle:
        return handle.read()


def _head_of(path: Path, size: int = 4096) -> bytes:
    try:
        with path.open("rb") as handle:
            return handle.read(size)
    except OSError:
        return b""


def file_entry(path: Path, st: os.stat_result) -> Entry:
    """The entry of a file on disk: its own chain, size, times and readers."""
    return Entry(
        chain=(str(path),),
        size=st.st_size,
        read=lambda: _read_path(path),
        opener=lambda: _open_path(path),
        times={
            "modified": iso_time(st.st_mtime),
            "accessed": iso_time(st.st_atime),
            "changed": iso_time(st.st_ctime),
            "created": iso_time(getattr(st, "st_birthtime", None)),
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
            entry = file_entry(path, st)
            yield from expand(entry, _head_of(path, 4096), depth=depth, path=path)


# -- containers ---------------------------------------------------------------------------


def expand(entry: Entry, head: bytes, *, depth: int, path: Path | None = None) -> Iterator[Entry]:
    """``entry`` itself, then (if it is a container) everything inside it.

    A member's bytes can be read while the walk stands at it (before the next entry is
    asked for): the containers above it are open then."""
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
        members = open_members(entry, kind, path=path)
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
                member_head = member.head()
            except Exception as exc:  # a member that cannot be read is recorded, not fatal
                member.error = f"cannot read: {exc}"
                yield member
                continue
            yield from expand(member, member_head, depth=depth - 1)
    except ContainerError as exc:  # failed part way: what was read stands
        yield Entry(
            chain=(*entry.chain, "<rest of container>"), size=0, read=lambda: b"", error=str(exc)
        )
    finally:
        members.close()
        forget(entry)  # bytes held for the container itself (a member of a tar or 7z)


def _member_guard(name: str, size: int, compressed: int | None, total: list[int]) -> str | None:
    if size > MAX_MEMBER_BYTES:
        return f"member larger than {MAX_MEMBER_BYTES} bytes"
    if (
        compressed is not None
        and compressed > 0
        and size / compressed > MAX_RATIO
        and size > RATIO_FLOOR
    ):
        return f"compression ratio {size / compressed:.0f}:1 (a zip bomb?)"
    total[0] += size
    if total[0] > MAX_EXPANDED:
        return f"archive expands to more than {MAX_EXPANDED} bytes"
    return None


def open_members(
    entry: Entry,
    kind: str,
    *,
    path: Path | None = None,
    wanted: Wanted | None = None,
    in_memory_up_to: int = MAX_MEMBER_BYTES,
) -> Generator[Entry, None, None]:
    """The members of the container ``entry`` (of ``kind``), or only the ``wanted`` one.

    A zip or 7z inside another archive needs random access: it is held in memory up to
    ``in_memory_up_to`` bytes, read through a (slowly) seeking stream when larger. The
    container stays open while the generator is not exhausted or closed."""
    if kind in ("raw", "ewf"):
        from vangnet.sources.disk import walk_image

        yield from walk_image(entry, kind, path=path)
        return
    if kind not in ("zip", "tar", "7z"):
        yield _stream_member(entry, kind)  # gzip, bzip2, xz: one member, its own stream
        return
    try:
        if kind == "tar":
            handle = entry.stream()
        else:
            handle = seekable_stream(entry, in_memory_up_to=in_memory_up_to)
    except OSError as exc:
        raise ContainerError(f"cannot read {kind} archive: {exc}") from None
    with contextlib.closing(handle):
        if kind == "zip":
            yield from _zip_members(entry, handle, wanted)
        elif kind == "tar":
            yield from _tar_members(entry, handle, wanted)
        else:
            yield from _seven_z_members(entry, handle, wanted)


def _member(
    entry: Entry,
    name: str,
    size: int,
    read: Callable[[], bytes],
    *,
    location: Location = None,
    opener: Opener | None = None,
    **kw: Any,
) -> Entry:
    return Entry(
        chain=(*entry.chain, name),
        size=size,
        read=read,
        opener=opener,
        locations=(*entry.location_list(), location),
        **kw,
    )


def _refused(entry: Entry, name: str, size: int, problem: str, **kw: Any) -> Entry:
    return _member(entry, name, size, lambda: b"", error=problem, **kw)


def _zip_members(entry: Entry, handle: IO[bytes], wanted: Wanted | None) -> Iterator[Entry]:
    try:
        archive = zipfile.ZipFile(handle)
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError, EOFError) as exc:
        raise ContainerError(f"corrupt zip archive: {exc}") from None
    total = [0]
    for info in infos:
        if info.is_dir():
            continue
        if wanted is not None and (
            info.filename != wanted[0] or wanted[1] not in (None, info.header_offset)
        ):
            continue
        times = {"modified": _zip_time(info.date_time)}
        problem = _member_guard(info.filename, info.file_size, info.compress_size, total)
        if info.flag_bits & 0x1:
            problem = "encrypted zip member (no password)"
        where = info.header_offset
        if problem is not None:
            yield _refused(entry, info.filename, info.file_size, problem, times=times)
            continue

        def opener(info: zipfile.ZipInfo = info) -> IO[bytes]:
            what = f"zip member {info.filename}"
            try:
                inner = archive.open(info)
            except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as exc:
                raise OSError(f"corrupt zip member: {exc}") from None
            # zipfile stops at the declared size (checked above); decoder errors -> OSError.
            return buffered(Capped(inner, what=what))

        yield _member(
            entry,
            info.filename,
            info.file_size,
            reader(opener, limit=MAX_MEMBER_BYTES, what=info.filename),
            location=where,
            opener=opener,
            times=times,
        )
        if wanted is not None:
            return


def _zip_time(value: tuple[int, int, int, int, int, int]) -> str | None:
    try:
        year, month, day, hour, minute, second = value
        return datetime(year, month, day, hour, minute, second).isoformat(timespec="seconds")
    except (ValueError, TypeError):
        return None


def _tar_members(entry: Entry, handle: IO[bytes], wanted: Wanted | None) -> Iterator[Entry]:
    """Members of a tar: opened lazily when the tar is a file or in memory; read once, in
    order, when it is a decompressing stream (which cannot seek back)."""
    random = _random_access(handle)
    try:
        archive = tarfile.open(fileobj=handle, mode="r:" if random else "r|")  # noqa: SIM115
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ContainerError(f"corrupt tar archive: {exc}") from None
    total = [0]
    with archive:
        try:
            if wanted is not None and wanted[1] is not None and wanted[1] > archive.offset:
                archive.offset = wanted[1]  # the next header read is the member's
            for info in archive:
                if not info.isfile():
                    continue
                if wanted is not None and (
                    info.name != wanted[0] or wanted[1] not in (None, info.offset)
                ):
                    continue
                times = {"modified": iso_time(info.mtime)}
                problem = _member_guard(info.name, info.size, None, total)
                if problem is not None:
                    yield _refused(entry, info.name, info.size, problem, times=times)
                    continue
                what = f"tar member {info.name}"
                if random:

                    def opener(info: tarfile.TarInfo = info) -> IO[bytes]:
                        inner = archive.extractfile(info)
                        if inner is None:  # pragma: no cover - regular files always have data
                            return io.BytesIO()
                        return buffered(Capped(inner, what=f"tar member {info.name}"))

                    read = reader(opener, limit=MAX_MEMBER_BYTES, what=what)
                    yield _member(
                        entry,
                        info.name,
                        info.size,
                        read,
                        location=info.offset,
                        opener=opener,
                        times=times,
                    )
                else:
                    inner = archive.extractfile(info)
                    body = b"" if inner is None else read_all(inner, limit=info.size, what=what)
                    held = _held(body)
                    del body
                    yield _member(
                        entry,
                        info.name,
                        info.size,
                        held,
                        location=info.offset,
                        opener=_in_memory(held),
                        times=times,
                    )
                if wanted is not None:
                    return
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise ContainerError(f"tar archive breaks off: {exc}") from None


def _seven_z_members(entry: Entry, handle: IO[bytes], wanted: Wanted | None) -> Iterator[Entry]:
    """Members of a 7z, decompressed in batches of at most `SEVEN_Z_BATCH_BYTES` (declared
    sizes; each member's output is capped as it is written, whatever the header says)."""
    import py7zr
    from py7zr.exceptions import ArchiveError, PasswordRequired, UnsupportedCompressionMethodError

    errors = (
        ArchiveError,
        PasswordRequired,
        UnsupportedCompressionMethodError,
        EOFError,
        OSError,
        ValueError,
        KeyError,
        IndexError,
        lzma.LZMAError,
        zlib.error,
    )
    try:
        archive = py7zr.SevenZipFile(handle, mode="r")
        if archive.needs_password():
            raise ContainerError("encrypted 7z archive (no password)")
        infos = [i for i in archive.list() if not i.is_directory]
    except ContainerError:
        raise
    except errors as exc:
        raise ContainerError(f"corrupt 7z archive: {exc}") from None
    if wanted is not None:
        infos = [i for i in infos if i.filename == wanted[0]][:1]
    total = [0]
    guarded = {
        i.filename: _member_guard(i.filename, i.uncompressed, i.compressed, total) for i in infos
    }
    bodies: dict[str, bytes] = {}  # the batch decompressed, not yet handed out
    with archive:
        for start, info in enumerate(infos):
            problem = guarded[info.filename]
            times = {
                "modified": info.creationtime.isoformat(timespec="seconds")
                if info.creationtime
                else None
            }
            if problem is not None:
                yield _refused(entry, info.filename, info.uncompressed, problem, times=times)
                continue
            if info.filename not in bodies:
                bodies.clear()
                try:
                    bodies = _extract(archive, _seven_z_batch(infos[start:], guarded))
                except errors as exc:
                    raise ContainerError(f"corrupt 7z archive: {exc}") from None
            held = _held(bodies.pop(info.filename, b""))
            yield _member(
                entry,
                info.filename,
                info.uncompressed,
                held,
                opener=_in_memory(held),
                times=times,
            )


def _seven_z_batch(infos: list[Any], guarded: dict[str, str | None]) -> list[Any]:
    batch: list[Any] = []
    size = 0
    for info in infos:
        if guarded[info.filename] is not None:
            continue
        if batch and size + info.uncompressed > SEVEN_Z_BATCH_BYTES:
            break
        batch.append(info)
        size += info.uncompressed
    return batch


def _extract(archive: Any, batch: list[Any]) -> dict[str, bytes]:
    factory = _MemoryFactory({i.filename: i.uncompressed for i in batch})
    archive.reset()
    archive.extract(targets=[i.filename for i in batch], factory=factory)
    return factory.contents()


class _MemoryFactory:
    """py7zr writer factory keeping extracted members in memory (never on disk), each one
    stopped with `BombError` as soon as it grows past its declared size."""

    def __init__(self, sizes: dict[str, int]) -> None:
        self._sizes = sizes
        self.products: dict[str, _Sink] = {}

    def create(self, filename: str) -> Any:
        limit = min(self._sizes.get(filename, 0), MAX_MEMBER_BYTES)
        sink = _Sink(filename, limit)
        self.products[filename] = sink
        return sink

    def contents(self) -> dict[str, bytes]:
        return {name: sink.buffer.getvalue() for name, sink in self.products.items()}


class _Sink:
    """One 7z member's bytes as py7zr writes them (the `py7zr.io.Py7zIO` interface)."""

    def __init__(self, filename: str, limit: int) -> None:
        self.filename = filename
        self.limit = limit
        self.buffer = io.BytesIO()

    def write(self, data: bytes | bytearray) -> int:
        if self.buffer.tell() + len(data) > self.limit:
            raise BombError(f"7z member {self.filename} expands past its declared size")
        return self.buffer.write(data)

    def read(self, size: int | None = None) -> bytes:
        return self.buffer.read(size)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.buffer.seek(offset, whence)

    def flush(self) -> None:
        return None

    def size(self) -> int:
        return len(self.buffer.getbuffer())

    def close(self) -> None:
        return None


def _stream_member(entry: Entry, kind: str) -> Entry:
    """The single member of a gzip / bzip2 / xz stream, decompressed as it is read, with the
    ratio and size caps checked while decompressing (`Capped`)."""
    name = entry.name
    for suffix in (".gz", ".tgz", ".bz2", ".xz"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)] + (".tar" if suffix == ".tgz" else "")
            break
    else:
        name = name + ".decompressed"
    what = f"{kind} stream {entry.name}"

    def opener() -> IO[bytes]:
        return decompressing(entry.stream(), kind, what=what)

    try:
        with contextlib.closing(opener()) as handle:
            handle.read(1)  # a stream that is not what its magic says fails here
    except OSError as exc:
        raise ContainerError(f"corrupt {kind} stream: {exc}") from None
    member = _member(entry, name, 0, lambda: b"", opener=opener)
    read = reader(opener, limit=MAX_MEMBER_BYTES, what=name)

    def read_and_size() -> bytes:
        data = read()
        member.size = len(data)
        return data

    member.read = read_and_size
    return member


def _in_memory(read: Callable[[], bytes]) -> Opener:
    def opener() -> IO[bytes]:
        return io.BytesIO(read())

    return opener


def _held(body: bytes) -> Callable[[], bytes]:
    """A member's bytes already read (tar streams, 7z); `forget` lets them go."""
    box = [body]

    def read() -> bytes:
        if not box:
            raise OSError("the member's bytes were already released")
        return box[0]

    return read
