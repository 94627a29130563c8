"""Hash one file or one blob: the ``vangnet hash`` result, the same for every source.

`hash_bytes` sniffs the content type, computes the exact digests of the raw bytes and the
perceptual hash (PDQ for photos, vPDQ for videos) and returns the CLI's JSON object. All
failures are `VangnetError` subclasses; the CLI and API turn them into error objects.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vangnet.config import Settings
from vangnet.errors import MediaError, MediaTooLargeError
from vangnet.media.image import decode_image
from vangnet.media.sniff import sniff
from vangnet.signals.base import BytesHasher, ContentType, FrameHashes, ImageHasher
from vangnet.signals.pdq import dihedral_hashes, hash_image
from vangnet.signals.registry import signal_types
from vangnet.signals.vpdq import frame_dicts, frames_of, hash_video_variants


def hash_bytes(
    data: bytes,
    *,
    settings: Settings,
    path: str = "-",
    all_frames: bool = False,
    dihedral: bool = False,
    video_fps: float | None = None,
    for_bank: bool = False,
) -> dict[str, Any]:
    """Hash ``data``: ``path``, ``content_type``, ``md5``/``sha1``/``sha256`` and either
    ``pdq`` + ``pdq_quality`` (plus ``frames`` for an animated image with ``all_frames``)
    or ``vpdq`` (a list of ``{frame, timestamp, pdq, quality}``: Meta's vPDQ, whole frames;
    for a video with bars also ``vpdq_cropped``, the frames with the bars cropped; with
    ``settings.video_regions`` also ``vpdq_regions``, the half-frames of the cropped frames,
    each with its ``region``). ``dihedral`` adds
    ``pdq_dihedral``: the 8 rotation/flip variants of a photo's PDQ (for matching).

    Videos are sampled at ``settings.video_fps``, or with ``for_bank`` at
    ``settings.bank_video_fps`` (default every frame, near-repeats dropped) so that trimmed
    copies out of phase with the banked video still find its frames; ``video_fps`` overrides
    either (0 = every frame)."""
    sniffed = sniff(data)
    result: dict[str, Any] = {"path": path, "content_type": sniffed.content_type.value}
    installed = signal_types()
    for name, cls in installed.items():  # every file: exact digests of its bytes
        if issubclass(cls, BytesHasher):
            result[name] = cls.hash_bytes(data)
    if sniffed.content_type is ContentType.PHOTO:
        pictures = decode_image(data, all_frames=all_frames)
        for name, cls in installed.items():  # every installed photo hasher, PDQ included
            if issubclass(cls, ImageHasher):
                value, quality = cls.hash_picture(pictures[0])
                result[name] = value
                if quality is not None:
                    result[f"{name}_quality"] = quality
        if dihedral:
            result["pdq_dihedral"] = dihedral_hashes(pictures[0])[0]
        if all_frames and len(pictures) > 1:
            hashes = [(result["pdq"], result["pdq_quality"])]
            hashes += [hash_image(picture) for picture in pictures[1:]]
            result["frames"] = [
                {"frame": i, "pdq": pdq, "quality": quality}
                for i, (pdq, quality) in enumerate(hashes)
            ]
    else:
        if video_fps is None:
            video_fps = settings.bank_video_fps if for_bank else settings.video_fps
        video = hash_video_variants(
            data,
            fps=video_fps,
            regions=settings.video_regions,
            dedupe_bits=settings.bank_video_dedupe_bits if for_bank else -1,
        )
        result["vpdq"] = frame_dicts(video.frames)  # whole frames: Meta's vPDQ
        if video.cropped is not None:  # the video had bars: the frames without them
            result["vpdq_cropped"] = frame_dicts(video.cropped)
        if video.regions:
            result["vpdq_regions"] = frame_dicts(video.regions)
    return result


def signal_values(result: dict[str, Any]) -> dict[str, str]:
    """Each signal's value in a `hash_bytes` result, as banks store it (one string per signal
    type; vPDQ frames serialised as python-threatexchange does)."""
    out: dict[str, str] = {}
    for name, cls in signal_types().items():
        value = result.get(name)
        if value is None:
            continue
        if issubclass(cls, FrameHashes):
            out[name] = cls.serialize(frames_of(value))
        else:
            out[name] = str(value)
    return out


def hash_file(
    path: str | Path,
    *,
    settings: Settings,
    all_frames: bool = False,
    dihedral: bool = False,
    video_fps: float | None = None,
    for_bank: bool = False,
) -> dict[str, Any]:
    """`hash_bytes` of a file, refused before reading when larger than max_file_bytes."""
    file = Path(path)
    limit = settings.max_file_bytes
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
    return hash_bytes(
        data,
        settings=settings,
        path=str(path),
        all_frames=all_frames,
        dihedral=dihedral,
        video_fps=video_fps,
        for_bank=for_bank,
    )
