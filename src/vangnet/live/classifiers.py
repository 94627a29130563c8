"""The classifier hook: plug-ins that score each sampled live frame.

No classifier ships with Vangnet (they come later, and each needs its own review); this is
the interface and the registry. A classifier is a `FrameClassifier` subclass registered under
the entry-point group ``vangnet.classifiers`` (loaded like every plug-in point by
`vangnet.plugins.Registry`: one that fails to load is reported, not fatal); the monitor runs
every installed one on every sample that has pixels (hash-only pushes have none) and reports
the scores on the sample's ``match`` and ``alert`` events and in the stream's figures, where
the review queue can use them as one more reason to look sooner. Scores never raise an alert
on their own. Conformance kit: `vangnet.live.classifier_conformance`.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from functools import cache
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from vangnet.plugins import PluginError, Registry, subclass_check

log = logging.getLogger(__name__)

GROUP = "vangnet.classifiers"


class ClassifierError(PluginError):
    """A classifier plug-in is broken or its name is taken."""


class FrameClassifier(ABC):
    """Scores one frame: 0.0 (nothing of interest) to 1.0 (certainly of interest)."""

    name: ClassVar[str]
    description: ClassVar[str] = ""

    @abstractmethod
    def score(self, pixels: npt.NDArray[np.uint8]) -> float:
        """``pixels``: RGB, at most 512 px on a side, black bars cropped."""


#: ``cls`` as a classifier class, or `ClassifierError` saying why it is not one.
as_classifier: Callable[[object, str], type[FrameClassifier]] = subclass_check(
    FrameClassifier, error=ClassifierError
)


REGISTRY: Registry[type[FrameClassifier]] = Registry(
    GROUP, what="classifier", check=as_classifier, error=ClassifierError
)


def classifier_types() -> dict[str, type[FrameClassifier]]:
    """Every installed classifier class by name (those that loaded)."""
    return REGISTRY.loaded()


def failed_classifiers() -> dict[str, str]:
    """Classifier plug-ins that failed to load: entry-point name -> why."""
    return REGISTRY.failed()


@cache
def installed_classifiers() -> tuple[FrameClassifier, ...]:
    """One instance of every installed classifier (checked: unique names). One whose
    constructor fails is logged and left out, like one that fails to load."""
    found: list[FrameClassifier] = []
    for name, cls in classifier_types().items():
        try:
            found.append(cls())
        except Exception:
            log.exception("classifier %s could not be started", name)
    return tuple(found)


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
