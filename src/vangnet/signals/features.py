"""Local features of a picture: SIFT keypoints, ratio test, RANSAC (the wider net's check).

A PDQ candidate farther than a bank's threshold (a crop, a small rotation, a video-call tile
of a banked photo; issue 12, point 2) is kept only when the query's pixels and the banked
picture share enough keypoints under one plausible similarity (scale and shift, a small
rotation). A banked picture is fitted within `SIDE` x `SIDE` before its keypoints are
found, a query's box within `QUERY_SIDE` (cheaper: most candidates of the wider net are
unrelated pictures, and their checks are what it costs), so the scale is about `SIDE` /
`QUERY_SIDE` when the query is the banked picture. The screenshot tracer
(`vangnet.triage.screenshots`) checks its candidates the same way, both sides at `SIDE`.

What a bank keeps of a picture it banked from its pixels (`pack`, kind `KIND`): the
positions (float16, in the fitted picture's pixels) and the SIFT descriptors (uint8, which
is what SIFT computes: values 0-255) of at most N strongest keypoints: 132 bytes per
keypoint plus an 8-byte header, no pixels. `QueryPicture` carries a query's decoded picture
from hashing to the matcher, which computes its features only when a candidate needs them.
"""

from __future__ import annotations

import functools
import math
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from vangnet.errors import ValidationError
from vangnet.media.image import RgbArray
from vangnet.media.regions.edges import Box

#: Pictures are fitted within this square before keypoints are found (banked pictures).
SIDE = 512
#: A query's box is fitted within this square before its keypoints are found, unless told
#: otherwise (``match_verify_side``): SIFT's cost grows with the pixels (at 320 about a
#: third of its cost at 512), and the candidates the robustness benchmark confirms keep far
#: more inliers than `match_verify_min_inliers` asks at 320 (docs/benchmarks.md).
QUERY_SIDE = 320
#: The packed format of `pack` / `unpack`: SIFT on pictures fitted to `SIDE`, version 1.
KIND = "sift512-v1"
#: Keypoints kept per picture when not told (strongest first).
MAX_KEYPOINTS = 800
#: Lowe's ratio test: best match distance below this share of the second best.
RATIO = 0.75
#: RANSAC reprojection tolerance, pixels at `SIDE`.
RANSAC_PIXELS = 4.0
#: The fitted similarity must rotate by at most this many degrees ...
MAX_ROTATION = 10.0
#: ... and scale within this range (1.0 = the query is the whole picture).
MIN_SCALE, MAX_SCALE = 0.25, 4.0

_HEADER = struct.Struct("<4sHH")  # magic, keypoints, side
_MAGIC = b"VSF1"
_DESCRIPTOR = 128


@dataclass(frozen=True)
class Features:
    """Keypoint positions (n, 2) and SIFT descriptors (n, 128) of a picture."""

    points: npt.NDArray[np.float32]
    descriptors: npt.NDArray[np.float32]

    def __len__(self) -> int:
        return int(self.points.shape[0])


@dataclass(frozen=True)
class Verification:
    """Outcome of matching a query picture with a reference picture."""

    inliers: int
    matches: int
    scale: float
    rotation: float  # degrees

    def plausible(self, turned: float = 0.0) -> bool:
        """The fitted transform is a near-similarity a crop or screenshot could produce;
        ``turned``: degrees the query picture is known to be rotated by (a deskewed region,
        verified unturned), allowed on top of `MAX_ROTATION`."""
        most = MAX_ROTATION + abs(turned)
        return abs(self.rotation) <= most and MIN_SCALE <= self.scale <= MAX_SCALE


_EMPTY = Features(np.zeros((0, 2), np.float32), np.zeros((0, _DESCRIPTOR), np.float32))
_NONE = Verification(0, 0, 0.0, 0.0)


def fit_within(rgb: RgbArray, side: int) -> RgbArray:
    """``rgb`` shrunk (area-averaged) to fit within ``side`` x ``side``; smaller ones as is."""
    height, width = rgb.shape[:2]
    scale = side / max(height, width)
    if scale >= 1.0:
        return rgb
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.ascontiguousarray(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA))


def extract(rgb: RgbArray, *, most: int = MAX_KEYPOINTS, fitted: bool = False) -> Features:
    """SIFT features of ``rgb`` (uint8 H x W x 3) fitted within `SIDE` (``fitted``: already
    fitted), at most ``most`` keypoints, strongest first."""
    pixels = rgb if fitted else fit_within(rgb, SIDE)
    grey = cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2GRAY)
    keypoints, descriptors = cv2.SIFT.create(nfeatures=max(1, most)).detectAndCompute(grey, None)
    if descriptors is None or not keypoints:
        return _EMPTY
    order = np.argsort([-k.response for k in keypoints], kind="stable")[:most]
    points = np.array([keypoints[i].pt for i in order], np.float32).reshape(-1, 2)
    return Features(points, np.asarray(descriptors, np.float32)[order])


def verify(query: Features, reference: Features) -> Verification:
    """RANSAC similarity between ratio-test matches of ``query`` and ``reference``."""
    if len(query) < 2 or len(reference) < 2:
        return _NONE
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(query.descriptors, reference.descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    if len(good) < 3:
        return Verification(0, len(good), 0.0, 0.0)
    src = query.points[[m.queryIdx for m in good]]
    dst = reference.points[[m.trainIdx for m in good]]
    matrix, mask = cv2.estimateAffinePartial2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=RANSAC_PIXELS
    )
    if matrix is None or mask is None:
        return Verification(0, len(good), 0.0, 0.0)
    scale = math.hypot(float(matrix[0, 0]), float(matrix[1, 0]))
    rotation = math.degrees(math.atan2(float(matrix[1, 0]), float(matrix[0, 0])))
    return Verification(int(np.count_nonzero(mask)), len(good), scale, rotation)


# --------------------------------------------------------------------------------------------
# What a bank keeps


def pack(features: Features) -> bytes:
    """``features`` as kind `KIND`: header, float16 points, uint8 descriptors (no pixels)."""
    n = len(features)
    if n > 0xFFFF:
        raise ValueError(f"{n} keypoints: at most 65535 are packed")
    points = features.points.astype(np.float16).tobytes()
    descriptors = np.clip(np.rint(features.descriptors), 0, 255).astype(np.uint8).tobytes()
    return _HEADER.pack(_MAGIC, n, SIDE) + points + descriptors


def unpack(data: bytes) -> Features:
    """The `Features` of a `pack` result; raises `ValidationError` for other bytes."""
    if len(data) < _HEADER.size:
        raise ValidationError("local features: too short")
    magic, n, _side = _HEADER.unpack_from(data)
    if magic != _MAGIC or len(data) != _HEADER.size + n * (4 + _DESCRIPTOR):
        raise ValidationError("local features: not a packed sift512-v1 record")
    start = _HEADER.size
    points = np.frombuffer(data, np.float16, n * 2, start).astype(np.float32).reshape(n, 2)
    start += n * 4
    descriptors = np.frombuffer(data, np.uint8, n * _DESCRIPTOR, start)
    return Features(points, descriptors.astype(np.float32).reshape(n, _DESCRIPTOR))


def packed_size(keypoints: int) -> int:
    """Bytes `pack` writes for ``keypoints`` keypoints."""
    return _HEADER.size + keypoints * (4 + _DESCRIPTOR)


def picture_features(picture: Image.Image, *, most: int) -> bytes:
    """The packed features of a decoded RGB picture, as a bank keeps them."""
    return pack(extract(_fitted(picture, None), most=most, fitted=True))


# --------------------------------------------------------------------------------------------
# The query side

#: How the pixels of a query are turned so that a match of PDQ's dihedral variant
#: (`vangnet.signals.pdq.TRANSFORMS`) shows the banked picture's orientation: the variant's
#: hash of a picture is (nearly) the PDQ of the picture turned by this.
_TURN: dict[str, Callable[[RgbArray], RgbArray]] = {
    "identity": lambda a: a,
    "rot90": lambda a: np.rot90(a, 1),
    "rot180": lambda a: np.rot90(a, 2),
    "rot270": lambda a: np.rot90(a, -1),
    "flip": lambda a: a[::-1],
    "mirror": lambda a: a[:, ::-1],
    "rot90_flip": lambda a: a.transpose(1, 0, 2),
    "rot90_mirror": lambda a: np.rot90(a, 2).transpose(1, 0, 2),
}


def dihedral_part(transform: str | None) -> str:
    """The dihedral turn a match's ``transform`` names: a deskewed region's
    ``rotate(-4.0)`` or ``rotate(-4.0)+mirror`` (`vangnet.signals.regions`) keeps only the
    part after the small rotation, which local features take in their stride (a rotation up
    to `MAX_ROTATION` is plausible)."""
    if transform is None:
        return "identity"
    if transform.startswith("rotate("):
        _, plus, rest = transform.partition(")+")
        return rest if plus else "identity"
    return transform


def turned_by(transform: str | None) -> float:
    """Degrees a deskewed region's ``rotate(A)...`` transform turned its picture back by
    (0.0 for any other transform)."""
    if transform is None or not transform.startswith("rotate("):
        return 0.0
    inside = transform[len("rotate(") :].partition(")")[0]
    try:
        return float(inside)
    except ValueError:
        return 0.0


def turn(rgb: RgbArray, transform: str | None) -> RgbArray:
    """``rgb`` turned as the dihedral ``transform`` names (identity when None; a deskewed
    region's small rotation is left to the features, `dihedral_part`)."""
    step = _TURN.get(dihedral_part(transform))
    if step is None:
        raise ValueError(f"unknown transform {transform!r}")
    return np.ascontiguousarray(step(rgb))


#: The dihedral turns that show a mirror image of the picture (`QueryPicture.features`).
_MIRRORED = frozenset({"flip", "mirror", "rot90_flip", "rot90_mirror"})


def _mirror_order() -> npt.NDArray[np.intp]:
    """The order of a SIFT descriptor's 128 values that makes it the descriptor of the same
    keypoint in the mirrored picture: OpenCV lays a descriptor out as 4 x 4 cells (rows
    across the keypoint's orientation, columns along it) of 8 orientation bins; mirroring
    reverses the rows and turns every bin's angle to its negative (measured:
    tests/signals/test_features.py)."""
    cells = np.arange(_DESCRIPTOR).reshape(4, 4, 8)
    return cells[::-1][:, :, (8 - np.arange(8)) % 8].reshape(-1)


_MIRROR_ORDER = _mirror_order()


def moved_points(
    points: npt.NDArray[np.float32], shape: tuple[int, int], base: str, part: str
) -> npt.NDArray[np.float32]:
    """Keypoint positions (x, y) of a picture of ``shape`` (height, width) turned by the
    dihedral ``base``, moved to where they sit in the same picture turned by ``part``: each
    dihedral turn is a permutation of the pixel grid, so the move is an exact affine map."""
    matrix = _move(shape, base, part)
    moved = points.astype(np.float64) @ matrix[:, :2].T + matrix[:, 2]
    return np.ascontiguousarray(moved, dtype=np.float32).reshape(-1, 2)


@functools.lru_cache(maxsize=256)
def _move(shape: tuple[int, int], base: str, part: str) -> npt.NDArray[np.float64]:
    """The affine map of `moved_points`, from where three corners of the picture go: each
    turn is applied to a 2 x 2 picture of corner labels (where each corner goes) and to a
    2 x 3 one (whether it swaps width and height)."""
    height, width = shape
    labels = cast(RgbArray, np.arange(4, dtype=np.uint8).reshape(2, 2, 1))
    probe = cast(RgbArray, np.zeros((2, 3, 1), dtype=np.uint8))

    def corners(turn_name: str) -> dict[int, tuple[float, float]]:
        turned = _TURN[turn_name](labels)[..., 0]
        swapped = _TURN[turn_name](probe).shape[0] != 2
        w, h = (height, width) if swapped else (width, height)
        return {
            int(turned[r, c]): (float(c * (w - 1)), float(r * (h - 1)))
            for r in (0, 1)
            for c in (0, 1)
        }

    before, after = corners(base), corners(part)
    src = np.array([before[k] for k in (0, 1, 2)], np.float32)
    dst = np.array([after[k] for k in (0, 1, 2)], np.float32)
    return np.asarray(cv2.getAffineTransform(src, dst), dtype=np.float64)


def _fitted(
    picture: Image.Image, box: tuple[float, float, float, float] | None, side: int = SIDE
) -> RgbArray:
    """``box`` of ``picture`` (all of it when None) fitted within ``side``, without a
    full-size copy of the box (Pillow resizes from the box directly)."""
    if picture.mode != "RGB":
        picture = picture.convert("RGB")
    x0, y0, x1, y1 = box or (0.0, 0.0, float(picture.width), float(picture.height))
    width, height = max(1.0, x1 - x0), max(1.0, y1 - y0)
    scale = min(1.0, side / max(width, height))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if scale == 1.0 and box is None:
        return np.asarray(picture, dtype=np.uint8)
    fitted = picture.resize(size, Image.Resampling.BILINEAR, box=(x0, y0, x1, y1), reducing_gap=2.0)
    return np.asarray(fitted, dtype=np.uint8)


class QueryPicture:
    """A query photo's decoded picture, kept in memory from hashing to matching so that
    candidates of the wider net can be verified (never written anywhere).

    ``side``: each box is fitted within it before its keypoints are found (`QUERY_SIDE`).
    ``size`` is the photo's own (width, height) when the picture was decoded at a reduced
    size: region boxes (`vangnet.signals.regions.RegionHash.box`) are in those pixels.
    ``whole``: the box (in those pixels) that the picture's own hash covers, when not all of
    it (a video frame whose bars were cropped before hashing): a candidate of the whole
    picture is verified on that box. `features` are computed on first use, per box and
    dihedral transform, and cached. ``prefetch``: told (`prefetch`) that the picture will
    be needed soon, so that a source making several pictures (the sampled frames of a
    video, `vangnet.signals.frame_pictures`) makes them together. Pickled (a worker process
    handing a result back), it carries a copy reduced to fit `KEEP_SIDE`, not the full
    picture; one still to be made by a loader marked ``picklable`` carries the loader."""

    KEEP_SIDE = 1024

    def __init__(
        self,
        picture: Image.Image | Callable[[], Image.Image],
        size: tuple[int, int] | None = None,
        *,
        whole: Box | None = None,
        prefetch: Callable[[], None] | None = None,
        side: int = QUERY_SIDE,
    ) -> None:
        self.side = side
        if isinstance(picture, Image.Image):
            self._picture: Image.Image | None = picture
            self._load: Callable[[], Image.Image] | None = None
            self.size = size or picture.size
        else:  # made on first use (a live sample's frame, scaled only when a candidate needs it)
            if size is None:
                raise ValueError("a picture made on first use needs its size")
            self._picture, self._load = None, picture
            self.size = size
        self.whole = whole
        self._prefetch = prefetch
        self._cache: dict[tuple[Box | None, str], Features] = {}
        self._shapes: dict[Box | None, tuple[int, int]] = {}  # each box's fitted (h, w)
        #: CPU seconds (this thread's) spent on this picture's features and checks
        self.spent = 0.0
        #: SIFT extractions made of this picture (one per box a candidate needed)
        self.extractions = 0

    @property
    def picture(self) -> Image.Image:
        """The decoded picture (made now if it was given as a function)."""
        if self._picture is None:
            assert self._load is not None
            self._picture, self._load = self._load(), None
        return self._picture

    def prefetch(self) -> None:
        """Say that the picture will be needed (nothing when it is already made or its
        maker does not group pictures)."""
        if self._picture is None and self._prefetch is not None:
            self._prefetch()

    def confirm(
        self, box: Box | None, transform: str | None, reference: Features, *, most: int
    ) -> Verification:
        """`verify` of this picture's `features` (``box``, ``transform``) against a banked
        ``reference``; the CPU time it takes is added to `spent`."""
        began = time.thread_time()
        try:
            return verify(self.features(box, transform, most=most), reference)
        finally:
            self.spent += time.thread_time() - began

    def features(self, box: Box | None, transform: str | None, *, most: int) -> Features:
        """Features of ``box`` (in the photo's own pixels; `whole`, else the whole photo,
        when None) turned by ``transform``, fitted within `side`."""
        part = dihedral_part(transform)
        cached = self._cache.get((box, part))
        if cached is not None:
            return cached
        upright = self._cache.get((box, "identity"))
        if upright is None:  # one SIFT extraction per box: every dihedral turn follows from it
            within = None
            kept = box or self.whole
            if kept is not None:
                fx = self.picture.width / self.size[0]
                fy = self.picture.height / self.size[1]
                within = (kept.x * fx, kept.y * fy, (kept.x + kept.w) * fx, (kept.y + kept.h) * fy)
            pixels = _fitted(self.picture, within, self.side)
            self._shapes[box] = (int(pixels.shape[0]), int(pixels.shape[1]))
            upright = extract(pixels, most=most, fitted=True)
            self._cache[(box, "identity")] = upright
            self.extractions += 1
        if part == "identity":
            return upright
        # SIFT keypoints turn with the picture and each descriptor is measured in its own
        # keypoint's orientation: a quarter turn moves the points only; a mirror image also
        # reorders each descriptor (`_MIRROR_ORDER`)
        points = moved_points(upright.points, self._shapes[box], "identity", part)
        descriptors = upright.descriptors
        if part in _MIRRORED:
            descriptors = np.ascontiguousarray(descriptors[:, _MIRROR_ORDER])
        cached = self._cache[(box, part)] = Features(points, descriptors)
        return cached

    def __reduce__(self) -> tuple[Any, ...]:
        if self._picture is None and getattr(self._load, "picklable", False):
            return (_made_later, (self._load, self.size, self.whole, self._prefetch, self.side))
        picture = self.picture
        block = max(1, math.ceil(max(picture.size) / self.KEEP_SIDE))
        small = picture.reduce(block) if block > 1 else picture.copy()
        return (_made_later, (small, self.size, self.whole, None, self.side))


def _made_later(
    picture: Image.Image | Callable[[], Image.Image],
    size: tuple[int, int],
    whole: Box | None,
    prefetch: Callable[[], None] | None,
    side: int = QUERY_SIDE,
) -> QueryPicture:
    """A pickled `QueryPicture` made again."""
    return QueryPicture(picture, size, whole=whole, prefetch=prefetch, side=side)
