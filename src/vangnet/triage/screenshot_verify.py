"""Check a hash candidate with local features: SIFT keypoints, ratio test, RANSAC.

A screenshot region showing a known frame maps onto it by a similarity (scale and shift,
no rotation to speak of); chrome drawn over the picture only removes some keypoints. Both
pictures are shrunk to fit `VERIFY_SIDE` so the scale is near 1 when the region is the
frame. On the public player screenshots the frame shown gives 55-770 RANSAC inliers and
every other recording 0-6.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from vangnet.signals.pdq import RgbArray
from vangnet.triage.screenshot_library import fit_within

#: Both pictures are shrunk to fit this square before keypoints are found.
VERIFY_SIDE = 512
#: Keypoints kept per picture (strongest first).
MAX_KEYPOINTS = 800
#: Lowe's ratio test: best match distance below this share of the second best.
RATIO = 0.75
#: RANSAC reprojection tolerance, pixels at `VERIFY_SIDE`.
RANSAC_PIXELS = 4.0
#: The fitted similarity must rotate by at most this many degrees ...
MAX_ROTATION = 10.0
#: ... and scale within this range (1.0 = the region is the whole frame).
MIN_SCALE, MAX_SCALE = 0.25, 4.0


@dataclass(frozen=True)
class Features:
    """SIFT keypoint positions (n, 2) and descriptors (n, 128) of a picture."""

    points: npt.NDArray[np.float32]
    descriptors: npt.NDArray[np.float32]

    def __len__(self) -> int:
        return int(self.points.shape[0])


@dataclass(frozen=True)
class Verification:
    """Outcome of matching a query region with a reference picture."""

    inliers: int
    matches: int
    scale: float
    rotation: float  # degrees

    def plausible(self) -> bool:
        """The fitted transform is a near-similarity a screenshot could produce."""
        return abs(self.rotation) <= MAX_ROTATION and MIN_SCALE <= self.scale <= MAX_SCALE


def features(rgb: RgbArray) -> Features:
    grey = cv2.cvtColor(fit_within(rgb, VERIFY_SIDE), cv2.COLOR_RGB2GRAY)
    keypoints, descriptors = cv2.SIFT.create(nfeatures=MAX_KEYPOINTS).detectAndCompute(grey, None)
    if descriptors is None or not keypoints:
        return Features(np.zeros((0, 2), np.float32), np.zeros((0, 128), np.float32))
    points = np.array([k.pt for k in keypoints], np.float32)
    return Features(points, np.asarray(descriptors, np.float32))


_NONE = Verification(0, 0, 0.0, 0.0)


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
