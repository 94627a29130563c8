"""Hash one file or one blob: the ``vangnet hash`` result, the same for every source.

`hash_bytes` sniffs the content type, computes the exact digests of the raw bytes and the
perceptual hash (PDQ for photos, vPDQ for videos) and returns the CLI's JSON object. All
failures are `VangnetError` subclasses; the CLI and API turn them into error objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vangnet.config import get_settings
from vangnet.errors import MediaError, MediaTooLargeError
from vangnet.media.image import decode_image
from vangnet.media.sniff import sniff
from vangnet.signals.base import ContentType
from vangnet.signals.exact import Md5Signal, Sha1Signal, Sha256Signal
from vangnet.signals.pdq import dihedral_hashes, hash_image
from vangnet.signals.vpdq import VpdqFrame, hash_video_variants


def hash_bytes(
    data: bytes, *, path: str = "-", all_frames: bool = False, dihedral: bool = False
) -> dict[str, Any]:
    """Hash ``data``: ``path``, ``content_type``, ``md5``/``sha1``/``sha256`` and either
    ``pdq`` + ``pdq_quality`` (plus ``frames`` for an animated image with ``all_frames``)
    or ``vpdq`` (a list of ``{frame, timestamp, pdq, quality}``, black bars cropped; for a
    video with bars also ``vpdq_uncropped``, the whole frames). ``dihedral`` adds
    ``pdq_dihedral``: the 8 rotation/flip variants of a photo's PDQ (for matching)."""
    sniffed = sniff(data)
    result: dict[str, Any] = {
        "path": path,
        "content_type": sniffed.content_type.value,
        "md5": Md5Signal.hash_bytes(data),
        "sha1": Sha1Signal.hash_bytes(data),
        "sha256": Sha256Signal.hash_bytes(data),
    }
    if sniffed.content_type is ContentType.PHOTO:
        pictures = decode_image(data, all_frames=all_frames)
        hashes = [hash_image(picture) for picture in pictures]
        result["pdq"], result["pdq_quality"] = hashes[0]
        if dihedral:
            result["pdq_dihedral"] = dihedral_hashes(pictures[0])[0]
        if all_frames and len(hashes) > 1:
            result["frames"] = [
                {"frame": i, "pdq": pdq, "quality": quality}
                for i, (pdq, quality) in enumerate(hashes)
            ]
    else:
        cropped, whole = hash_video_variants(data)
        result["vpdq"] = _frame_dicts(cropped)
        if whole is not None:  # the video had bars: also the whole frames, as Meta's vPDQ has them
            result["vpdq_uncropped"] = _frame_dicts(whole)
    return result


def _frame_dicts(frames: list[VpdqFrame]) -> list[dict[str, Any]]:
    return [
        {"frame": f.frame, "timestamp": f.timestamp, "pdq": f.pdq, "quality": f.quality}
        for f in frames
    ]


def hash_file(
    path: str | Path, *, all_frames: bool = False, dihedral: bool = False
) -> dict[str, Any]:
    """`hash_bytes` of a file, refused before reading when larger than max_file_bytes."""
    file = Path(path)
    limit = get_settings().max_file_bytes
    try:
        with file.open("rb") as handle:
            size = handle.seek(0, 2)
            if size > limit:
                raise MediaTooLargeError(
                    f"file is {size:,} bytes, more than max_file_bytes ({limit:,})"
                )
            handle.seek(0)
            data = handle.read(limit + 1)
    except OSError as exc:
        raise MediaError(f"cannot read {file}: {exc.strerror or exc}") from None
    if len(data) > limit:  # grew while reading, or a device without a size
        raise MediaTooLargeError(f"file is more than max_file_bytes ({limit:,})")
    return hash_bytes(data, path=str(path), all_frames=all_frames, dihedral=dihedral)
