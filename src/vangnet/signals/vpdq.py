"""vPDQ: one PDQ hash per sampled video frame, compatible with Meta's vPDQ and HMA.

The value of a ``vpdq`` signal is the serialization used by python-threatexchange's vPDQ
signal type (and so by HMA exports): a JSON list with one string per frame,
``"<pdq hex>,<quality>,<timestamp>"``, where the timestamp is written with Python's ``.3``
format (three significant digits, exactly as python-threatexchange writes it). Frame numbers
are not part of that format; parsing numbers the frames 0, 1, 2, ...

The ``vpdq`` signal is Meta's vPDQ frame for frame: whole frames, black bars and all, as the
reference hasher (and so HMA, NCMEC and any partner) computes them. The ``vpdq_cropped``
signal (Vangnet's own) holds the same frames with letterbox / pillarbox bars cropped, stored
only for videos that have bars: a copy with other bars (or none) matches on the content.

The ``vpdq_regions`` signal (Vangnet's own) holds the top, bottom, left and right halves of
each sampled frame, one string each, ``"<pdq hex>,<quality>,<timestamp>,<region>"``: a copy
with a large overlay (a logo, a caption, a webcam inset) still matches on the halves the
overlay leaves clear, where the whole-frame hash is 50-80 bits away.

Matching follows vPDQ's brute-force matcher (drop frames below the quality floor, dedupe
frames by hash, a frame matches when a frame of the other video is within the distance
threshold; region frames only match the same region), except that the match percentages
count seconds of video rather than frames (`FrameSet`): a bank hashed at every frame, so
that trimmed copies out of phase with it still find their frames, compares with a query
sampled at 1 fps like for like. Timestamps in the python-threatexchange format have three
significant digits, so past 1,000 s of a ``vpdq`` value the buckets widen to 10 s.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from PIL import Image

from vangnet.errors import InvalidHashError
from vangnet.media.regions.edges import Box
from vangnet.media.video import VideoFrame, crop_black_bars, iter_video_frames
from vangnet.signals.base import ContentType, FrameHashes, SignalType
from vangnet.signals.base import VpdqFrame as VpdqFrame  # the frame type of this module's API
from vangnet.signals.pdq import PdqSignal, RgbArray, hash_pixels, pdq_distance
from vangnet.signals.regions import RegionHash, region_hashes

if TYPE_CHECKING:
    from vangnet.config import Settings
    from vangnet.signals.features import QueryPicture

TIMESTAMP_FORMAT = ".3"  # python-threatexchange's VPDQ_TIMESTAMP_PRECISION, as a format spec


#: The half-frames hashed besides the whole frame (`hash_video_variants` with ``regions``).
REGIONS = ("top", "bottom", "left", "right")
#: Match shares count seconds of video (frames bucketed by this many seconds), so a bank
#: hashed at every frame and a query sampled at 1 fps compare like for like.
BUCKET_SECONDS = 1.0


@dataclass(frozen=True)
class VpdqMatch:
    """Result of comparing a query video with a banked one."""

    query_match_pct: float
    index_match_pct: float
    matched: bool


@dataclass(frozen=True)
class VideoHashes:
    """Everything one decode of a video yields for matching."""

    frames: list[VpdqFrame]  # whole frames with any bars, as Meta's vPDQ: the ``vpdq`` signal
    cropped: list[VpdqFrame] | None  # black bars cropped, when there were bars: ``vpdq_cropped``
    regions: list[VpdqFrame]  # the `REGIONS` halves of each cropped frame
    #: Up to ``photo_frames`` sampled frames spread over the video (bars cropped), each with
    #: the PDQ of its regions: looked up in PDQ banks (a banked photo shown in the video).
    photo_frames: list[FrameRegions] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class FrameRegions:
    """One sampled frame of a video (bars cropped) and its regions' PDQs (boxes in the
    frame's own pixels), for matching against banked photos. ``size``: the frame's (width,
    height) as decoded; ``content``: the part of it ``frame.pdq`` hashes (the video's bars
    cropped; None: all of it). ``picture``: its pixels for the wider net, decoded again
    only when a candidate needs them (`vangnet.signals.frame_pictures`), or None."""

    frame: VpdqFrame
    regions: tuple[RegionHash, ...]
    size: tuple[int, int] | None = None
    content: Box | None = None
    picture: QueryPicture | None = field(default=None, compare=False, repr=False)


class _Spread:
    """Picks at most ``most`` of a stream of unknown length, spread over it: every frame
    while they fit, then every second one kept and only every second one taken, and so on
    (each frame's work is done only if it is taken)."""

    def __init__(self, most: int) -> None:
        self.most = most
        self.stride = 1
        self.count = 0
        self.kept: list[FrameRegions] = []

    def wants(self) -> bool:
        taken = self.most > 0 and self.count % self.stride == 0
        self.count += 1
        return taken

    def add(self, item: FrameRegions) -> None:
        self.kept.append(item)
        if len(self.kept) > self.most:
            self.kept = self.kept[::2]
            self.stride *= 2


def hash_video(
    data: bytes, *, fps: float | None = None, crop_bars: bool = False
) -> list[VpdqFrame]:
    """vPDQ of a video given as bytes: one PDQ per frame sampled at ``fps`` (default
    ``settings.video_fps``; 0 = every frame), decoded in memory. Raises `MediaError`
    subclasses.

    By default frames are hashed whole, as Meta's vPDQ reference does (the ``vpdq``
    signal); ``crop_bars`` crops letterbox / pillarbox bars first
    (`vangnet.media.video.crop_black_bars`; the ``vpdq_cropped`` signal)."""
    frames = []
    sampled = iter_video_frames(data, fps=fps)
    for frame in crop_black_bars(sampled) if crop_bars else sampled:
        pdq, quality = hash_pixels(frame.rgb)
        frames.append(VpdqFrame(frame.number, quality, pdq, frame.timestamp))
    return frames


def region_pixels(rgb: RgbArray) -> Iterator[tuple[str, RgbArray]]:
    """The `REGIONS` of a frame: its top, bottom, left and right halves."""
    height, width = rgb.shape[:2]
    yield "top", rgb[: height // 2]
    yield "bottom", rgb[height // 2 :]
    yield "left", rgb[:, : width // 2]
    yield "right", rgb[:, width // 2 :]


def _hash_regions(frame: VideoFrame) -> list[VpdqFrame]:
    out = []
    for region, pixels in region_pixels(frame.rgb):
        if pixels.shape[0] and pixels.shape[1]:  # a 1-pixel side has an empty half
            pdq, quality = hash_pixels(pixels)
            out.append(VpdqFrame(frame.number, quality, pdq, frame.timestamp, region))
    return out


def _near(a: list[VpdqFrame], b: list[VpdqFrame], bits: int) -> bool:
    if len(a) != len(b):
        return False
    return all(pdq_distance(x.pdq, y.pdq) <= bits for x, y in zip(a, b, strict=True))


def hash_video_variants(
    data: bytes,
    *,
    fps: float | None = None,
    regions: bool = False,
    dedupe_bits: int = -1,
    photo_frames: int = 0,
    region_max: int = 8,
    region_min_side: int = 64,
    observe: Callable[[VideoFrame], None] | None = None,
) -> VideoHashes:
    """Meta's vPDQ (whole frames), the frames with bars cropped when the video had bars,
    and (``regions``) the half-frames of the cropped frames, all from one decode.

    The whole frames are the standard ``vpdq`` (what Meta's reference, HMA and partners
    compute); the cropped frames let a copy with other bars, or none, match on the content.
    The half-frames let a
    copy with a large overlay (logo, caption, webcam inset) match on the halves it leaves
    clear. ``dedupe_bits`` >= 0 drops a sampled frame whose hashes (whole and halves) are all
    within that many bits of the last frame kept: a bank hashed at every frame then stores
    still scenes once. ``photo_frames`` > 0: that many sampled frames at most, spread over
    the video, also get the PDQ of their regions (`VideoHashes.photo_frames`; at most
    ``region_max`` regions of at least ``region_min_side`` pixels a side). ``observe`` is
    given every sampled frame, bars cropped, in order (other work on the same frames, e.g.
    the triage's classifiers, without a decode of its own).
    """
    originals: dict[int, VideoFrame] = {}
    spread = _Spread(photo_frames)

    def tap(frames: Iterator[VideoFrame]) -> Iterator[VideoFrame]:
        for f in frames:
            originals[f.number] = f  # held only while the bar probe buffers (a few frames)
            yield f

    cropped: list[VpdqFrame] = []
    whole: list[VpdqFrame] = []
    halves: list[VpdqFrame] = []
    barred = False
    last: list[VpdqFrame] = []
    for frame in crop_black_bars(tap(iter_video_frames(data, fps=fps))):
        original = originals.pop(frame.number)
        if observe is not None:
            observe(frame)
        pdq, quality = hash_pixels(frame.rgb)
        kept = [VpdqFrame(frame.number, quality, pdq, frame.timestamp)]
        if spread.wants():  # on the frame as decoded: boxes in its pixels, bars trimmed
            found = region_hashes(
                Image.fromarray(original.rgb), most=region_max, min_side=region_min_side
            )
            height, width = original.rgb.shape[:2]
            content = None
            if frame.rgb.shape != original.rgb.shape:
                x, y = frame.origin
                content = Box(x, y, frame.rgb.shape[1], frame.rgb.shape[0])
            spread.add(FrameRegions(kept[0], found, (width, height), content))
        if regions:
            kept += _hash_regions(frame)
        if dedupe_bits >= 0 and _near(kept, last, dedupe_bits):
            continue
        last = kept
        cropped.append(kept[0])
        halves.extend(kept[1:])
        if original.rgb.shape != frame.rgb.shape:
            barred = True
            pdq, quality = hash_pixels(original.rgb)
        whole.append(VpdqFrame(frame.number, quality, pdq, frame.timestamp))
    return VideoHashes(whole, cropped if barred else None, halves, spread.kept)


def frames_of(items: list[dict[str, Any]]) -> list[VpdqFrame]:
    """Frames from the ``vpdq`` (or ``vpdq_cropped``, ``vpdq_regions``) list of a hash
    result's JSON (`vangnet.signals.hashes.Hashes.to_json`)."""
    return [
        VpdqFrame(
            int(i["frame"]),
            int(i["quality"]),
            str(i["pdq"]),
            float(i["timestamp"]),
            str(i.get("region", "")),
        )
        for i in items
    ]


def frame_dicts(frames: list[VpdqFrame]) -> list[dict[str, Any]]:
    """The inverse of `frames_of`: the JSON objects `vangnet hash` prints per frame."""
    out: list[dict[str, Any]] = []
    for f in frames:
        item: dict[str, Any] = {
            "frame": f.frame,
            "timestamp": f.timestamp,
            "pdq": f.pdq,
            "quality": f.quality,
        }
        if f.region:
            item["region"] = f.region
        out.append(item)
    return out


def _format_frame(frame: VpdqFrame) -> str:
    if frame.region:
        return f"{frame.pdq},{frame.quality},{frame.timestamp:.3f},{frame.region}"
    return f"{frame.pdq},{frame.quality},{frame.timestamp:{TIMESTAMP_FORMAT}}"


def serialize(frames: list[VpdqFrame]) -> str:
    """The python-threatexchange / HMA value for ``frames`` (for region frames, the
    ``vpdq_regions`` value: a fourth field names the region)."""
    return json.dumps([_format_frame(f) for f in frames])


def _parse_frame(index: int, text: object, *, regions: bool) -> VpdqFrame:
    if not isinstance(text, str):
        raise InvalidHashError(f"vPDQ frame {index}: expected a string, got {type(text).__name__}")
    parts = text.split(",")
    if regions:
        if len(parts) != 4 or parts[3].strip() not in REGIONS:
            raise InvalidHashError(
                f"vPDQ region frame {index}: expected 'pdq_hex,quality,timestamp,region' with "
                f"region one of {', '.join(REGIONS)}"
            )
    elif len(parts) != 3:
        raise InvalidHashError(f"vPDQ frame {index}: expected 'pdq_hex,quality,timestamp'")
    pdq = PdqSignal.validate(parts[0])
    try:
        quality, timestamp = int(parts[1]), float(parts[2])
    except ValueError:
        raise InvalidHashError(f"vPDQ frame {index}: bad quality or timestamp") from None
    if not 0 <= quality <= 100:
        raise InvalidHashError(f"vPDQ frame {index}: quality {quality} is not in 0-100")
    if not (math.isfinite(timestamp) and timestamp >= 0):
        raise InvalidHashError(f"vPDQ frame {index}: timestamp must be a number >= 0")
    return VpdqFrame(index, quality, pdq, timestamp, parts[3].strip() if regions else "")


def parse(value: str, *, regions: bool = False) -> list[VpdqFrame]:
    """Frames of a serialized vPDQ value (``regions``: a ``vpdq_regions`` value); raises
    `InvalidHashError`."""
    try:
        items = json.loads(value) if isinstance(value, str) and value.strip() else None
    except json.JSONDecodeError as exc:
        raise InvalidHashError(f"not a vPDQ value: invalid JSON ({exc.msg})") from None
    if not isinstance(items, list) or not items:
        raise InvalidHashError("not a vPDQ value: expected a non-empty JSON list of frames")
    return [_parse_frame(i, item, regions=regions) for i, item in enumerate(items)]


@dataclass
class FrameSet:
    """A video as matching sees it: its unique (hash, region) pairs ("keys"), each with its
    best quality and the `BUCKET_SECONDS` time buckets it occurs in.

    As in vPDQ, frames below the quality floor are left out and repeated hashes count once
    as candidates; unlike vPDQ, the shares count buckets (seconds of video), so the density
    at which either side was sampled does not change them.
    """

    hashes: list[str] = field(default_factory=list)
    regions: list[str] = field(default_factory=list)
    qualities: list[int] = field(default_factory=list)
    buckets: list[tuple[int, ...]] = field(default_factory=list)

    @classmethod
    def of(cls, frames: Iterable[VpdqFrame]) -> FrameSet:
        positions: dict[tuple[str, str], int] = {}
        out = cls()
        seconds: list[set[int]] = []
        for f in frames:
            bucket = int(f.timestamp // BUCKET_SECONDS)
            pos = positions.get((f.pdq, f.region))
            if pos is None:
                positions[(f.pdq, f.region)] = len(out.hashes)
                out.hashes.append(f.pdq)
                out.regions.append(f.region)
                out.qualities.append(f.quality)
                seconds.append({bucket})
            else:
                out.qualities[pos] = max(out.qualities[pos], f.quality)
                seconds[pos].add(bucket)
        out.buckets = [tuple(sorted(b)) for b in seconds]
        return out

    def __len__(self) -> int:
        return len(self.hashes)

    def usable(self, quality_floor: int) -> list[bool]:
        return [q >= quality_floor for q in self.qualities]

    def share(self, matched: Iterable[int], quality_floor: int) -> float:
        """Percentage of the buckets holding a usable key that hold a matched usable key."""
        total: set[int] = set()
        got: set[int] = set()
        for pos, quality in enumerate(self.qualities):
            if quality >= quality_floor:
                total.update(self.buckets[pos])
        for pos in matched:
            if self.qualities[pos] >= quality_floor:
                got.update(self.buckets[pos])
        return 100.0 * len(got) / len(total) if total else 0.0


def vpdq_match(
    query: list[VpdqFrame],
    banked: list[VpdqFrame],
    *,
    threshold: int = 31,
    quality_floor: int = 50,
    query_match_pct: float = 80.0,
    index_match_pct: float = 0.0,
) -> VpdqMatch:
    """Brute-force reference of the matcher: a usable key of one video matches when a usable
    key of the same region of the other is within ``threshold``; ``matched`` when something
    matched and both `FrameSet.share`s reach their minimum."""
    q, b = FrameSet.of(query), FrameSet.of(banked)
    q_ok, b_ok = q.usable(quality_floor), b.usable(quality_floor)
    b_int = [int(h, 16) for h in b.hashes]
    matched_q: set[int] = set()
    matched_b: set[int] = set()
    for i, a in enumerate(q.hashes):
        if not q_ok[i]:
            continue
        value = int(a, 16)
        for j, other in enumerate(b_int):
            same_part = q.regions[i] == b.regions[j]
            if b_ok[j] and same_part and (value ^ other).bit_count() <= threshold:
                matched_q.add(i)
                matched_b.add(j)
    q_pct = q.share(matched_q, quality_floor)
    b_pct = b.share(matched_b, quality_floor)
    matched = bool(matched_q) and q_pct >= query_match_pct and b_pct >= index_match_pct
    return VpdqMatch(query_match_pct=q_pct, index_match_pct=b_pct, matched=matched)


class VpdqSignal(SignalType, FrameHashes):
    """Meta's vPDQ, frame for frame: the standard signal partners share and match."""

    name = "vpdq"
    index = "frames"
    default_threshold = PdqSignal.default_threshold
    content_types = frozenset({ContentType.VIDEO})
    matched_with = ("vpdq_cropped",)
    description = (
        "vPDQ (Meta's standard): PDQ of whole video frames, bars included "
        "(python-threatexchange / HMA format)."
    )

    @classmethod
    def bank_defaults(cls, settings: Settings) -> dict[str, Any]:
        return {
            "threshold": settings.pdq_threshold,
            "quality_floor": settings.pdq_quality_floor,
            "query_match_pct": settings.vpdq_query_match_pct,
            "index_match_pct": settings.vpdq_index_match_pct,
        }

    @classmethod
    def validate(cls, value: str) -> str:
        return serialize(parse(value))

    @classmethod
    def frames(cls, value: str) -> list[VpdqFrame]:
        return parse(value)

    @classmethod
    def serialize(cls, frames: list[VpdqFrame]) -> str:
        return serialize([replace(f, region="") for f in frames])

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        """Smallest PDQ distance between any frame of ``a`` and any of ``b``."""
        fa, fb = parse(a), parse(b)
        return min(pdq_distance(x.pdq, y.pdq) for x in fa for y in fb)


class VpdqCroppedSignal(VpdqSignal):
    """The frames of a video with letterbox / pillarbox bars, the bars cropped: a copy with
    other bars, or none, matches on the content. Vangnet's own; stored only for videos with
    bars (without bars it would equal ``vpdq``). Same value format as ``vpdq``."""

    name = "vpdq_cropped"
    matched_with = ("vpdq",)
    description = (
        "PDQ of video frames with black bars cropped, for videos that have bars "
        "(matches letterboxed and pillarboxed copies; Vangnet's own, not standard vPDQ)."
    )


class VpdqRegionsSignal(SignalType, FrameHashes):
    """The half-frames of a video's sampled frames: matches copies with a large overlay."""

    name = "vpdq_regions"
    index = "frames"
    default_threshold = PdqSignal.default_threshold
    content_types = frozenset({ContentType.VIDEO})
    description = (
        "PDQ of the top, bottom, left and right halves of each sampled video frame "
        "(matches copies with a logo, caption or webcam overlay; Vangnet's own format)."
    )

    @classmethod
    def bank_defaults(cls, settings: Settings) -> dict[str, Any]:
        return {
            "threshold": settings.pdq_threshold,
            "quality_floor": settings.pdq_quality_floor,
            "query_match_pct": settings.vpdq_query_match_pct,
            "index_match_pct": settings.vpdq_index_match_pct,
        }

    @classmethod
    def validate(cls, value: str) -> str:
        return serialize(parse(value, regions=True))

    @classmethod
    def frames(cls, value: str) -> list[VpdqFrame]:
        return parse(value, regions=True)

    @classmethod
    def serialize(cls, frames: list[VpdqFrame]) -> str:
        if any(not f.region for f in frames):
            raise InvalidHashError("vpdq_regions frames must each name their region")
        return serialize(frames)

    @classmethod
    def distance(cls, a: str, b: str) -> int:
        """Smallest PDQ distance between frames of ``a`` and ``b`` of the same region."""
        fa, fb = parse(a, regions=True), parse(b, regions=True)
        found = [pdq_distance(x.pdq, y.pdq) for x in fa for y in fb if x.region == y.region]
        return min(found, default=256)
