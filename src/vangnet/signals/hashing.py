"""Hash one file or one blob: the ``vangnet hash`` result, the same for every source.

`hash_bytes` sniffs the content type, computes the exact digests of the raw bytes and the
perceptual hash (PDQ for photos, vPDQ for videos) and returns them as a
`vangnet.signals.hashes.Hashes`, whose ``to_json()`` is the CLI's JSON object. All failures
are `VangnetError` subclasses; the CLI and API turn them into error objects.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vangnet.config import Settings
from vangnet.errors import MediaError, MediaTooLargeError
from vangnet.media.image import decode_image, upright_size
from vangnet.media.sniff import sniff
from vangnet.media.video import VideoFrame
from vangnet.signals.base import BytesHasher, ContentType, ImageHasher
from vangnet.signals.crops import picture_crops
from vangnet.signals.features import QueryPicture, picture_features
from vangnet.signals.frame_pictures import FramePictures
from vangnet.signals.hashes import Hashes, ImageFrame
from vangnet.signals.pdq import PdqSignal, dihedral_hashes, hash_image
from vangnet.signals.regions import RegionHash, region_hashes
from vangnet.signals.registry import signal_types
from vangnet.signals.vpdq import VpdqFrame, hash_video_variants


def hash_bytes(
    data: bytes,
    *,
    settings: Settings,
    path: str = "-",
    all_frames: bool = False,
    dihedral: bool = False,
    regions: bool = False,
    video_fps: float | None = None,
    for_bank: bool = False,
    verify: bool = False,
    features: bool | None = None,
    observe: Callable[[VideoFrame], None] | None = None,
) -> Hashes:
    """Hash ``data``: the exact digests (``md5``, ``sha1``, ``sha256``) of every file, and
    either ``pdq`` with its quality (plus, with ``all_frames``, the `Hashes.frames` of an
    animated image) or the ``vpdq`` frames (Meta's vPDQ, whole frames; for a video with bars
    also ``vpdq_cropped``, the frames with the bars cropped; with ``settings.video_regions``
    also ``vpdq_regions``, the half-frames of the cropped frames, each with its ``region``).
    ``dihedral`` adds `Hashes.dihedral`: the 8 rotation/flip variants of a photo's PDQ (for
    matching). ``regions`` adds `Hashes.regions`: the PDQ of up to
    ``settings.match_regions_max`` regions of a photo that may hold another picture
    (`vangnet.signals.regions`; with their dihedral variants when ``dihedral``); for a
    video, `Hashes.photo_frames`: up to ``settings.match_video_frames`` sampled frames spread
    over it with their regions' PDQs (a banked photo shown in the video).
    ``verify`` keeps a photo's decoded picture in `Hashes.picture` (in memory) so that the
    matcher can verify wider-net candidates against its pixels; for a video's
    `Hashes.photo_frames`, each frame's `FrameRegions.picture`, made from ``data`` only when
    a candidate of that frame needs it (`vangnet.signals.frame_pictures`). ``features`` (by default
    ``for_bank`` and ``settings.bank_features``) adds `Hashes.features`: the packed local
    features a bank keeps of a photo (`vangnet.signals.features`), and with them
    `Hashes.crops`: the PDQs of its standard crops (`vangnet.signals.crops`).

    ``observe``: given each sampled frame of a video, bars cropped (other work on the
    same frames without a second decode; `vangnet.signals.vpdq.hash_video_variants`).

    Videos are sampled at ``settings.video_fps``, or with ``for_bank`` at
    ``settings.bank_video_fps`` (default every frame, near-repeats dropped) so that trimmed
    copies out of phase with the banked video still find its frames; ``video_fps`` overrides
    either (0 = every frame)."""
    sniffed = sniff(data)
    values: dict[str, str] = {}
    qualities: dict[str, int] = {}
    installed = signal_types()
    for name, cls in installed.items():  # every file: exact digests of its bytes
        if issubclass(cls, BytesHasher):
            values[name] = cls.hash_bytes(data)
    if sniffed.content_type is ContentType.PHOTO:
        pictures = decode_image(data, all_frames=all_frames)
        variants: tuple[str, ...] = ()
        if dihedral:  # the 8 variants; the first (identity) is the picture's own PDQ
            turned, turned_quality = dihedral_hashes(pictures[0])
            variants = tuple(turned)
        for name, cls in installed.items():  # every installed photo hasher, PDQ included
            if issubclass(cls, ImageHasher):
                quality: int | None
                if variants and name == PdqSignal.name:  # hashed with its variants above
                    value, quality = variants[0], turned_quality
                else:
                    value, quality = cls.hash_picture(pictures[0])
                values[name] = value
                if quality is not None:
                    qualities[name] = quality
        found: tuple[RegionHash, ...] = ()
        if regions:
            found = region_hashes(
                pictures[0],
                most=settings.match_regions_max,
                min_side=settings.match_region_min_side,
                dihedral=dihedral,
                size=upright_size(data),
            )
        frames: tuple[ImageFrame, ...] = ()
        if all_frames and len(pictures) > 1:
            first = ImageFrame(0, values["pdq"], qualities["pdq"])
            rest = (hash_image(picture) for picture in pictures[1:])
            frames = (first, *(ImageFrame(i, h, q) for i, (h, q) in enumerate(rest, 1)))
        if features is None:
            features = for_bank and settings.bank_features
        packed = (
            picture_features(pictures[0], most=settings.bank_features_keypoints)
            if features
            else None
        )
        kept = (
            QueryPicture(pictures[0], upright_size(data), side=settings.match_verify_side)
            if verify
            else None
        )
        return Hashes(
            path,
            sniffed.content_type,
            values,
            qualities,
            dihedral=variants,
            frames=frames,
            regions=found,
            features=packed,
            crops=picture_crops(pictures[0]) if features else None,
            picture=kept,
        )
    if video_fps is None:
        video_fps = settings.bank_video_fps if for_bank else settings.video_fps
    video = hash_video_variants(
        data,
        fps=video_fps,
        regions=settings.video_regions,
        dedupe_bits=settings.bank_video_dedupe_bits if for_bank else -1,
        # a banked photo shown in the video: frames and their regions, for matching only
        photo_frames=settings.match_video_frames if regions and not for_bank else 0,
        region_max=settings.match_regions_max,
        region_min_side=settings.match_region_min_side,
        observe=observe,
    )
    frames_seen = tuple(video.photo_frames)
    if verify and frames_seen and settings.match_verify_max > 0:  # decoded again if needed
        frames_seen = FramePictures(data, verify_side=settings.match_verify_side).attach(
            frames_seen
        )
    lists: dict[str, tuple[VpdqFrame, ...]] = {"vpdq": tuple(video.frames)}  # Meta's vPDQ
    if video.cropped is not None:  # the video had bars: the frames without them
        lists["vpdq_cropped"] = tuple(video.cropped)
    if video.regions:
        lists["vpdq_regions"] = tuple(video.regions)
    return Hashes(
        path,
        sniffed.content_type,
        values,
        qualities,
        video_frames=lists,
        photo_frames=frames_seen,
    )


def signal_values(result: Hashes) -> dict[str, str]:
    """``result.signal_values()`` over the installed signal types: kept for the callers of
    the function this was, when `hash_bytes` returned a dict."""
    return result.signal_values(signal_types())


def read_file(path: str | Path, *, settings: Settings) -> bytes:
    """The bytes of the file at ``path``, in memory; refused before reading when larger than
    max_file_bytes (`MediaTooLargeError`), `MediaError` when it cannot be read."""
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
    return data


def hash_file(
    path: str | Path,
    *,
    settings: Settings,
    all_frames: bool = False,
    dihedral: bool = False,
    regions: bool = False,
    video_fps: float | None = None,
    for_bank: bool = False,
    verify: bool = False,
) -> Hashes:
    """`hash_bytes` of a file, refused before reading when larger than max_file_bytes.

    ``hash_file(path, settings=...).to_json()`` is the object ``vangnet hash --json`` prints
    (the dict this function returned before it returned `Hashes`)."""
    return hash_bytes(
        read_file(path, settings=settings),
        settings=settings,
        path=str(path),
        all_frames=all_frames,
        dihedral=dihedral,
        regions=regions,
        video_fps=video_fps,
        for_bank=for_bank,
        verify=verify,
    )
