"""Conformance kit for classifier plug-ins: run it on your classifier.

Usage, in a test of your package::

    from vangnet.signals.classifiers.conformance import ClassifierCases, check_classifier

    def test_my_classifier_conforms() -> None:
        check_classifier(MyClassifier, ClassifierCases(low=[drawn_landscape]))

`check_classifier` raises `AssertionError` naming the first rule broken: the registry
accepts the class (a `Classifier` with a name that is a lower-case identifier, a version,
what it measures); it can be built without arguments; on the kit's pictures (black, white,
a gradient, seeded noise; tiny, wide, tall and the largest size callers pass,
`Classifier.max_side` on a side) and the case table's, ``score_many`` returns one `Score`
per picture, of this classifier, with a value in 0-1, evidence scores in 0-1 and evidence
boxes inside the picture given (in its pixels, not a resized copy's), within ``seconds``
per picture; the same scores for the same pixels; the same scores in one batch
as one by one; and it leaves the pictures as they were. ``high`` pictures score at least
``threshold`` and ``low`` ones below it. A classifier only orders the review queue: the kit
checks it is well-behaved, not that it is right.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vangnet.config import Settings
from vangnet.signals.classifiers.base import Classifier, Pixels, Score, as_classifier

_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass(frozen=True)
class ClassifierCases:
    """The case table of one classifier: RGB ``uint8`` arrays (height, width, 3)."""

    high: Sequence[Pixels] = ()  # pictures that must score >= threshold
    low: Sequence[Pixels] = ()  # pictures that must score < threshold
    threshold: float = 0.5
    seconds: float = 2.0  # longest one picture may take on the kit's pictures
    #: how far a picture's value may differ between a batch and one by one (batched
    #: inference may round differently; 0 demands the very same float)
    batch_tolerance: float = 1e-4


def kit_pictures(max_side: int = 512) -> list[Pixels]:
    """The kit's benign pictures: flat, gradient and seeded noise, in several shapes, the
    largest ``max_side`` on its longer side."""
    rng = np.random.default_rng(11)
    side = max(2, max_side)
    gradient = np.linspace(0, 255, side, dtype=np.float64).astype(np.uint8)
    return [
        np.zeros((max(1, side * 9 // 16), side, 3), np.uint8),
        np.full((side, max(1, side * 9 // 16), 3), 255, np.uint8),
        np.stack([np.tile(gradient, (side, 1))] * 3, axis=-1),
        rng.integers(0, 256, (min(side, 200), min(side, 300), 3), dtype=np.uint8),
        np.zeros((1, 1, 3), np.uint8),
    ]


def _fail(cls: type[Classifier], message: str) -> AssertionError:
    return AssertionError(f"classifier {getattr(cls, 'name', cls)!r}: {message}")


def _check_class(cls: type[Classifier]) -> None:
    try:
        as_classifier(cls, repr(cls))
    except Exception as error:
        raise _fail(cls, f"the registry refuses it: {error}") from error
    if not _NAME.fullmatch(cls.name):
        raise _fail(cls, "name must be a lower-case identifier of at most 64 characters")
    for attribute in ("version", "measures"):
        value = getattr(cls, attribute, None)
        if not isinstance(value, str) or not value:
            raise _fail(cls, f"{attribute} must be a non-empty string")
    if not (isinstance(cls.max_side, int) and cls.max_side >= 1):
        raise _fail(cls, "max_side must be a positive int")
    if not (isinstance(cls.batch_size, int) and cls.batch_size >= 1):
        raise _fail(cls, "batch_size must be a positive int")


def _check_score(cls: type[Classifier], score: object, picture: Pixels) -> Score:
    if not isinstance(score, Score):
        raise _fail(cls, f"score_many gave {type(score).__name__}, not a Score")
    if score.classifier != cls.name or score.measures != cls.measures:
        raise _fail(cls, "a Score must name its classifier and what it measures")
    value = score.value
    if isinstance(value, bool) or not isinstance(value, float | int):
        raise _fail(cls, f"score_many gave {value!r}, not a number in 0-1")
    if not (math.isfinite(value) and 0 <= value <= 1):
        raise _fail(cls, f"score_many gave {value!r}, not a number in 0-1")
    for evidence in score.evidence:
        if not 0 <= evidence.score <= 1:
            raise _fail(cls, f"evidence {evidence.label!r} scored {evidence.score!r}, not in 0-1")
        if evidence.box is not None:
            _check_box(cls, evidence.label, evidence.box, picture)
    return score


def _check_box(cls: type[Classifier], label: str, box: object, picture: Pixels) -> None:
    """An evidence box is x, y, width, height in whole pixels inside ``picture``."""
    height, width = picture.shape[:2]
    values: list[int] = []
    if isinstance(box, tuple) and len(box) == 4:
        values = [v for v in box if isinstance(v, int) and not isinstance(v, bool)]
    if len(values) != 4:
        raise _fail(cls, f"evidence {label!r} box {box!r} is not 4 ints (x, y, width, height)")
    x, y, w, h = values
    if not (x >= 0 and y >= 0 and w >= 1 and h >= 1 and x + w <= width and y + h <= height):
        raise _fail(
            cls,
            f"evidence {label!r} box {box!r} is not inside the {width}x{height} picture "
            "given (boxes are in the pixels of the picture as given)",
        )


def check_classifier(
    cls: type[Classifier], cases: ClassifierCases | None = None, settings: Settings | None = None
) -> None:
    """Check ``cls`` against the classifier contract with ``cases``, built by its
    `Classifier.from_settings` from ``settings`` (default: the defaults)."""
    cases = cases or ClassifierCases()
    _check_class(cls)
    try:
        classifier = cls.from_settings(
            settings if settings is not None else Settings.model_construct()
        )
    except Exception as error:
        raise _fail(cls, f"cannot be built from its settings: {error!r}") from error

    def score_many(pictures: Sequence[Pixels]) -> list[Score]:
        before = [p.copy() for p in pictures]
        started = time.monotonic()
        try:
            scores = classifier.score_many(pictures)
        except Exception as error:
            shapes = [p.shape for p in pictures]
            raise _fail(cls, f"score_many raised {error!r} on pictures {shapes}") from error
        if time.monotonic() - started > cases.seconds * max(1, len(pictures)):
            raise _fail(cls, f"score_many took longer than {cases.seconds:g} s a picture")
        if not all(np.array_equal(b, p) for b, p in zip(before, pictures, strict=True)):
            raise _fail(cls, "score_many changed the pictures it was given")
        if not isinstance(scores, list) or len(scores) != len(pictures):
            raise _fail(cls, "score_many must return a list of one Score per picture")
        return [_check_score(cls, s, p) for s, p in zip(scores, pictures, strict=True)]

    pictures = [*kit_pictures(cls.max_side), *cases.high, *cases.low]
    if score_many([]) != []:
        raise _fail(cls, "score_many of no pictures must be an empty list")
    alone = [score_many([p])[0] for p in pictures]
    again = [score_many([p.copy()])[0] for p in pictures]
    if [s.value for s in alone] != [s.value for s in again]:
        raise _fail(cls, "score_many is not the same for the same pixels")
    for start in range(0, len(pictures), cls.batch_size):
        chunk = pictures[start : start + cls.batch_size]
        together = score_many(chunk)
        for one, batched in zip(alone[start:], together, strict=False):
            if abs(one.value - batched.value) > cases.batch_tolerance:
                raise _fail(cls, "a picture scores differently in a batch than on its own")
    first = len(pictures) - len(cases.high) - len(cases.low)
    for score in alone[first : first + len(cases.high)]:
        if score.value < cases.threshold:
            raise _fail(cls, f"a high picture scored {score.value:.3f}, below {cases.threshold}")
    for score in alone[first + len(cases.high) :]:
        if score.value >= cases.threshold:
            raise _fail(cls, f"a low picture scored {score.value:.3f}, {cases.threshold} or more")
