"""Conformance kit for frame classifiers: run it on your classifier plug-in.

Usage, in a test of your package::

    from vangnet.live.classifier_conformance import ClassifierCases, check_classifier

    def test_my_classifier_conforms() -> None:
        check_classifier(MyClassifier, ClassifierCases(low=[drawn_landscape]))

`check_classifier` raises `AssertionError` naming the first rule broken: the registry
accepts the class (a `FrameClassifier` with a name, a lower-case identifier); it can be built
without arguments; on every picture of the kit (black, white, a gradient, seeded noise; tiny,
wide, tall and the largest size the monitor passes, 512 px on a side) ``score`` returns a
float in 0-1 within ``seconds``, the same float for the same pixels, and leaves the pixels
as they were; ``high`` pictures score at least ``threshold`` and ``low`` ones below it.
A classifier only orders the review queue; the kit checks it is well-behaved, not that
it is right.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vangnet.live.classifiers import FrameClassifier, as_classifier

Pixels = npt.NDArray[np.uint8]

_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass(frozen=True)
class ClassifierCases:
    """The case table of one classifier: RGB ``uint8`` arrays (height, width, 3)."""

    high: Sequence[Pixels] = ()  # pictures that must score >= threshold
    low: Sequence[Pixels] = ()  # pictures that must score < threshold
    threshold: float = 0.5
    seconds: float = 2.0  # longest a score may take on the kit's pictures


def kit_pictures() -> list[Pixels]:
    """The kit's benign pictures: flat, gradient and seeded noise, in several shapes."""
    rng = np.random.default_rng(11)
    gradient = np.linspace(0, 255, 512, dtype=np.float64).astype(np.uint8)
    return [
        np.zeros((288, 512, 3), np.uint8),
        np.full((512, 288, 3), 255, np.uint8),
        np.stack([np.tile(gradient, (512, 1))] * 3, axis=-1),
        rng.integers(0, 256, (200, 300, 3), dtype=np.uint8),
        np.zeros((1, 1, 3), np.uint8),
    ]


def _fail(cls: type[FrameClassifier], message: str) -> AssertionError:
    return AssertionError(f"classifier {getattr(cls, 'name', cls)!r}: {message}")


def check_classifier(cls: type[FrameClassifier], cases: ClassifierCases | None = None) -> None:
    """Check ``cls`` against the classifier contract with ``cases``."""
    cases = cases or ClassifierCases()
    try:
        as_classifier(cls, repr(cls))
    except Exception as error:
        raise _fail(cls, f"the registry refuses it: {error}") from error
    if not _NAME.fullmatch(cls.name):
        raise _fail(cls, "name must be a lower-case identifier of at most 64 characters")
    try:
        classifier = cls()
    except Exception as error:
        raise _fail(cls, f"cannot be built without arguments: {error!r}") from error

    def score(pixels: Pixels) -> float:
        before = pixels.copy()
        started = time.monotonic()
        try:
            value = classifier.score(pixels)
        except Exception as error:
            raise _fail(cls, f"score raised {error!r} on a {pixels.shape} picture") from error
        if time.monotonic() - started > cases.seconds:
            raise _fail(cls, f"score took longer than {cases.seconds:g} s")
        if not np.array_equal(before, pixels):
            raise _fail(cls, "score changed the pixels it was given")
        if isinstance(value, bool) or not isinstance(value, float | int) or not 0 <= value <= 1:
            raise _fail(cls, f"score gave {value!r}, not a number in 0-1")
        return float(value)

    for pixels in [*kit_pictures(), *cases.high, *cases.low]:
        if score(pixels) != score(pixels.copy()):
            raise _fail(cls, "score is not the same for the same pixels")
    for pixels in cases.high:
        if score(pixels) < cases.threshold:
            raise _fail(cls, f"a high picture scored below {cases.threshold}")
    for pixels in cases.low:
        if score(pixels) >= cases.threshold:
            raise _fail(cls, f"a low picture scored {cases.threshold} or more")
