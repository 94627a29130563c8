"""Scoring pictures with the enabled classifiers: every caller (live samples, `vangnet
classify`, ``POST /v1/classify``) goes through `score_pictures`.

Each classifier gets the pictures downsized to its `Classifier.max_side` and in batches of its
`Classifier.batch_size`. A classifier that fails on a batch (raises, returns the wrong number
of scores, or a value outside 0-1) is logged and counted (`failure_counts`), and each picture
of that batch gets an error entry for it instead of a score: a failure is never fatal to the
caller and never silent.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from PIL import Image

from vangnet.signals.classifiers.base import Classifier, Pixels, Score

log = logging.getLogger(__name__)

_failures: Counter[str] = Counter()
_failures_lock = threading.Lock()


@dataclass
class Reading:
    """What the classifiers made of one picture: a `Score` per classifier that scored it,
    and why each one that failed did not (classifier name -> message)."""

    scores: dict[str, Score] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def values(self) -> dict[str, float]:
        """Classifier name -> value, rounded to 4 places (what events and cases keep)."""
        return {name: round(score.value, 4) for name, score in self.scores.items()}

    def summaries(self) -> dict[str, str]:
        """Classifier name -> its one-line summary."""
        return {name: score.summary for name, score in self.scores.items() if score.summary}

    def as_json(self) -> dict[str, Any]:
        return {
            "scores": [score.as_json() for score in self.scores.values()],
            "errors": [{"classifier": n, "message": m} for n, m in self.errors.items()],
        }


def fit(picture: Pixels, max_side: int) -> Pixels:
    """``picture`` itself when no side is longer than ``max_side``, else a downsized copy
    (aspect kept, Pillow's antialiasing bilinear filter)."""
    height, width = picture.shape[:2]
    longest = max(height, width)
    if longest <= max_side:
        return picture
    scale = max_side / longest
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    small = Image.fromarray(picture).resize(size, Image.Resampling.BILINEAR)
    return np.asarray(small, dtype=np.uint8)


def _count_failure(name: str, pictures: int) -> None:
    with _failures_lock:
        _failures[name] += pictures


def failure_counts() -> dict[str, int]:
    """Pictures each classifier failed to score in this process, by classifier name."""
    with _failures_lock:
        return dict(_failures)


def _checked(classifier: Classifier, scores: object, expected: int) -> list[Score]:
    if not isinstance(scores, list) or len(scores) != expected:
        got = len(scores) if isinstance(scores, list) else type(scores).__name__
        raise ValueError(f"returned {got} scores for {expected} pictures")
    for score in scores:
        if not isinstance(score, Score):
            raise ValueError(f"returned {type(score).__name__}, not a Score")
        if not (isinstance(score.value, float | int) and 0.0 <= score.value <= 1.0):
            raise ValueError(f"gave {score.value!r}, not a value in 0-1")
        if not math.isfinite(score.value):
            raise ValueError(f"gave {score.value!r}, not a value in 0-1")
    return scores


def score_pictures(pictures: Sequence[Pixels], classifiers: Sequence[Classifier]) -> list[Reading]:
    """One `Reading` per picture, in order: every classifier's `Score`, or its error."""
    readings = [Reading() for _ in pictures]
    for classifier in classifiers:
        fitted = [fit(p, classifier.max_side) for p in pictures]
        step = max(1, classifier.batch_size)
        for start in range(0, len(fitted), step):
            chunk = fitted[start : start + step]
            try:
                scores = _checked(classifier, classifier.score_many(chunk), len(chunk))
            except Exception as error:
                _count_failure(classifier.name, len(chunk))
                log.exception("classifier %s failed on %d pictures", classifier.name, len(chunk))
                message = f"{type(error).__name__}: {error}"
                for reading in readings[start : start + step]:
                    reading.errors[classifier.name] = message
                continue
            for k, (reading, score) in enumerate(
                zip(readings[start : start + step], scores, strict=True), start
            ):
                reading.scores[classifier.name] = in_pixels_of(score, fitted[k], pictures[k])
    return readings


def in_pixels_of(score: Score, fitted: Pixels, picture: Pixels) -> Score:
    """``score`` with its evidence boxes (found on ``fitted``, the picture downsized to the
    classifier's ``max_side``) in the pixels of ``picture`` as given."""
    return placed(score, fitted.shape[:2], picture.shape[:2])


def placed(
    score: Score,
    scored: tuple[int, ...],
    original: tuple[int, ...],
    origin: tuple[int, int] = (0, 0),
) -> Score:
    """``score`` with its evidence boxes, found on a picture of shape ``scored`` (height,
    width), in the pixels of the picture it was taken from: one of shape ``original``
    whose top-left corner sits at ``origin`` (x, y) in the picture as decoded (a video
    frame with its black bars cropped off)."""
    same = tuple(scored[:2]) == tuple(original[:2]) and origin == (0, 0)
    if same or not any(e.box for e in score.evidence):
        return score
    sy = original[0] / max(1, scored[0])
    sx = original[1] / max(1, scored[1])
    ox, oy = origin
    evidence = tuple(
        e
        if e.box is None
        else replace(
            e,
            box=(
                ox + round(e.box[0] * sx),
                oy + round(e.box[1] * sy),
                round(e.box[2] * sx),
                round(e.box[3] * sy),
            ),
        )
        for e in score.evidence
    )
    return replace(score, evidence=evidence)
