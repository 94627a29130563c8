"""A picture rotated by a small angle inside flat corner wedges: its angle and rectangle.

A photo rotated by a few degrees (a re-photographed print, a tilted screenshot, an edit
that rotated it) shows as the photo's rectangle, turned, with wedges of one flat colour
(black, white, any) in the corners of the canvas. Its PDQ is far from the upright photo's
(a median of 34 bits at 1 degree, 88 at 4), so the matcher also looks up the rectangle
turned back upright (`upright`).

`find_skewed` reads it on a working-size luminance picture, cheaply:

1. the four corner patches must be flat and of one colour (the background), else there is
   nothing to find (most photos stop here);
2. the pixels farther than `FLAT_TOLERANCE` from the background colour are the picture;
   the first and last of them on each row and column are its outline;
3. a picture inside the canvas (the canvas expanded to hold it, or a flat page it was
   pasted on, `_inside`): the smallest rotated rectangle holding the outline
   (``cv2.minAreaRect``), kept when it lies inside the picture (a blurred backdrop with flat
   corners reaches the picture's edges: the rectangle holding it sticks out) and the
   outline runs along its sides (`_fits`: a rounded object's does not);
4. else a picture rotated on a canvas of its own size (`_clipped`: its corners cut off,
   small wedges in the canvas corners): a line fitted along each wedge's edge, two of
   them along its top and bottom sides and two along its left and right, at one angle;
   the parts of its rectangle outside the canvas are filled from the canvas edge;
5. kept when it is turned by `MIN_ANGLE` to `MAX_ANGLE` degrees either way.

Angles are counter-clockwise in degrees, as Pillow's ``Image.rotate`` takes them: the bench's
``rotate_4`` (``rotate(4, expand=True)``) is read as 4.0, and turned back by -4.0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from vangnet.media.image import RgbArray
from vangnet.media.regions.edges import Box, FloatArray, transposed

#: A rotation smaller than this (degrees) is left alone (PDQ of BSDS500 photos rotated by
#: 0.3 degrees is a median of 16 bits from the upright photo's, at most 28; by 0.5: 24, 32)
MIN_ANGLE = 0.3
#: ... and one larger than this is not a tilt (a quarter turn is a dihedral variant; 15
#: degrees may be read as 15.001).
MAX_ANGLE = 20.0
#: A pixel within this many luminance levels of the background colour is background.
FLAT_TOLERANCE = 16.0
#: The corner patches are this many pixels a side (the wedges of a half-degree turn are
#: about 3 pixels wide on a 481x321 photo) and flat when every pixel is within this many
#: levels of their common median (JPEG noise on white).
CORNER_SIDE = 2
CORNER_TOLERANCE = 24.0
#: The outline is on a side within `FIT_DISTANCE` pixels (or this share of the shorter side
#: when larger); along each side, it is counted in `SIDE_BINS` stretches, and on average
#: at least `SIDE_COVER` of them hold some (a photo's own edge of the background's colour
#: runs inside: 0.37 at worst for BSDS500 photos on mid-grey, 0.13-0.2 for an ellipse or a
#: disc on white).
FIT_DISTANCE = 1.5
FIT_DISTANCE_SHARE = 0.005
SIDE_BINS = 50
SIDE_COVER = 0.3
#: A picture rotated on a canvas of its own size: each corner wedge's edge is fitted to at
#: least this many outline points, their median distance from the line at most this many
#: pixels, and the four lines agree on the angle within this many degrees.
WEDGE_POINTS = 6
WEDGE_RESIDUAL = 1.0
WEDGE_AGREE = 0.5
#: The upright picture is made at most this many pixels a side (PDQ reads 512).
UPRIGHT_MAX_SIDE = 1024

PointArray = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Skewed:
    """A rotated picture: ``angle`` degrees counter-clockwise, centre ``cx``, ``cy`` and its
    own (upright) ``width`` x ``height``, in the pixels of the picture it was found in."""

    angle: float
    cx: float
    cy: float
    width: float
    height: float

    def scaled(self, factor: float) -> Skewed:
        """The same picture in a picture ``factor`` times larger."""
        f = factor
        return Skewed(self.angle, self.cx * f, self.cy * f, self.width * f, self.height * f)

    def corners(self) -> PointArray:
        """The rectangle's four corners (x, y), clockwise from its own top left."""
        a = math.radians(self.angle)
        ux, uy = math.cos(a), -math.sin(a)  # the picture's x axis (rows go down)
        vx, vy = math.sin(a), math.cos(a)  # its y axis
        out = []
        for su, sv in ((-1, -1), (1, -1), (1, 1), (-1, 1)):
            du, dv = su * self.width / 2, sv * self.height / 2
            out.append((self.cx + du * ux + dv * vx, self.cy + du * uy + dv * vy))
        return np.array(out, np.float32)

    def box(self, width: int, height: int) -> Box:
        """The axis-aligned box around it, clipped to a ``width`` x ``height`` picture."""
        pts = self.corners()
        x0 = max(0, math.floor(float(pts[:, 0].min())))
        y0 = max(0, math.floor(float(pts[:, 1].min())))
        x1 = min(width, math.ceil(float(pts[:, 0].max())))
        y1 = min(height, math.ceil(float(pts[:, 1].max())))
        return Box(x0, y0, max(0, x1 - x0), max(0, y1 - y0))


def _background(values: FloatArray) -> float | None:
    """The colour (luminance) of the four flat corner patches, or None when they are not
    flat or not one colour."""
    height, width = values.shape
    k = CORNER_SIDE
    if min(height, width) < 4 * k:
        return None
    patches = np.stack(
        [values[:k, :k], values[:k, -k:], values[-k:, :k], values[-k:, -k:]]
    ).reshape(4, -1)
    colour = float(np.median(patches))
    if float(np.abs(patches - colour).max()) > CORNER_TOLERANCE:
        return None
    return colour


def _outline(mask: npt.NDArray[np.uint8]) -> PointArray:
    """The first and last picture pixel of each row and column, as points on pixel edges."""
    out: list[PointArray] = []
    for m, flipped in ((mask, False), (np.asarray(transposed(mask), np.uint8), True)):
        lines = np.flatnonzero(m.any(axis=1))
        if not len(lines):
            return np.zeros((0, 2), np.float32)
        first = m[lines].argmax(axis=1)
        last = m.shape[1] - m[lines, ::-1].argmax(axis=1)
        at = lines.astype(np.float32) + 0.5
        for edge in (first, last):
            pts = np.stack([edge.astype(np.float32), at], axis=1)
            out.append(pts[:, ::-1] if flipped else pts)
    return np.ascontiguousarray(np.concatenate(out), dtype=np.float32)


def _rectangle(points: PointArray) -> Skewed:
    """The smallest rotated rectangle holding ``points``, turned by at most 45 degrees."""
    (cx, cy), (w, h), a = cv2.minAreaRect(points)
    # OpenCV measures ``a`` from the x axis towards y (clockwise on screen) along ``w``.
    while a > 45.0:
        a, w, h = a - 90.0, h, w
    while a <= -45.0:
        a, w, h = a + 90.0, h, w
    return Skewed(-float(a), float(cx), float(cy), float(w), float(h))


def _fits(points: PointArray, skewed: Skewed) -> bool:
    """The outline lies along the rectangle's sides (`SIDE_COVER`): a rotated photo's does
    (where its own edge has the background's colour it runs inside), a disc's or an
    ellipse's touches each side at one point only."""
    a = math.radians(skewed.angle)
    dx, dy = points[:, 0] - skewed.cx, points[:, 1] - skewed.cy
    u = dx * math.cos(a) - dy * math.sin(a)  # along the picture's own x axis
    v = dx * math.sin(a) + dy * math.cos(a)
    w, h = skewed.width, skewed.height
    near = max(FIT_DISTANCE, FIT_DISTANCE_SHARE * min(w, h))
    covered = 0.0
    for along, across, half, length in ((u, v, h, w), (u, -v, h, w), (v, u, w, h), (v, -u, w, h)):
        on = np.abs(across - half / 2) <= near
        bins = ((along[on] + length / 2) * (SIDE_BINS / max(length, 1.0))).astype(np.int64)
        covered += len(np.unique(np.clip(bins, 0, SIDE_BINS - 1))) / SIDE_BINS
    return covered / 4 >= SIDE_COVER


def _wedge_lines(mask: npt.NDArray[np.uint8]) -> list[tuple[float, float, float, float]]:
    """For a picture rotated on a canvas of its own size (its corners cut off): the line
    along the edge of each of the four corner wedges, fitted to the outline inside the
    canvas there, as (vx, vy, x0, y0); empty when some corner holds none or a line is not
    straight (`WEDGE_RESIDUAL`)."""
    height, width = mask.shape
    first = mask.argmax(axis=1)
    last = width - mask[:, ::-1].argmax(axis=1)
    top = mask.argmax(axis=0)
    bottom = height - mask[::-1, :].argmax(axis=0)
    ys = np.arange(height, dtype=np.float32) + 0.5
    xs = np.arange(width, dtype=np.float32) + 0.5
    upper, left = ys < height / 2, xs < width / 2
    out: list[tuple[float, float, float, float]] = []
    for in_rows, in_cols, row_edge, row_in, col_edge, col_in in (
        (upper, left, first, first > 0, top, top > 0),
        (upper, ~left, last, last < width, top, top > 0),
        (~upper, ~left, last, last < width, bottom, bottom < height),
        (~upper, left, first, first > 0, bottom, bottom < height),
    ):
        rows, cols = in_rows & row_in, in_cols & col_in
        pts = np.concatenate(
            [
                np.stack([row_edge[rows].astype(np.float32), ys[rows]], axis=1),
                np.stack([xs[cols], col_edge[cols].astype(np.float32)], axis=1),
            ]
        )
        if len(pts) < WEDGE_POINTS:
            return []
        fitted = cv2.fitLine(pts, cv2.DIST_HUBER, 0, 0.01, 0.01)
        vx, vy, x0, y0 = (float(v) for v in np.asarray(fitted).ravel())
        residual = np.abs((pts[:, 0] - x0) * vy - (pts[:, 1] - y0) * vx)
        if float(np.median(residual)) > WEDGE_RESIDUAL:
            return []
        out.append((vx, vy, x0, y0))
    return out


def _clipped(mask: npt.NDArray[np.uint8]) -> Skewed | None:
    """A picture rotated on a canvas of its own size (``rotate`` without expanding: small
    wedges in the canvas corners, the picture's corners cut off), from `_wedge_lines`: two
    lines along its top and bottom sides, two along its left and right, all at one angle
    (within `WEDGE_AGREE` degrees); its rectangle reaches out of the canvas."""
    if not (mask.any(axis=1).all() and mask.any(axis=0).all()):
        return None  # a picture inside the canvas (`_rectangle` reads it) or none
    lines = _wedge_lines(mask)
    if not lines:
        return None
    angles: list[float] = []
    across: list[tuple[float, float]] = []  # points on the top / bottom sides
    along: list[tuple[float, float]] = []  # points on the left / right sides
    for vx, vy, x0, y0 in lines:
        phi = (math.degrees(math.atan2(vy, vx)) + 90.0) % 180.0 - 90.0  # (-90, 90]
        if abs(phi) <= 45.0:  # a top or bottom side: on screen, turned by -phi
            angles.append(-phi)
            across.append((x0, y0))
        else:  # a left or right side
            angles.append(-(phi - 90.0 if phi > 0 else phi + 90.0))
            along.append((x0, y0))
    if len(across) != 2 or len(along) != 2 or max(angles) - min(angles) > WEDGE_AGREE:
        return None
    angle = float(np.median(angles))
    a = math.radians(angle)
    ux, uy, vx, vy = math.cos(a), -math.sin(a), math.sin(a), math.cos(a)
    tops = [x * vx + y * vy for x, y in across]  # offsets along the picture's y axis
    sides = [x * ux + y * uy for x, y in along]  # ... and along its x axis
    mid_u, mid_v = sum(sides) / 2, sum(tops) / 2
    return Skewed(
        angle,
        mid_u * ux + mid_v * vx,
        mid_u * uy + mid_v * vy,
        abs(sides[0] - sides[1]),
        abs(tops[0] - tops[1]),
    )


def find_skewed(values: FloatArray, min_side: int) -> Skewed | None:
    """The picture rotated by a small angle inside flat corner wedges of ``values`` (a
    working picture's luminance), or None (module doc). Each side at least ``min_side``."""
    colour = _background(values)
    if colour is None:
        return None
    busy = (np.abs(values - colour) > FLAT_TOLERANCE).astype(np.uint8)
    opened = cv2.morphologyEx(busy, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    mask = np.asarray(opened, dtype=np.uint8)  # specks of noise in the wedges removed
    points = _outline(mask)
    if len(points) < 8:
        return None
    skewed = _inside(values, points) or _clipped(mask)
    if skewed is None or not MIN_ANGLE <= abs(skewed.angle) <= MAX_ANGLE:
        return None
    if min(skewed.width, skewed.height) < min_side:
        return None
    return skewed


def _inside(values: FloatArray, points: PointArray) -> Skewed | None:
    """The rotated picture whose whole rectangle is inside the canvas (the canvas expanded
    to hold it, or a page it was pasted on), or None."""
    skewed = _rectangle(points)
    if not MIN_ANGLE <= abs(skewed.angle) <= MAX_ANGLE:
        return None
    height, width = values.shape
    out = max(FIT_DISTANCE, FIT_DISTANCE_SHARE * min(height, width))
    corners = skewed.corners()
    if not (
        corners.min() >= -out
        and corners[:, 0].max() <= width + out
        and corners[:, 1].max() <= height + out
    ):
        return None  # not inside the picture: its outline runs along the picture's edges
    return skewed if _fits(points, skewed) else None


def upright(rgb: RgbArray, skewed: Skewed) -> RgbArray:
    """The rotated picture of ``rgb`` turned upright and cut to its own rectangle (at most
    `UPRIGHT_MAX_SIDE` a side): only its pixels are computed, ``rgb`` is not copied."""
    scale = min(1.0, UPRIGHT_MAX_SIDE / max(skewed.width, skewed.height))
    width = max(1, round(skewed.width * scale))
    height = max(1, round(skewed.height * scale))
    a = math.radians(skewed.angle)
    # source = centre + (u - width / 2) * x axis + (v - height / 2) * y axis, per output
    # pixel centre (u + 0.5, v + 0.5), in pixel-centre coordinates (-0.5)
    ux, uy = math.cos(a) / scale, -math.sin(a) / scale
    vx, vy = math.sin(a) / scale, math.cos(a) / scale
    ou, ov = 0.5 - width / 2, 0.5 - height / 2
    matrix = np.array(
        [
            [ux, vx, skewed.cx + ou * ux + ov * vx - 0.5],
            [uy, vy, skewed.cy + ou * uy + ov * vy - 0.5],
        ],
        np.float64,
    )
    out = cv2.warpAffine(
        rgb,
        matrix,
        (width, height),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )
    result: RgbArray = np.ascontiguousarray(out, dtype=np.uint8)
    return result
