"""The classifier plug-in interface and its registry.

A classifier scores decoded pictures (photos, video frames, live samples, triage items: all
reach it as RGB pixels) in batches. Each picture gets one `Score`: a value in 0-1 for what the
classifier measures (``measures``: ``"sexual_content"``, ``"apparent_age"``, ...), the
`Evidence` behind it (boxes, classes, ages) and a one-line ``summary`` a reviewer can read.

A new classifier is a subclass of `Classifier` of well under 100 lines, registered under the
entry-point group ``vangnet.classifiers`` (built-ins register the same way, in
``pyproject.toml``) or at run time with ``REGISTRY.register``. One that fails to load is
reported by `vangnet plugins`, not fatal; names are unique.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from vangnet.config import Settings
from vangnet.plugins import PluginError, Registry, subclass_check

GROUP = "vangnet.classifiers"

#: One decoded picture: RGB ``uint8``, shape (height, width, 3).
Pixels = npt.NDArray[np.uint8]


class ClassifierError(PluginError):
    """A classifier plug-in is broken (failed to load, to start, or to score) or its name
    is taken."""


@dataclass(frozen=True)
class Evidence:
    """One thing a classifier saw in a picture: a ``label`` (``"face"``, a body-part class,
    ``"nsfw"``) with its own ``score`` in 0-1, where it is (``box``: x, y, width, height in the
    pixels given, or ``None`` for the whole picture), and ``detail`` (JSON-able, e.g.
    ``{"age": [6, 9]}``)."""

    label: str
    score: float
    box: tuple[int, int, int, int] | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"label": self.label, "score": round(self.score, 4)}
        if self.box is not None:
            out["box"] = list(self.box)
        if self.detail:
            out["detail"] = dict(self.detail)
        return out


@dataclass(frozen=True)
class Score:
    """One classifier's reading of one picture: ``value`` in 0-1 (how much of what it
    ``measures`` it sees), the `Evidence` behind it and a ``summary`` sentence
    (``"nudity 0.91 (open-nsfw)"``, ``"2 faces, youngest apparent age 6-9"``)."""

    classifier: str
    version: str
    measures: str
    value: float
    evidence: tuple[Evidence, ...] = ()
    summary: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "classifier": self.classifier,
            "version": self.version,
            "measures": self.measures,
            "value": round(self.value, 4),
            "evidence": [e.as_json() for e in self.evidence],
            "summary": self.summary,
        }


class Classifier(ABC):
    """Scores pictures in batches. Subclasses set the class variables and implement
    `score_many`; the constructor takes no arguments (models load there, once), unless the
    class overrides `from_settings`."""

    #: unique lower-case identifier (the entry point's name)
    name: ClassVar[str]
    #: the model's version: changes whenever its scores could change
    version: ClassVar[str]
    #: what the value measures: "sexual_content", "apparent_age", ... (the fusion reads it)
    measures: ClassVar[str]
    description: ClassVar[str] = ""
    #: the licence of the model's weights and code, as an SPDX expression
    licence: ClassVar[str] = ""
    #: the value at or above which a score counts as "likely" (what a review-now rule and
    #: the benchmark's false-positive rate use); a score below it still orders the queue
    default_threshold: ClassVar[float] = 0.5
    #: the longest side the classifier wants; callers downsize larger pictures to it first
    max_side: ClassVar[int] = 512
    #: how many pictures one `score_many` call should get at most
    batch_size: ClassVar[int] = 16

    @classmethod
    def from_settings(cls, settings: Settings) -> Classifier:
        """The instance a deployment runs. A classifier with settings of its own (a remote
        service's address and key, a detector's threshold) overrides this and
        `settings_key`; the default calls the constructor with no arguments."""
        return cls()

    @classmethod
    def settings_key(cls, settings: Settings) -> Hashable:
        """What of ``settings`` an instance depends on: one instance is built and shared per
        process for each distinct key (default: one instance)."""
        return ()

    @classmethod
    def version_for(cls, settings: Settings) -> str:
        """The `version` an instance built from ``settings`` has (without building one): a
        classifier whose settings change its scores (a detector's threshold) says so in its
        version, so that a calibration measured under other settings is not applied."""
        return cls.version

    @abstractmethod
    def score_many(self, pictures: Sequence[Pixels]) -> list[Score]:
        """One `Score` per picture, in order. Pictures are RGB ``uint8`` (h, w, 3), at most
        `max_side` on a side; they must be left unchanged."""

    def score(self, picture: Pixels) -> Score:
        """`score_many` of one picture."""
        return self.score_many([picture])[0]


#: ``cls`` as a classifier class, or `ClassifierError` saying why it is not one.
as_classifier: Callable[[object, str], type[Classifier]] = subclass_check(
    Classifier, error=ClassifierError
)

REGISTRY: Registry[type[Classifier]] = Registry(
    GROUP, what="classifier", check=as_classifier, error=ClassifierError
)


def classifier_types() -> dict[str, type[Classifier]]:
    """Every installed classifier class by name (those that loaded)."""
    return REGISTRY.loaded()


def failed_classifiers() -> dict[str, str]:
    """Classifier plug-ins that failed to load: entry-point name -> why."""
    return REGISTRY.failed()
