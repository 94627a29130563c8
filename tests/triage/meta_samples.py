"""In-memory samples for the metadata tests: photos with EXIF / GPS / XMP / maker notes written
by piexif or by hand (including broken ones), edited pictures that keep a stale thumbnail, and
videos remuxed with QuickTime metadata. Built from ../shared/data at test time; nothing is
written to disk."""

from __future__ import annotations

import io
import struct
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import piexif
from PIL import Image

EXIF_ROTN = Path("threatexchange/pdq/data/reg-test-input/exif-rotn")
SAMPLE_VIDEOS = Path("threatexchange/video/sample-videos")
BSDS = Path("photos/bsds500/train")


def jpeg(img: Image.Image, *, exif: bytes | None = None, quality: int = 90) -> bytes:
    out = io.BytesIO()
    if exif is None:
        img.convert("RGB").save(out, "JPEG", quality=quality)
    else:
        img.convert("RGB").save(out, "JPEG", quality=quality, exif=exif)
    return out.getvalue()


def with_exif(data: bytes, exif: dict[str, Any]) -> bytes:
    """``data`` (a JPEG) with its EXIF replaced by piexif's dump of ``exif``."""
    out = io.BytesIO()
    piexif.insert(piexif.dump(exif), data, out)
    return out.getvalue()


def _rational(value: float, denominator: int = 10000) -> tuple[int, int]:
    frac = Fraction(value).limit_denominator(denominator)
    return frac.numerator, frac.denominator


def gps_ifd(lat: float, lon: float, *, altitude: float | None = None) -> dict[int, Any]:
    """A piexif GPS IFD for decimal degrees (degrees, minutes, seconds as rationals)."""

    def dms(value: float) -> tuple[tuple[int, int], ...]:
        value = abs(value)
        deg = int(value)
        minutes = int((value - deg) * 60)
        seconds = (value - deg - minutes / 60) * 3600
        return ((deg, 1), (minutes, 1), _rational(seconds, 100000))

    ifd: dict[int, Any] = {
        piexif.GPSIFD.GPSVersionID: (2, 3, 0, 0),
        piexif.GPSIFD.GPSLatitudeRef: b"N" if lat >= 0 else b"S",
        piexif.GPSIFD.GPSLatitude: dms(lat),
        piexif.GPSIFD.GPSLongitudeRef: b"E" if lon >= 0 else b"W",
        piexif.GPSIFD.GPSLongitude: dms(lon),
    }
    if altitude is not None:
        ifd[piexif.GPSIFD.GPSAltitudeRef] = 1 if altitude < 0 else 0
        ifd[piexif.GPSIFD.GPSAltitude] = _rational(abs(altitude), 100)
    return ifd


def tiff_block(
    ifd0: list[tuple[int, int, int, bytes]],
    sub_ifds: dict[int, list[tuple[int, int, int, bytes]]] | None = None,
) -> bytes:
    """A little-endian TIFF/EXIF block written byte by byte, so entries can be wrong on
    purpose. Entries are ``(tag, type, count, value bytes)``; values over 4 bytes go after
    the IFD. ``sub_ifds`` maps a pointer tag (0x8769 Exif, 0x8825 GPS) to its entries;
    a pointer entry with those tags is added to IFD0 automatically."""
    sub_ifds = sub_ifds or {}
    layout: list[tuple[int, list[tuple[int, int, int, bytes]]]] = []

    def ifd_size(entries: list[tuple[int, int, int, bytes]]) -> int:
        extra = sum(len(v) + len(v) % 2 for *_, v in entries if len(v) > 4)
        return 2 + 12 * len(entries) + 4 + extra

    pointer_entries = [(tag, 4, 1, b"\0\0\0\0") for tag in sub_ifds]
    top = sorted(ifd0 + pointer_entries, key=lambda e: e[0])
    offset = 8
    layout.append((offset, top))
    offset += ifd_size(top)
    positions: dict[int, int] = {}
    for tag, entries in sub_ifds.items():
        positions[tag] = offset
        layout.append((offset, sorted(entries, key=lambda e: e[0])))
        offset += ifd_size(entries)
    out = bytearray(b"II*\x00" + struct.pack("<I", 8))
    for start, entries in layout:
        assert len(out) == start
        data_at = start + 2 + 12 * len(entries) + 4
        body, extra = bytearray(struct.pack("<H", len(entries))), bytearray()
        for tag, typ, count, value in entries:
            if tag in positions and start == 8:
                value = struct.pack("<I", positions[tag])
            if len(value) > 4:
                body += struct.pack("<HHI", tag, typ, count) + struct.pack(
                    "<I", data_at + len(extra)
                )
                extra += value + (b"\0" if len(value) % 2 else b"")
            else:
                body += struct.pack("<HHI", tag, typ, count) + value.ljust(4, b"\0")
        body += b"\0\0\0\0"  # no next IFD
        out += body + extra
    return b"Exif\x00\x00" + bytes(out)


def ascii_entry(tag: int, text: str) -> tuple[int, int, int, bytes]:
    raw = text.encode() + b"\0"
    return tag, 2, len(raw), raw


def rational_entry(tag: int, *pairs: tuple[int, int]) -> tuple[int, int, int, bytes]:
    return tag, 5, len(pairs), b"".join(struct.pack("<II", n, d) for n, d in pairs)


def small_photo(shared: Path, name: str = "100075.jpg") -> bytes:
    return (shared / BSDS / name).read_bytes()


def xmp_jpeg(shared: Path, packet: str) -> bytes:
    img = Image.open(io.BytesIO(small_photo(shared)))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90, xmp=packet.encode())
    return out.getvalue()


def remux_with_tags(source: Path, tags: dict[str, str], *, metadata_tags: bool = False) -> bytes:
    """The video stream of ``source`` copied into a new in-memory MP4 carrying ``tags``
    (``metadata_tags`` writes arbitrary keys, as Apple's ``com.apple.quicktime.*``)."""
    out_buf = io.BytesIO()
    options = {"movflags": "use_metadata_tags"} if metadata_tags else {}
    with av.open(str(source)) as src, av.open(out_buf, "w", format="mp4", options=options) as out:
        out.metadata.update(tags)
        stream = src.streams.video[0]
        target = out.add_stream_from_template(stream)
        for packet in src.demux(stream):
            if packet.dts is None:
                continue
            packet.stream = target
            out.mux(packet)
    return out_buf.getvalue()


def manual_gps(data: bytes) -> dict[int, Any]:
    """The GPS IFD of a JPEG decoded with struct alone (no Pillow), as exiftool shows it:
    tag -> tuple of numbers (rationals as floats) or text. Cross-checks the extractor."""
    pos = 2
    while pos < len(data):
        marker, length = struct.unpack(">HH", data[pos : pos + 4])
        if marker == 0xFFE1 and data[pos + 4 : pos + 10] == b"Exif\x00\x00":
            tiff = data[pos + 10 : pos + 2 + length]
            break
        pos += 2 + length
    else:
        raise ValueError("no EXIF APP1")
    order = "<" if tiff[:2] == b"II" else ">"

    def entries(offset: int) -> dict[int, tuple[int, int, bytes, int]]:
        (count,) = struct.unpack_from(order + "H", tiff, offset)
        found = {}
        for i in range(count):
            tag, typ, n, raw = struct.unpack_from(order + "HHI4s", tiff, offset + 2 + 12 * i)
            found[tag] = (typ, n, raw, offset + 2 + 12 * i + 8)
        return found

    ifd0 = entries(struct.unpack_from(order + "I", tiff, 4)[0])
    gps_offset = struct.unpack(order + "I", ifd0[0x8825][2])[0]
    result: dict[int, Any] = {}
    for tag, (typ, n, raw, _) in entries(gps_offset).items():
        size = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 7: 1}[typ] * n
        value = raw[:size] if size <= 4 else tiff[struct.unpack(order + "I", raw)[0] :][:size]
        if typ == 2:
            result[tag] = value.rstrip(b"\0").decode()
        elif typ == 5:
            pairs = struct.unpack(order + f"{2 * n}I", value)
            result[tag] = tuple(pairs[i] / pairs[i + 1] for i in range(0, 2 * n, 2))
        else:
            result[tag] = tuple(value)
    return result
