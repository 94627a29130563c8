"""The EXIF thumbnail, hashed with PDQ and compared with the main picture: a distance above
the PDQ match threshold means the picture was changed after the camera wrote it."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import ExifTags

from vangnet.errors import MediaError
from vangnet.media.image import decode_image
from vangnet.media.video import content_box
from vangnet.signals.pdq import PdqSignal, hash_image, pdq_distance
from vangnet.triage.metadata.exif import ORIENTATION_TRANSPOSE, Exif
from vangnet.triage.metadata.models import Thumbnail
from vangnet.triage.metadata.values import Problems, as_integer

#: A thumbnail further than this (PDQ bits) from its main picture is a mismatch: the PDQ
#: signal's own match threshold, i.e. "would not match as the same picture".
THUMBNAIL_MISMATCH_DISTANCE = PdqSignal.default_threshold


def _thumbnail_bytes(ex: Exif, problems: Problems) -> bytes | None:
    offset = ex.ifd1.get(ExifTags.Base.JpegIFOffset)
    length = ex.ifd1.get(ExifTags.Base.JpegIFByteCount)
    if offset is None and length is None:
        return None
    if not ex.tiff:
        return None
    if not isinstance(offset, int) or not isinstance(length, int) or offset <= 0 or length <= 0:
        problems.add(f"EXIF thumbnail offset/length are malformed ({offset!r}, {length!r})")
        return None
    if offset + length > len(ex.tiff):
        problems.add(
            f"EXIF thumbnail ({length} bytes at {offset}) lies outside the EXIF block "
            f"({len(ex.tiff)} bytes)"
        )
        return None
    blob = ex.tiff[offset : offset + length]
    if not blob.startswith(b"\xff\xd8"):
        problems.add("EXIF thumbnail is not a JPEG; ignored")
        return None
    return blob


def main_picture_pdq(data: bytes, problems: Problems) -> str | None:
    try:
        return hash_image(decode_image(data)[0])[0]
    except MediaError as exc:
        problems.add(f"main picture could not be decoded for the thumbnail check: {exc.message}")
        return None


def read_thumbnail(
    ex: Exif,
    orientation: int | None,
    main_pdq: Callable[[], str | None],
    problems: Problems,
    *,
    min_quality: int,
) -> Thumbnail | None:
    """The EXIF thumbnail compared with the main picture (``main_pdq``); a thumbnail of PDQ
    quality below ``min_quality`` is too featureless to compare."""
    blob = _thumbnail_bytes(ex, problems)
    if blob is None:
        return None
    try:
        picture = decode_image(blob, fast=False)[0]
    except MediaError as exc:
        problems.add(f"EXIF thumbnail could not be decoded: {exc.message}")
        return None
    # The thumbnail is stored like the main pixels; turn it as the main picture is shown.
    thumb_orientation = as_integer(ex.ifd1.get(ExifTags.Base.Orientation)) or orientation
    transpose = ORIENTATION_TRANSPOSE.get(thumb_orientation or 1)
    shown = picture.transpose(transpose) if transpose is not None else picture
    rgb = np.asarray(shown, dtype=np.uint8)
    box = content_box([rgb])  # letterbox bars some cameras add to fit 160x120
    if box is not None:
        top, bottom, left, right = box
        shown = shown.crop((left, top, right, bottom))
    pdq, quality = hash_image(shown)
    main = main_pdq()
    distance = pdq_distance(pdq, main) if main is not None else None
    mismatch: bool | None = None
    if quality < min_quality:
        problems.add(f"EXIF thumbnail is too featureless to compare (PDQ quality {quality})")
    elif distance is not None:
        mismatch = distance > THUMBNAIL_MISMATCH_DISTANCE
    return Thumbnail(
        width=picture.width,
        height=picture.height,
        size_bytes=len(blob),
        pdq=pdq,
        quality=quality,
        main_pdq=main,
        distance=distance,
        mismatch=mismatch,
    )
