"""Pixel cues for finding picture regions in screenshots: straight edges and natural-ness.

- `EdgeMap`: where the luminance steps across a horizontal boundary (a column-wise map is
  the same on the transposed picture), and per row the best straight stretch of such steps
  (`EdgeMap.scores`), scored +1 per edge pixel and -`GAP_PENALTY` per other pixel, so a
  border with some low-contrast stretches still scores high and scattered texture does not.
- `natural_map`: 1 where a pixel's neighbourhood has gradients both ways at a coarse scale
  (photos, video), 0 on flat chrome, thin lines and most text.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

import cv2
import numpy as np
import numpy.typing as npt

from vangnet.media.image import RgbArray

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
_Item = TypeVar("_Item", bound=np.generic)

#: Luminance step (0-255, between 2-pixel means) that counts as an edge pixel.
EDGE_STEP = 10.0
#: A stretch along a line scores +1 per edge pixel and -this per other pixel (a multiple of
#: 0.5: `EdgeMap.line_scores` sums in half-points).
GAP_PENALTY = 1.5
#: A line's prominence compares it with the lines NEAR to FAR away on either side.
NEAR, FAR = 3, 8
#: An isolated step (`EdgeMap` with ``isolated``) is this many times the steps around it.
ISOLATED_RATIO = 2.0
#: Natural-ness is computed on the picture shrunk to this side ...
NATURAL_SIDE = 512
#: ... where both mean absolute gradients (Sobel, 5x5 mean) must exceed this.
NATURAL_GRADIENT = 1.0


@dataclass(frozen=True)
class Box:
    """Pixel rectangle: columns ``x .. x+w-1``, rows ``y .. y+h-1``."""

    x: int
    y: int
    w: int
    h: int

    @property
    def area(self) -> int:
        return self.w * self.h

    def iou(self, other: Box) -> float:
        ix = max(0, min(self.x + self.w, other.x + other.w) - max(self.x, other.x))
        iy = max(0, min(self.y + self.h, other.y + other.h) - max(self.y, other.y))
        inter = ix * iy
        union = self.area + other.area - inter
        return inter / union if union else 0.0

    def differs(self, other: Box, share: float) -> bool:
        """Some side is more than ``share`` of this box's size away from ``other``'s."""
        dx, dy = share * self.w, share * self.h
        return (
            abs(self.x - other.x) > dx
            or abs(self.x + self.w - other.x - other.w) > dx
            or abs(self.y - other.y) > dy
            or abs(self.y + self.h - other.y - other.h) > dy
        )

    def shifted(self, dx: int, dy: int) -> Box:
        return Box(self.x + dx, self.y + dy, self.w, self.h)

    def scaled(self, factor: float, width: int, height: int) -> Box:
        """This box in a picture ``factor`` times larger, clipped to ``width`` x ``height``."""
        x0, y0 = round(self.x * factor), round(self.y * factor)
        x1 = min(width, round((self.x + self.w) * factor))
        y1 = min(height, round((self.y + self.h) * factor))
        return Box(x0, y0, x1 - x0, y1 - y0)

    def crop(self, rgb: RgbArray) -> RgbArray:
        return np.ascontiguousarray(rgb[self.y : self.y + self.h, self.x : self.x + self.w])


def transposed(values: npt.NDArray[_Item]) -> npt.NDArray[_Item]:
    """``values.T`` (a 2-D array), contiguous: ``cv2.transpose`` (blocked, about ten times
    faster than numpy's copy of the transposed view), the same numbers."""
    if values.size == 0 or values.dtype not in (np.uint8, np.float32):
        return np.ascontiguousarray(values.T)
    out: npt.NDArray[_Item] = np.asarray(
        cv2.transpose(np.asarray(values, values.dtype)), values.dtype
    )
    return out


def luma(rgb: RgbArray) -> FloatArray:
    out: FloatArray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return out


def _boundary_steps(values: FloatArray) -> FloatArray:
    """``out[t, x]``: luminance step across the boundary above row ``t`` (2-row means, so a
    boundary blurred over two rows by scaling still counts)."""
    out = np.empty_like(values)
    out[:1] = 0.0
    if values.shape[0] >= 4:
        pairs = np.add(values[1:], values[:-1])  # pairs[i]: rows i and i + 1, made once
        inner = out[2:-1]  # written in place: no full-size temporaries
        np.subtract(pairs[2:], pairs[:-2], out=inner)
        np.abs(inner, out=inner)
        inner *= 0.5  # exactly / 2
    if values.shape[0] >= 2:
        np.abs(values[1] - values[0], out=out[1])
        np.abs(values[-1] - values[-2], out=out[-1])
    return out


class EdgeMap:
    """Edge pixels on the boundaries between rows (``edges[t, x]``: above row ``t``); use
    ``EdgeMap(values.T)`` for the boundaries between columns."""

    def __init__(
        self, values: FloatArray, *, isolated: bool = False, raw: FloatArray | None = None
    ) -> None:
        """``isolated``: keep only steps at least `ISOLATED_RATIO` times those `NEAR` lines
        before and after (a boundary where one picture was pasted on another, not texture).
        ``raw``: the steps of ``values`` when already computed (`Cues` shares them)."""
        n, length = values.shape
        gap = max(1, length // 200)  # close tiny breaks along the line
        if raw is None:
            raw = _boundary_steps(values)
        steps = raw >= EDGE_STEP
        if isolated and n > 2 * NEAR:
            around = np.empty_like(raw)  # ISOLATED_RATIO times the steps around, in place
            np.maximum(raw[: -2 * NEAR], raw[2 * NEAR :], out=around[NEAR:-NEAR])
            around[:NEAR] = raw[NEAR : 2 * NEAR]
            around[-NEAR:] = raw[-2 * NEAR : -NEAR]
            around *= ISOLATED_RATIO
            steps &= raw >= around
        kernel = np.ones((1, 2 * gap + 1), np.uint8)
        closed = cv2.morphologyEx(steps.view(np.uint8), cv2.MORPH_CLOSE, kernel)
        self.edges: BoolArray = np.asarray(closed).view(np.bool_)  # 0 or 1: a bool view
        self.prefix = np.zeros((n, length + 1), np.int32)  # edge pixels before each x
        np.cumsum(self.edges, axis=1, dtype=np.int32, out=self.prefix[:, 1:])

    @property
    def lines(self) -> int:
        return int(self.edges.shape[0])

    @property
    def length(self) -> int:
        return int(self.edges.shape[1])

    def support(self, line: IntArray, start: IntArray, stop: IntArray) -> FloatArray:
        """Share of edge pixels on ``line`` between ``start`` and ``stop``; lines on the
        picture's border (0 or `lines`) count as fully supported."""
        inner = (line > 0) & (line < self.lines)
        row = np.clip(line, 0, self.lines - 1)
        got = self.prefix[row, stop] - self.prefix[row, start]
        share = got / np.maximum(stop - start, 1)
        out: FloatArray = np.where(inner, share, 1.0).astype(np.float32)
        return out

    @cached_property
    def scores(self) -> FloatArray:
        """Per line, the score of its best stretch (`line_scores` of every line)."""
        return self.line_scores(np.arange(self.lines))

    def line_scores(self, lines: IntArray) -> FloatArray:
        """The score of the best stretch of each of ``lines`` (Kadane's maximum subarray),
        from the runs of edge pixels alone, vectorised over the runs of all lines. Summed in
        integer half-points (+2 per edge pixel, -2 x `GAP_PENALTY` per other), exact. With
        ``P(x)`` the sum of the gains up to ``x`` (0 before the line), the best stretch
        ending at ``x`` scores ``P(x) - min(0, P(..x))``: it grows along a run of edge
        pixels and shrinks after it, so only the runs' ends are scored, and ``P``'s lowest
        points are where runs start (the sum just before each)."""
        lines = np.asarray(lines, np.int64)
        count, length = len(lines), self.length
        if not count or not length:
            return np.zeros(count, np.float32)
        penalty = round(2 * GAP_PENALTY)
        gain = 2 + penalty
        padded = np.zeros((count, length + 2), np.int8)
        padded[:, 1:-1] = self.edges[lines]
        change = padded[:, 1:] - padded[:, :-1]  # +1 where a run starts, -1 just after it
        starts = np.flatnonzero(change == 1)
        ends = np.flatnonzero(change == -1)
        best = np.zeros(count, np.int64)
        if not len(starts):
            return best.astype(np.float32)
        line, start = np.divmod(starts, length + 1)  # row-major: by line, then along it
        stop = ends - line * (length + 1)
        first = np.flatnonzero(np.diff(line, prepend=-1))  # each line's first run
        runs = stop - start
        before = np.cumsum(runs) - runs  # edge pixels before each run, over all lines ...
        segment = np.cumsum(np.diff(line, prepend=-1) != 0) - 1
        before -= before[first][segment]  # ... and along its own line
        low = gain * before - penalty * start  # P just before each run starts
        high = gain * (before + runs) - penalty * stop  # P at its last pixel
        # the lowest P so far on its own line: lines shifted apart by more than P's range,
        # so one running minimum over all runs never reaches back into an earlier line
        apart = gain * length + 1
        lowest = np.minimum.accumulate(low - line * apart) + line * apart
        np.minimum(lowest, 0, out=lowest)
        best[line[first]] = np.maximum.reduceat(high - lowest, first)
        out: FloatArray = (best / 2).astype(np.float32)
        return out

    def prominence(self) -> FloatArray:
        """Per line, its best stretch's score minus that of the quieter side next to it (the
        mean over lines `NEAR` to `FAR` away on each side). A border between a picture and
        flat chrome, or between two pictures, stands out from at least one side; a line
        inside texture (carpet, grass, noise) has busy lines on both sides."""
        scores = self.scores
        padded = np.concatenate([np.zeros(FAR, np.float32), scores, np.zeros(FAR, np.float32)])
        window = np.lib.stride_tricks.sliding_window_view(padded, 2 * FAR + 1)
        before = window[:, : FAR - NEAR + 1].mean(axis=1)
        after = window[:, FAR + NEAR :].mean(axis=1)
        out: FloatArray = (scores - np.minimum(before, after)).astype(np.float32)
        return out

    def best_lines(self, min_score: float, most: int) -> IntArray:
        """Lines whose best stretch scores at least ``min_score``, most prominent first, at
        most ``most``, none closer than 1 % of the picture to a better one."""
        scores = self.scores
        prominence = self.prominence()
        spacing = max(2, self.lines // 100)
        chosen: list[int] = []
        candidates = np.flatnonzero((scores >= min_score) & (prominence > 0)).tolist()
        for line in sorted(candidates, key=lambda r: -prominence[r]):
            if all(abs(line - other) > spacing for other in chosen):
                chosen.append(line)
            if len(chosen) >= most:
                break
        return np.array(chosen, np.int64)


def natural_map(rgb: RgbArray, values: FloatArray | None = None) -> FloatArray:
    """1.0 where the picture looks natural (gradients both ways at a coarse scale), else 0.
    ``values``: ``luma(rgb)`` when the caller has it (not changed)."""
    if values is None:
        values = luma(rgb)
    h, w = values.shape
    scale = min(1.0, NATURAL_SIDE / max(h, w))
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        values = np.asarray(cv2.resize(values, size, interpolation=cv2.INTER_AREA), np.float32)
    gx = cv2.blur(np.abs(cv2.Sobel(values, cv2.CV_32F, 1, 0, ksize=3)), (5, 5))
    gy = cv2.blur(np.abs(cv2.Sobel(values, cv2.CV_32F, 0, 1, ksize=3)), (5, 5))
    natural = (np.minimum(gx, gy) > NATURAL_GRADIENT).astype(np.uint8)
    opened = cv2.morphologyEx(natural, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    full = cv2.resize(opened, (w, h), interpolation=cv2.INTER_NEAREST)
    out: FloatArray = np.asarray(full, np.float32)
    return out


class Integral:
    """Summed-area table of a map: sums over many rectangles at once."""

    def __init__(self, values: FloatArray) -> None:
        values = np.ascontiguousarray(values, np.float32)
        if not values.size:
            self.table = np.zeros((values.shape[0] + 1, values.shape[1] + 1), np.float64)
            return
        self.table = np.asarray(cv2.integral(values, sdepth=cv2.CV_64F), np.float64)

    def sum(
        self, y0: IntArray, y1: IntArray, x0: IntArray, x1: IntArray
    ) -> npt.NDArray[np.float64]:
        t = self.table
        out: npt.NDArray[np.float64] = t[y1, x1] - t[y0, x1] - t[y1, x0] + t[y0, x0]
        return out


class Cues:
    """The cues of one working-size picture, each computed once and shared by the stages
    that read it (`vangnet.media.regions.layout`, `~.insets`, `~.find`): its luminance
    ``values``, ``natural`` map, their summed-area table and the edge maps (ordinary and
    ``isolated``) of the boundaries between rows and between columns."""

    def __init__(self, values: FloatArray, natural: FloatArray) -> None:
        self.values = values
        self.natural = natural

    @classmethod
    def of(cls, rgb: RgbArray) -> Cues:
        values = luma(rgb)
        return cls(values, natural_map(rgb, values))

    @cached_property
    def columns(self) -> FloatArray:
        """``values.T``, contiguous."""
        return transposed(self.values)

    @cached_property
    def integral(self) -> Integral:
        return Integral(self.natural)

    @cached_property
    def _row_steps(self) -> FloatArray:
        return _boundary_steps(self.values)

    @cached_property
    def _column_steps(self) -> FloatArray:
        return _boundary_steps(self.columns)

    @cached_property
    def rows(self) -> EdgeMap:
        return EdgeMap(self.values, raw=self._row_steps)

    @cached_property
    def cols(self) -> EdgeMap:
        return EdgeMap(self.columns, raw=self._column_steps)

    @cached_property
    def rows_isolated(self) -> EdgeMap:
        return EdgeMap(self.values, isolated=True, raw=self._row_steps)

    @cached_property
    def cols_isolated(self) -> EdgeMap:
        return EdgeMap(self.columns, isolated=True, raw=self._column_steps)


@dataclass(frozen=True)
class SideSupports:
    """What `rectangles` measured once per line and pair of crossing lines: ``rows[i, p]``,
    row line i's support between the columns of column pair p; ``cols[p, j]``, column line
    j's between the rows of row pair p; the line indexes of each row pair (``top``,
    ``bottom``) and column pair (``left``, ``right``)."""

    rows: FloatArray
    cols: FloatArray
    top: IntArray
    bottom: IntArray
    left: IntArray
    right: IntArray


@dataclass(frozen=True)
class Rectangles:
    """Every rectangle whose sides lie on given row and column lines, with the share of
    edge pixels along each side (``sides``: top, bottom, left, right). The sides are
    gathered from ``supports`` (rectangle i: row pair ``pair_rows[i]``, column pair
    ``pair_cols[i]``) when first read: most rectangles are dropped before that."""

    y0: IntArray
    y1: IntArray
    x0: IntArray
    x1: IntArray
    supports: SideSupports
    pair_rows: IntArray
    pair_cols: IntArray

    def __len__(self) -> int:
        return int(self.y0.shape[0])

    @property
    def area(self) -> IntArray:
        out: IntArray = (self.y1 - self.y0) * (self.x1 - self.x0)
        return out

    @cached_property
    def sides(self) -> FloatArray:
        """(n, 4): the share of edge pixels along the top, bottom, left and right side."""
        s, r, c = self.supports, self.pair_rows, self.pair_cols
        out: FloatArray = np.stack(
            [
                s.rows[s.top[r], c],
                s.rows[s.bottom[r], c],
                s.cols[r, s.left[c]],
                s.cols[r, s.right[c]],
            ],
            axis=-1,
        )
        return out

    def weakest_side(self, i: int) -> float:
        """Rectangle ``i``'s smallest side support (``sides[i].min()``, gathered alone)."""
        return float(self.take(np.array([i], np.int64)).sides.min())

    def take(self, keep: IntArray | BoolArray) -> Rectangles:
        return Rectangles(
            self.y0[keep],
            self.y1[keep],
            self.x0[keep],
            self.x1[keep],
            self.supports,
            self.pair_rows[keep],
            self.pair_cols[keep],
        )

    def box(self, i: int) -> Box:
        x0, y0 = int(self.x0[i]), int(self.y0[i])
        return Box(x0, y0, int(self.x1[i]) - x0, int(self.y1[i]) - y0)


def rectangles(
    rows: EdgeMap,
    ys: IntArray,
    cols: EdgeMap,
    xs: IntArray,
    min_side: int,
    min_support: float = 0.0,
) -> Rectangles:
    """All rectangles on lines ``ys`` (of ``rows``) and ``xs`` (of ``cols``) with both sides
    at least ``min_side`` long and every side's support at least ``min_support``. Each
    line's support is computed once per pair of crossing lines."""
    top, bottom = np.triu_indices(len(ys), k=1)
    keep = ys[bottom] - ys[top] >= min_side
    top, bottom = top[keep], bottom[keep]
    left, right = np.triu_indices(len(xs), k=1)
    keep = xs[right] - xs[left] >= min_side
    left, right = left[keep], right[keep]
    # row_support[i, p]: row line i between the columns of column pair p; col_support[p, j]:
    # column line j between the rows of row pair p
    row_support = rows.support(ys[:, None], xs[left][None, :], xs[right][None, :])
    col_support = cols.support(xs[None, :], ys[top][:, None], ys[bottom][:, None])
    if min_support <= 0.0:  # supports are shares (>= 0): every rectangle is kept
        pair_rows = np.repeat(np.arange(len(top)), len(left))
        pair_cols = np.tile(np.arange(len(left)), len(top))
    else:  # the weakest side is strong enough when all four are: tested on flags, 1 byte
        row_ok = row_support >= min_support
        col_ok = col_support >= min_support
        keep = row_ok[top]  # (row pairs, column pairs)
        keep &= row_ok[bottom]
        keep &= col_ok[:, left]
        keep &= col_ok[:, right]
        pair_rows, pair_cols = np.nonzero(keep)
    return Rectangles(
        ys[top[pair_rows]],
        ys[bottom[pair_rows]],
        xs[left[pair_cols]],
        xs[right[pair_cols]],
        SideSupports(row_support, col_support, top, bottom, left, right),
        pair_rows,
        pair_cols,
    )
