"""Screenshot -> source: trace the picture shown in a screenshot to a known video or image.

    screenshot bytes ─► decode ─► find_regions (main + insets) ─► region-aware PDQ
        ─► FrameLibrary.search (loose) ─► verify: local features (ingested) or tight hash
        ─► [Trace(name, timestamp, method, distance / inliers, region)]

Plain PDQ of a whole player screenshot is ~100 bits from the video's frames, and even an
exact crop of the video is 26-88 bits away because the controls are drawn over it. So each
region is hashed in parts (whole, top, bottom, left and right halves, for each near-equal
reading of its edges) and compared part for part with every frame of the library: the part
the overlay leaves clear matches (4-24 bits on the public player screenshots; other
recordings are 90+). The nearest frames are then

- **verified with local features** when the library holds the entry's pixels: the frame is
  decoded again and matched by SIFT + RANSAC; accepted on `TraceOptions.min_inliers`
  inliers of a plausible similarity (right recording: 55-770 inliers, others 0-6);
- **accepted on the hash** alone for hash-only entries (banked videos): the best part within
  `TraceOptions.hash_bits`.

Everything runs in memory; bad input raises `vangnet.errors.MediaError` subclasses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from vangnet.errors import MediaError
from vangnet.media.image import decode_image
from vangnet.media.regions.edges import Box
from vangnet.media.regions.find import Region, find_regions
from vangnet.signals.features import Features, extract, verify
from vangnet.signals.pdq import RgbArray
from vangnet.triage.screenshot_library import (
    Candidate,
    EntryKind,
    FrameLibrary,
    HashScale,
    QueryHashes,
)
from vangnet.triage.tuning import TraceOptions

__all__ = [
    "FrameLibrary",
    "Region",
    "Trace",
    "TraceOptions",
    "find_regions",
    "trace",
    "trace_pixels",
]

TraceMethod = Literal["features", "hash"]

#: Screenshots smaller than this on either side are refused.
MIN_SIDE = 32


@dataclass(frozen=True)
class Trace:
    """A screenshot region traced to a library entry: the video (with the frame number and
    seconds from its start of the matching frame) or image, how it was decided, the best
    part distance and, for feature checks, the RANSAC inliers."""

    name: str
    kind: EntryKind
    frame: int | None
    timestamp: float | None
    method: TraceMethod
    distance: int
    part: str
    inliers: int | None
    region: Region

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form (for ``--json`` output and case records)."""
        r = self.region
        return {
            "name": self.name,
            "kind": self.kind,
            "frame": self.frame,
            "timestamp": self.timestamp,
            "method": self.method,
            "distance": self.distance,
            "part": self.part,
            "inliers": self.inliers,
            "region": {"x": r.x, "y": r.y, "w": r.w, "h": r.h, "kind": r.kind, "score": r.score},
        }

    @property
    def confidence(self) -> float:
        """Sort key, higher is surer: inliers for feature checks, bits to spare for hashes."""
        if self.inliers is not None:
            return 1000.0 + self.inliers
        return float(256 - self.distance)


def decode_screenshot(data: bytes) -> RgbArray:
    """The RGB pixels of an encoded screenshot (full resolution, EXIF orientation applied).
    Raises `EmptyInputError`, `UnsupportedMediaError`, `MediaTooLargeError` or `MediaError`."""
    rgb = np.asarray(decode_image(data, fast=False)[0], dtype=np.uint8)
    height, width = rgb.shape[:2]
    if height < MIN_SIDE or width < MIN_SIDE:
        raise MediaError(f"screenshot is {width}x{height}; at least {MIN_SIDE}x{MIN_SIDE} needed")
    return rgb


def trace(
    screenshot: bytes, library: FrameLibrary, *, options: TraceOptions | None = None
) -> list[Trace]:
    """Trace the picture regions of an encoded screenshot to ``library``: one `Trace` per
    entry shown (from the region that shows it most surely), surest first; empty when
    nothing known is shown."""
    return trace_pixels(decode_screenshot(screenshot), library, options=options)


def trace_pixels(
    rgb: RgbArray, library: FrameLibrary, *, options: TraceOptions | None = None
) -> list[Trace]:
    """`trace` for decoded RGB pixels (uint8 H x W x 3)."""
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise MediaError(f"expected a uint8 HxWx3 picture, got {rgb.dtype} {rgb.shape}")
    if min(rgb.shape[:2]) < MIN_SIDE:
        raise MediaError(f"screenshot is smaller than {MIN_SIDE}x{MIN_SIDE}")
    opts = options or TraceOptions()
    best: dict[str, Trace] = {}  # per entry, the surest of its traces over all regions
    for region in find_regions(rgb):
        for found in _RegionTracer(rgb, region, library, opts).run():
            if found.name not in best or found.confidence > best[found.name].confidence:
                best[found.name] = found
    return sorted(best.values(), key=lambda t: -t.confidence)


class _RegionTracer:
    """Traces one region: hashes its readings, searches, verifies."""

    def __init__(
        self, rgb: RgbArray, region: Region, library: FrameLibrary, options: TraceOptions
    ) -> None:
        self.rgb = rgb
        self.region = region
        self.library = library
        self.options = options
        self._features: dict[Box, Features] = {}

    def run(self) -> list[Trace]:
        boxes = [self.region.box, *self.region.alternatives]
        scales: set[HashScale] = self.library.scales()
        queries = {scale: QueryHashes.of(self.rgb, boxes, scale) for scale in scales}
        nearest = self.library.search(queries, per_entry=self.options.frames_per_entry)
        out: list[Trace] = []
        checked = 0
        for picks in nearest:
            entry = picks[0].entry
            if not entry.has_pixels:
                if picks[0].distance <= self.options.hash_bits:
                    out.append(self._trace(picks[0], "hash", None))
                continue
            if picks[0].distance > self.options.candidate_bits:
                continue
            if checked >= self.options.max_candidates:
                continue
            checked += 1
            best = self._verify(picks)
            if best is not None:
                out.append(best)
        return out

    def _query_features(self, box: Box) -> Features:
        if box not in self._features:
            self._features[box] = extract(box.crop(self.rgb))
        return self._features[box]

    def _verify(self, picks: Sequence[Candidate]) -> Trace | None:
        """The first of ``picks`` (nearest first) whose pixels match the region."""
        frames = self.library.checks(picks[0].entry, (p.row for p in picks))
        for pick in picks:
            features = frames.features(pick.row)
            if features is None:
                continue
            result = verify(self._query_features(pick.box), features)
            if result.plausible() and result.inliers >= self.options.min_inliers:
                return self._trace(pick, "features", result.inliers)
        return None

    def _trace(self, pick: Candidate, method: TraceMethod, inliers: int | None) -> Trace:
        video = pick.entry.kind == "video"
        return Trace(
            name=pick.entry.name,
            kind=pick.entry.kind,
            frame=pick.frame if video else None,
            timestamp=pick.timestamp if video else None,
            method=method,
            distance=pick.distance,
            part=pick.part,
            inliers=inliers,
            region=self.region,
        )
