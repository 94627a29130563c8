"""What made a photo: make, model, lens, owner and serial numbers from EXIF, XMP and the
Canon, Nikon and Fujifilm maker notes."""

from __future__ import annotations

import struct
from typing import Any

from PIL import ExifTags

from vangnet.triage.metadata.exif import TIFF_HEADERS, Exif
from vangnet.triage.metadata.models import Device, SerialKind, SerialNumber
from vangnet.triage.metadata.values import Problems, clean_text
from vangnet.triage.metadata.xmp import Xmp

_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8}
_MAX_ENTRIES = 512


def _ifd_values(
    entries: bytes, start: int, values: bytes, little: bool
) -> dict[int, tuple[int, bytes]]:
    """A raw TIFF IFD at ``entries[start:]``: tag -> (type, value bytes). Values longer
    than 4 bytes are read from ``values`` at their offset. Out-of-range entries are
    skipped, so a corrupt maker note yields fewer tags, never an error."""
    order = "<" if little else ">"
    if start + 2 > len(entries):
        return {}
    (count,) = struct.unpack_from(order + "H", entries, start)
    result: dict[int, tuple[int, bytes]] = {}
    for i in range(min(count, _MAX_ENTRIES)):
        pos = start + 2 + 12 * i
        if pos + 12 > len(entries):
            break
        tag, typ, n, raw = struct.unpack_from(order + "HHI4s", entries, pos)
        size = _TYPE_SIZES.get(typ, 0) * n
        if size == 0 or size > 1 << 20:
            continue
        if size <= 4:
            result[tag] = (typ, raw[:size])
            continue
        (offset,) = struct.unpack(order + "I", raw)
        if offset + size <= len(values):
            result[tag] = (typ, values[offset : offset + size])
    return result


def _ascii(raw: bytes) -> str | None:
    text = raw.split(b"\x00", 1)[0].decode("latin-1").strip()
    return text or None


def maker_serials(ex: Exif, make: str | None) -> tuple[list[SerialNumber], str | None]:
    """Body serial numbers (and owner) in Canon, Nikon and Fujifilm maker notes."""
    note = ex.exif.get(ExifTags.Base.MakerNote)
    serials: list[SerialNumber] = []
    owner: str | None = None
    brand = (make or "").strip().lower()
    if isinstance(note, bytes) and brand.startswith("canon"):
        # Canon: a plain IFD in the TIFF's byte order, offsets relative to the TIFF header.
        tags = _ifd_values(note, 0, ex.tiff, ex.little_endian)
        typ, raw = tags.get(0x000C, (0, b""))
        if typ == 4 and len(raw) == 4:
            number = struct.unpack(("<" if ex.little_endian else ">") + "I", raw)[0]
            serials.append(SerialNumber(SerialKind.BODY, f"{number:010d}", "canon:SerialNumber"))
        typ, raw = tags.get(0x0009, (0, b""))
        owner = _ascii(raw) if typ == 2 else None
    elif isinstance(note, bytes) and note.startswith(b"Nikon\x00") and len(note) > 18:
        # Nikon type 3: "Nikon\0", version, padding, then a TIFF header of its own.
        inner = note[10:]
        if inner[:4] in TIFF_HEADERS:
            little = inner[:2] == b"II"
            (start,) = struct.unpack_from("<I" if little else ">I", inner, 4)
            tags = _ifd_values(inner, start, inner, little)
            for tag in (0x001D, 0x00A0):
                typ, raw = tags.get(tag, (0, b""))
                value = _ascii(raw) if typ in (2, 7) else None
                if value:
                    serials.append(SerialNumber(SerialKind.BODY, value, "nikon:SerialNumber"))
                    break
    internal = ex.maker.get(0x0010)  # Fujifilm InternalSerialNumber (parsed by Pillow)
    if brand.startswith("fujifilm") and isinstance(internal, (str, bytes)):
        value = _ascii(internal.encode("latin-1") if isinstance(internal, str) else internal)
        if value:
            serials.append(
                SerialNumber(SerialKind.INTERNAL, value, "fujifilm:InternalSerialNumber")
            )
    return serials, owner


def first_of(*values: str | None) -> str | None:
    return next((v for v in values if v), None)


def photo_device(ex: Exif, xmp: Xmp | None, problems: Problems) -> Device:
    x = xmp.values if xmp is not None else {}

    def exif_text(where: dict[int, Any], tag: int) -> str | None:
        return clean_text(where.get(tag), ExifTags.Base(tag).name, problems)

    make = first_of(exif_text(ex.ifd0, ExifTags.Base.Make), x.get("tiff:Make"))
    serials: list[SerialNumber] = []
    candidates = (
        (
            SerialKind.BODY,
            exif_text(ex.exif, ExifTags.Base.BodySerialNumber),
            "exif:BodySerialNumber",
        ),
        (
            SerialKind.BODY,
            exif_text(ex.ifd0, ExifTags.Base.CameraSerialNumber),
            "exif:CameraSerialNumber",
        ),
        (
            SerialKind.LENS,
            exif_text(ex.exif, ExifTags.Base.LensSerialNumber),
            "exif:LensSerialNumber",
        ),
        (SerialKind.BODY, x.get("exifEX:BodySerialNumber"), "xmp:exifEX:BodySerialNumber"),
        (SerialKind.BODY, x.get("aux:SerialNumber"), "xmp:aux:SerialNumber"),
        (SerialKind.LENS, x.get("exifEX:LensSerialNumber"), "xmp:exifEX:LensSerialNumber"),
        (SerialKind.LENS, x.get("aux:LensSerialNumber"), "xmp:aux:LensSerialNumber"),
    )
    for kind, value, source in candidates:
        if value and not any(s.kind is kind and s.value == value for s in serials):
            serials.append(SerialNumber(kind, value, source))
    from_maker, maker_owner = maker_serials(ex, make)
    for serial in from_maker:
        if not any(s.kind is serial.kind and s.value == serial.value for s in serials):
            serials.append(serial)
    return Device(
        make=make,
        model=first_of(exif_text(ex.ifd0, ExifTags.Base.Model), x.get("tiff:Model")),
        lens_make=first_of(exif_text(ex.exif, ExifTags.Base.LensMake), x.get("exifEX:LensMake")),
        lens_model=first_of(
            exif_text(ex.exif, ExifTags.Base.LensModel),
            x.get("exifEX:LensModel"),
            x.get("aux:Lens"),
        ),
        owner=first_of(
            exif_text(ex.exif, ExifTags.Base.CameraOwnerName),
            maker_owner,
            x.get("exifEX:CameraOwnerName"),
            x.get("aux:OwnerName"),
        ),
        artist=first_of(exif_text(ex.ifd0, ExifTags.Base.Artist), x.get("dc:creator")),
        copyright=first_of(exif_text(ex.ifd0, ExifTags.Base.Copyright), x.get("dc:rights")),
        serials=tuple(serials),
    )
