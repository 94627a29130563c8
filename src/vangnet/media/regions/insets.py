"""Picture-in-picture insets: smaller pictures pasted inside the main region.

Candidates are the rectangles on candidate lines inside the main region (and its border)
with at least one horizontal and one vertical side inside it (an inset in a corner of the
picture has only those two of its own). A candidate is kept when its inner sides are on
edge pixels over `INSET_SUPPORT` of their length, its inside is mostly natural, and its
corners are clean: each inner side *ends* where the perpendicular inner side meets it. That
last test separates an inset's border from a straight edge of the picture itself (a stripe,
a shelf), which runs on past the corner.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vangnet.media.regions.edges import (
    BoolArray,
    Box,
    Cues,
    EdgeMap,
    FloatArray,
    IntArray,
    Integral,
    Rectangles,
    rectangles,
    transposed,
)

#: Candidate lines per direction inside the main region.
INSET_LINES = 40
#: An inset side is at least this share of the main region's short side.
MIN_SIDE_SHARE = 0.08
#: A side this close to the main region's border (share, at least 4 pixels) is that border.
BORDER_SHARE = 0.005
#: Inner sides on edge pixels over at least this share of their length ...
INSET_SUPPORT = 0.85
#: ... and over less than `PAST_SUPPORT` of the stretch `PAST_SHARE` long past each corner.
PAST_SUPPORT = 0.5
PAST_SHARE = 0.05
#: The inside at least this natural, the area within this share of the main region ...
INSET_MIN_NATURAL = 0.5
INSET_MIN_AREA = 0.01
INSET_MAX_AREA = 0.5
#: ... and the long side at most this many times the short one.
INSET_MAX_ASPECT = 4.0
MAX_INSETS = 3


@dataclass(frozen=True)
class Inset:
    """An inset's box (in the coordinates of the picture searched) and quality (0-1: its
    natural share times its weakest inner side's edge support)."""

    box: Box
    quality: float


class _Search:
    def __init__(self, values: FloatArray, natural: FloatArray) -> None:
        self.height, self.width = values.shape
        self.rows = EdgeMap(values)  # horizontal sides: boundaries above rows, along x
        self.cols = EdgeMap(transposed(values))  # vertical sides, along y
        self.natural = Integral(natural)
        self.min_side = max(8, int(MIN_SIDE_SHARE * min(self.height, self.width)))
        self.dy = max(4, int(BORDER_SHARE * self.height))
        self.dx = max(4, int(BORDER_SHARE * self.width))

    def _positions(self, edges: EdgeMap) -> IntArray:
        chosen = edges.best_lines(self.min_side, INSET_LINES).tolist()
        return np.array(sorted({0, edges.lines, *chosen}), np.int64)

    def candidates(self) -> Rectangles:
        ys, xs = self._positions(self.rows), self._positions(self.cols)
        rects = rectangles(self.rows, ys, self.cols, xs, self.min_side)
        h, w = rects.y1 - rects.y0, rects.x1 - rects.x0
        share = rects.area / (self.width * self.height)
        ok = (share >= INSET_MIN_AREA) & (share <= INSET_MAX_AREA)
        ok &= np.maximum(h, w) <= INSET_MAX_ASPECT * np.minimum(h, w)
        inner = self.inner(rects)
        ok &= (inner[:, 0] | inner[:, 1]) & (inner[:, 2] | inner[:, 3])  # a corner inside
        ok &= np.where(inner, rects.sides, 1.0).min(axis=1) >= INSET_SUPPORT
        return rects.take(ok)

    def inner(self, c: Rectangles) -> BoolArray:
        """(n, 4) top, bottom, left, right: the side lies inside, not on the border."""
        return np.stack(
            [
                c.y0 >= self.dy,
                c.y1 <= self.height - self.dy,
                c.x0 >= self.dx,
                c.x1 <= self.width - self.dx,
            ],
            axis=1,
        )

    def _ends(self, edges: EdgeMap, line: IntArray, at: IntArray, outward: int) -> BoolArray:
        """Whether ``line`` has few edge pixels just past ``at`` (before it: ``outward`` -1)."""
        span = max(8, int(PAST_SHARE * edges.length))
        if outward < 0:
            start, stop = np.maximum(at - span, 0), at
        else:
            start, stop = at, np.minimum(at + span, edges.length)
        out: BoolArray = ((stop - start) < 4) | (edges.support(line, start, stop) < PAST_SUPPORT)
        return out

    def clean_corners(self, c: Rectangles, inner: BoolArray) -> BoolArray:
        """Every inner side ends where a perpendicular inner side meets it."""
        ok = np.ones(len(c.y0), bool)
        for side, y in ((0, c.y0), (1, c.y1)):
            ok &= ~(inner[:, side] & inner[:, 2]) | self._ends(self.rows, y, c.x0, -1)
            ok &= ~(inner[:, side] & inner[:, 3]) | self._ends(self.rows, y, c.x1, 1)
        for side, x in ((2, c.x0), (3, c.x1)):
            ok &= ~(inner[:, side] & inner[:, 0]) | self._ends(self.cols, x, c.y0, -1)
            ok &= ~(inner[:, side] & inner[:, 1]) | self._ends(self.cols, x, c.y1, 1)
        return ok

    def snapped(self, box: Box, inner: BoolArray) -> Box:
        """``box`` with each side that is not inside moved onto the border."""
        y0 = box.y if inner[0] else 0
        y1 = box.y + box.h if inner[1] else self.height
        x0 = box.x if inner[2] else 0
        x1 = box.x + box.w if inner[3] else self.width
        return Box(x0, y0, x1 - x0, y1 - y0)


def find_insets(values: FloatArray, natural: FloatArray) -> list[Inset]:
    """Insets inside a picture (the main region's luminance and natural map), best first."""
    search = _Search(values, natural)
    cands = search.candidates()
    if not len(cands):
        return []
    natural_share = search.natural.sum(cands.y0, cands.y1, cands.x0, cands.x1) / cands.area
    cands = cands.take(natural_share >= INSET_MIN_NATURAL)
    natural_share = natural_share[natural_share >= INSET_MIN_NATURAL]
    inner = search.inner(cands)
    clean = search.clean_corners(cands, inner)
    support = np.where(inner, cands.sides, 1.0).min(axis=1)
    quality = natural_share * support
    order = sorted(np.flatnonzero(clean).tolist(), key=lambda i: (-quality[i], -cands.area[i]))
    kept: list[Inset] = []
    for i in order:
        box = search.snapped(cands.box(i), inner[i])
        if all(box.iou(k.box) < 0.5 for k in kept):  # nested insets are both kept
            kept.append(Inset(box, round(float(quality[i]), 3)))
        if len(kept) >= MAX_INSETS:
            break
    return kept


#: `find_framed`: candidate sides are the lines with the longest stretches of isolated
#: steps, at most this many per direction ...
FRAMED_LINES = 30
#: ... every side is on (ordinary) edge pixels over this share of its length ...
FRAMED_SUPPORT = 0.75
#: ... and on isolated steps over this share on average, a side on the picture's border
#: counting as this share (so a frame of four sides ranks above one leaning on the border).
FRAMED_ISOLATED = 0.5
FRAMED_BORDER = 0.5
#: Framed rectangles overlapping a better one this much (IoU) are dropped.
FRAMED_SAME_IOU = 0.8


def _framed_lines(edges: EdgeMap, min_side: int) -> IntArray:
    """Only lines with at least ``min_side / 2`` edge pixels can score that much, so only
    theirs are scored (the others are never chosen)."""
    floor = min_side / 2
    busy = np.flatnonzero(edges.prefix[:, -1] >= floor)
    score = np.zeros(edges.lines, np.float32)
    score[busy] = edges.line_scores(busy)
    order = np.argsort(-score, kind="stable")
    spacing = max(2, edges.lines // 200)
    chosen: list[int] = []
    for line in order.tolist():
        if score[line] < floor or len(chosen) >= FRAMED_LINES:
            break
        if all(abs(line - other) > spacing for other in chosen):
            chosen.append(line)
    return np.array(sorted({0, edges.lines, *chosen}), np.int64)


def find_framed(
    values: FloatArray, natural: FloatArray, *, min_side: int, cues: Cues | None = None
) -> list[Inset]:
    """Pictures pasted onto a picture, found by their frame: rectangles on the lines with
    the longest stretches of isolated steps (`EdgeMap` ``isolated``: where one picture
    meets another, not texture), every side on edge pixels (or the picture's border),
    mostly isolated steps, and a natural inside. Best first (isolated support times the
    natural share), at most `MAX_INSETS`, none overlapping a better one (`FRAMED_SAME_IOU`).
    ``cues``: those of ``values`` and ``natural`` when the caller shares them."""
    if cues is None:
        cues = Cues(values, natural)
    height, width = values.shape
    steps_r, steps_c = cues.rows_isolated, cues.cols_isolated
    ys, xs = _framed_lines(steps_r, min_side), _framed_lines(steps_c, min_side)
    rects = rectangles(cues.rows, ys, cues.cols, xs, min_side, FRAMED_SUPPORT)
    h, w = rects.y1 - rects.y0, rects.x1 - rects.x0
    share = rects.area / (width * height)
    keep = (share >= INSET_MIN_AREA) & (share <= INSET_MAX_AREA)
    keep &= np.maximum(h, w) <= INSET_MAX_ASPECT * np.minimum(h, w)
    c = rects.take(keep)
    if not len(c):
        return []
    sides = np.stack(
        [
            steps_r.support(c.y0, c.x0, c.x1),
            steps_r.support(c.y1, c.x0, c.x1),
            steps_c.support(c.x0, c.y0, c.y1),
            steps_c.support(c.x1, c.y0, c.y1),
        ],
        axis=1,
    )
    border = np.stack([c.y0 == 0, c.y1 == height, c.x0 == 0, c.x1 == width], axis=1)
    isolated = np.where(border, FRAMED_BORDER, sides).mean(axis=1)
    inside = cues.integral.sum(c.y0, c.y1, c.x0, c.x1) / c.area
    quality = isolated * inside
    ok = (isolated >= FRAMED_ISOLATED) & (inside >= INSET_MIN_NATURAL)
    kept: list[Inset] = []
    for i in sorted(np.flatnonzero(ok).tolist(), key=lambda i: -quality[i]):
        box = c.box(i)
        if all(box.iou(k.box) < FRAMED_SAME_IOU for k in kept):
            kept.append(Inset(box, round(float(quality[i]), 3)))
        if len(kept) >= MAX_INSETS:
            break
    return kept
