"""The classifier hook: plug-ins that score each sampled live frame.

No classifier ships with Vangnet (they come later, and each needs its own review); this is
the interface and the registry. A classifier is a `FrameClassifier` subclass registered under
the entry-point group ``vangnet.classifiers``; the monitor runs every installed one on every
sample that has pixels (hash-only pushes have none) and reports the scores on the sample's
``match`` and ``alert`` events and in the stream's figures, where the review queue can use
them as one more reason to look sooner. Scores never raise an alert on their own.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from functools import cache
from importlib.metadata import entry_points
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from vangnet.errors import VangnetError

log = logging.getLogger(__name__)

GROUP = "vangnet.classifiers"


class ClassifierError(VangnetError):
    code = "plugin_error"


class FrameClassifier(ABC):
    """Scores one frame: 0.0 (nothing of interest) to 1.0 (certainly of interest)."""

    name: ClassVar[str]
    description: ClassVar[str] = ""

    @abstractmethod
    def score(self, pixels: npt.NDArray[np.uint8]) -> float:
        """``pixels``: RGB, at most 512 px on a side, black bars cropped."""


@cache
def installed_classifiers() -> tuple[FrameClassifier, ...]:
    """One instance of every installed classifier (checked: unique names)."""
    found: dict[str, FrameClassifier] = {}
    for ep in sorted(entry_points(group=GROUP), key=lambda e: e.name):
        cls = ep.load()
        if not (isinstance(cls, type) and issubclass(cls, FrameClassifier)):
            raise ClassifierError(f"entry point {ep.name!r} is not a FrameClassifier")
        if cls.name in found:
            raise ClassifierError(f"two classifiers are named {cls.name!r}")
        found[cls.name] = cls()
    return tuple(found.values())


def classify(
    pixels: npt.NDArray[np.uint8], classifiers: tuple[FrameClassifier, ...]
) -> dict[str, float]:
    """Each classifier's score; a classifier that fails is logged and left out."""
    scores: dict[str, float] = {}
    for classifier in classifiers:
        try:
            value = float(classifier.score(pixels))
        except Exception:
            log.exception("classifier %s failed", classifier.name)
            continue
        if 0.0 <= value <= 1.0:
            scores[classifier.name] = round(value, 4)
        else:
            log.warning("classifier %s gave %r, not a score in 0-1", classifier.name, value)
    return scores
