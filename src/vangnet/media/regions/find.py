"""Find the picture regions of a screenshot: the main natural-image rectangle and insets.

A screenshot of a player, a video call or a web page is built from axis-aligned rectangles:
flat chrome (title bars, panels, buttons, text) around and over one or more natural
pictures. Candidate sides are the most prominent rows and columns with a long straight
stretch of luminance steps (`vangnet.media.regions.edges`), plus the image border,
so sides are pixel-exact, which region hashing needs (a 3 % shift of the top edge costs a
half-frame PDQ 60+ bits).

The main region is the rectangle on candidate sides, each side on edge pixels over
`MAIN_SUPPORT` of its length, that maximises (natural pixels - other pixels) inside: it
grows over natural content and stops at chrome and black bars, while controls drawn over
the picture (a small share of it) stay inside. Near-optimal rectangles overlapping it almost
entirely are kept as ``alternatives`` (e.g. with and without a title bar drawn over the top
of the video), so matching can try each. Insets are searched inside the main region
(`vangnet.media.regions.insets`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import cv2
import numpy as np

from vangnet.media.image import RgbArray
from vangnet.media.regions.edges import (
    Box,
    Cues,
    EdgeMap,
    IntArray,
    rectangles,
)
from vangnet.media.regions.insets import find_insets

RegionKind = Literal["main", "inset"]

#: Detection runs on the screenshot shrunk to fit within this side (coordinates are mapped back).
WORK_MAX_SIDE = 1600
#: A candidate side's best stretch scores at least this share of the short side ...
MIN_LINE_SHARE = 0.06
#: ... and this many pixels; regions are at least that large too.
MIN_LINE_PIXELS = 24
#: At most this many candidate lines per direction (best first; rectangles are enumerated).
MAX_LINES = 40
#: Each side of the main region must have at least this share of its length on edge pixels.
MAIN_SUPPORT = 0.5
#: Alternatives score at least this share of the best, overlap it this much (IoU) ...
ALT_SCORE_SHARE = 0.9
ALT_MIN_IOU = 0.85
#: ... and have a side moved by more than this share of the size from every other reading.
ALT_MIN_SHIFT = 0.01
MAX_ALTERNATIVES = 4
MAX_READINGS_TRIED = 2000


@dataclass(frozen=True)
class Region(Box):
    """A picture region of a screenshot, in its pixel coordinates. ``score`` (0-1) is its
    natural share times its weakest side's edge support; ``alternatives`` are near-equal
    readings of the same region (other candidate edges), tried when hashing."""

    score: float = 0.0
    kind: RegionKind = "main"
    alternatives: tuple[Box, ...] = field(default=(), compare=False)

    @property
    def box(self) -> Box:
        return Box(self.x, self.y, self.w, self.h)


def _positions(edges: EdgeMap, min_len: int) -> IntArray:
    chosen = edges.best_lines(min_len, MAX_LINES)
    return np.array(sorted({0, edges.lines, *chosen.tolist()}), np.int64)


def _main_region(cues: Cues, min_len: int) -> Region | None:
    rows, cols = cues.rows, cues.cols
    ys, xs = _positions(rows, min_len), _positions(cols, min_len)
    rects = rectangles(rows, ys, cols, xs, min_len, MAIN_SUPPORT)
    if not len(rects):
        return None
    area = rects.area.astype(np.float64)
    natural_count = cues.integral.sum(rects.y0, rects.y1, rects.x0, rects.x1)
    score = 2.0 * natural_count - area  # natural pixels count +1, the rest -1
    best = int(np.argmax(score))
    if not score[best] > 0:
        return None
    box = rects.box(best)
    near = np.flatnonzero(score >= ALT_SCORE_SHARE * score[best])
    alternatives: list[Box] = []
    for i in near[np.argsort(-score[near], kind="stable")][:MAX_READINGS_TRIED].tolist():
        alt = rects.box(i)
        readings = (box, *alternatives)
        if box.iou(alt) >= ALT_MIN_IOU and all(alt.differs(r, ALT_MIN_SHIFT) for r in readings):
            alternatives.append(alt)
        if len(alternatives) >= MAX_ALTERNATIVES:
            break
    quality = float(natural_count[best] / area[best]) * rects.weakest_side(best)
    return Region(box.x, box.y, box.w, box.h, round(quality, 3), "main", tuple(alternatives))


def _rescaled(region: Region, factor: float, width: int, height: int) -> Region:
    if factor == 1.0:
        return region
    box = region.box.scaled(factor, width, height)
    alts = tuple(a.scaled(factor, width, height) for a in region.alternatives)
    return Region(box.x, box.y, box.w, box.h, region.score, region.kind, alts)


def work_picture(rgb: RgbArray, work_side: int) -> tuple[RgbArray, float]:
    """``rgb`` shrunk to fit within ``work_side`` (INTER_AREA) and the scale used (1.0:
    ``rgb`` itself)."""
    height, width = rgb.shape[:2]
    scale = min(1.0, work_side / max(height, width))
    if scale >= 1.0:
        return rgb, 1.0
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.ascontiguousarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)), scale


def find_regions(
    rgb: RgbArray,
    *,
    work_side: int = WORK_MAX_SIDE,
    insets: bool = True,
    cues: Cues | None = None,
) -> list[Region]:
    """The main natural-image region of a screenshot (first) and, with ``insets``, the
    insets inside it; empty when no rectangle holds more natural than flat pixels. ``rgb``:
    uint8 H x W x 3. Detection runs on ``rgb`` shrunk to fit within ``work_side`` (faster,
    less exact); ``cues``: those of that working picture when the caller has them."""
    height, width = rgb.shape[:2]
    work, scale = work_picture(rgb, work_side)
    if cues is None:
        cues = Cues.of(work)
    values, natural = cues.values, cues.natural
    min_len = max(MIN_LINE_PIXELS, int(MIN_LINE_SHARE * min(values.shape)))
    main = _main_region(cues, min_len)
    if main is None:
        return []
    inside = (slice(main.y, main.y + main.h), slice(main.x, main.x + main.w))
    found = [main]
    for inset in (
        () if not insets else find_insets(np.ascontiguousarray(values[inside]), natural[inside])
    ):
        b = inset.box.shifted(main.x, main.y)
        found.append(Region(b.x, b.y, b.w, b.h, inset.quality, "inset"))
    return [_rescaled(r, 1.0 / scale, width, height) for r in found]
