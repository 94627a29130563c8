"""Disk images through The Sleuth Kit (pytsk3) and libewf (pyewf): raw ``dd`` images and
EnCase E01 (all segments), partition tables (MBR, GPT) or a bare file system, and every
file the file systems describe: allocated files and deleted ones whose data can still be
read (``deleted=True``). Images are opened read-only; nothing is written.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vangnet.sources.archive_streams import MAX_MEMBER_BYTES
from vangnet.sources.entries import ContainerError, Entry, iso_time, read_once

_SKIP = {".", "..", "$OrphanFiles", "$MBR", "$FAT1", "$FAT2"}
MAX_FILES = 5_000_000  # per file system
MAX_DIRS_DEEP = 64


class _BytesImage:  # pragma: no cover - subclassed at runtime (pytsk3 needs its base class)
    pass


def _image_info(entry: Entry, kind: str, path: Path | None) -> Any:
    import pytsk3

    if kind == "ewf":
        import pyewf

        class EwfImage(pytsk3.Img_Info):  # type: ignore[misc]
            def __init__(self, handle: Any) -> None:
                self._handle = handle
                super().__init__(url="", type=pytsk3.TSK_IMG_TYPE_EXTERNAL)

            def close(self) -> None:
                self._handle.close()

            def read(self, offset: int, size: int) -> bytes:
                self._handle.seek(offset)
                data: bytes = self._handle.read(size)
                return data

            def get_size(self) -> int:
                size: int = self._handle.get_media_size()
                return size

        handle = pyewf.handle()
        if path is not None:
            handle.open(pyewf.glob(str(path)))
        else:
            handle.open_file_objects([io.BytesIO(entry.read())])
        return EwfImage(handle)
    if path is not None:
        return pytsk3.Img_Info(str(path))

    data = entry.read()

    class BytesImage(pytsk3.Img_Info):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(url="", type=pytsk3.TSK_IMG_TYPE_EXTERNAL)

        def read(self, offset: int, size: int) -> bytes:
            return data[offset : offset + size]

        def get_size(self) -> int:
            return len(data)

    return BytesImage()


def _fs_name(fs: Any) -> str:
    import pytsk3

    names = {
        int(getattr(pytsk3, n)): n.removeprefix("TSK_FS_TYPE_").lower()
        for n in dir(pytsk3)
        if n.startswith("TSK_FS_TYPE_")
        and not n.endswith(("_DETECT", "_ENUM"))
        and isinstance(getattr(pytsk3, n), int)
    }
    return names.get(int(fs.info.ftype), "unknown")


def _volumes(img: Any) -> list[tuple[str, int]]:
    """(label, byte offset) of each file system to open: partitions, or the whole image."""
    import pytsk3

    try:
        volume = pytsk3.Volume_Info(img)
    except OSError:
        return [("whole image @ 0", 0)]
    block = volume.info.block_size
    found = []
    for part in volume:
        if part.flags != pytsk3.TSK_VS_PART_FLAG_ALLOC or part.len <= 0:
            continue
        desc = part.desc.decode("utf-8", "replace") if isinstance(part.desc, bytes) else part.desc
        found.append((f"partition {part.addr} @ {part.start * block} ({desc})", part.start * block))
    return found or [("whole image @ 0", 0)]


def walk_image(entry: Entry, kind: str, *, path: Path | None = None) -> Iterator[Entry]:
    """Every file of every file system in the image ``entry``."""
    import pytsk3

    try:
        img = _image_info(entry, kind, path)
    except (OSError, ImportError, RuntimeError) as exc:
        raise ContainerError(f"cannot open {kind} disk image: {exc}") from None
    systems: list[tuple[str, Any]] = []
    problems: list[tuple[str, str]] = []
    for label, offset in _volumes(img):
        try:
            systems.append((label, pytsk3.FS_Info(img, offset=offset)))
        except OSError as exc:
            problems.append((label, f"no readable file system: {exc}"))
    if not systems:
        detail = "; ".join(f"{label}: {why}" for label, why in problems)
        raise ContainerError(f"no readable file system in the {kind} disk image ({detail})")
    for label, why in problems:
        yield Entry(chain=(*entry.chain, label), size=0, read=lambda: b"", error=why)
    for label, fs in systems:
        base = (*entry.chain, label, f"file system ({_fs_name(fs)})")
        yield from _walk_fs(fs, fs.open_dir(path="/"), "", base, 0, [0])


def _walk_fs(
    fs: Any, directory: Any, prefix: str, base: tuple[str, ...], depth: int, count: list[int]
) -> Iterator[Entry]:
    import pytsk3

    if depth > MAX_DIRS_DEEP:
        return
    rows = []
    for item in directory:
        info = item.info
        name = info.name.name
        name = name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name)
        if name in _SKIP or info.meta is None or name.endswith("(Volume Label Entry)"):
            continue
        rows.append((name, item))
    for name, item in sorted(rows, key=lambda r: r[0]):
        info = item.info
        meta = info.meta
        full = f"{prefix}/{name}"
        deleted = bool(info.name.flags & pytsk3.TSK_FS_NAME_FLAG_UNALLOC) or bool(
            meta.flags & pytsk3.TSK_FS_META_FLAG_UNALLOC
        )
        if meta.type == pytsk3.TSK_FS_META_TYPE_DIR:
            if deleted:
                continue  # a deleted folder's entries are unreliable
            try:
                sub = item.as_directory()
            except OSError:
                continue
            yield from _walk_fs(fs, sub, full, base, depth + 1, count)
            continue
        if meta.type != pytsk3.TSK_FS_META_TYPE_REG:
            continue
        count[0] += 1
        if count[0] > MAX_FILES:
            return
        size = int(meta.size)
        times = {
            "modified": iso_time(meta.mtime),
            "accessed": iso_time(meta.atime),
            "changed": iso_time(meta.ctime),
            "created": iso_time(meta.crtime),
        }
        if size > MAX_MEMBER_BYTES:
            yield Entry(
                chain=(*base, full),
                size=size,
                read=lambda: b"",
                times=times,
                deleted=deleted,
                error=f"file larger than {MAX_MEMBER_BYTES} bytes",
            )
            continue

        def read(item: Any = item, size: int = size, deleted: bool = deleted) -> bytes:
            if size == 0:
                return b""
            try:
                data: bytes = item.read_random(0, size)
            except OSError as exc:
                what = "deleted file's data is gone" if deleted else "cannot read"
                raise OSError(f"{what}: {exc}") from None
            return data

        yield Entry(
            chain=(*base, full), size=size, read=read_once(read), times=times, deleted=deleted
        )
