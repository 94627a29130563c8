"""The priority signal: the classifiers' scores of one picture (or the highest per classifier
of a video, a stream or a case) fused into one explainable likelihood that it is new material
a person should look at first.

It is never a verdict. It orders queues and raises review-now alerts; it never confirms,
reports or banks anything.

How the parts combine (each part is the highest value of the classifiers that measure it):

- ``sexual_content`` *s* (open-nsfw, NudeNet): how sexual the picture is, of anyone;
- ``apparent_age`` *m* (faces): the probability that the youngest visible face is under 18,
  0 when no face was found or no age classifier ran;
- ``abuse_material`` *a*: a classifier trained for the material itself (a licensed one such
  as Thorn's Safer Predict), when a deployment has one; any other measure (a plug-in's own,
  or a classifier no longer installed) counts the same way.

``value = max(a, s * (prior + (1 - prior) * m))`` with ``prior`` the setting
``classifier_minor_prior`` (0.5): a sexual picture with no readable face keeps half its
score (most abuse material shows no frontal face, so a missing face must not hide it), one
whose youngest face reads as a minor keeps all of it. A face alone never raises the value:
an everyday photo of children is not a reason to look first.

``likely`` (the "likely new material" views, the review-now rule): some classifier measuring
``sexual_content`` or ``abuse_material`` is at or above its threshold (the setting
``classifier_thresholds``, else the deployment's stored calibration, else the classifier's
``default_threshold``).

The ``summary`` names each part and the classifier it came from, e.g. ``"nudity 0.91
(opennsfw); 2 faces, youngest apparent age 6-9 (faces): priority 0.84"``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from vangnet.config import Settings
from vangnet.signals.classifiers.base import Classifier, Score

SEXUAL_CONTENT = "sexual_content"
APPARENT_AGE = "apparent_age"
ABUSE_MATERIAL = "abuse_material"

#: what a classifier not installed here (a case scored by a plug-in since removed) measures
OTHER = "other"

#: the measures that can make a picture "likely" on their own
LIKELY_MEASURES = (SEXUAL_CONTENT, ABUSE_MATERIAL)

_WORDS = {SEXUAL_CONTENT: "nudity", APPARENT_AGE: "apparent minor", ABUSE_MATERIAL: "abuse"}


@dataclass(frozen=True)
class Part:
    """One part of the fused value: what it ``measures``, its ``value`` and the
    ``classifier`` it came from (the highest of those measuring it)."""

    measures: str
    classifier: str
    value: float
    summary: str

    def as_json(self) -> dict[str, Any]:
        return {
            "measures": self.measures,
            "classifier": self.classifier,
            "value": round(self.value, 4),
            "summary": self.summary,
        }


@dataclass(frozen=True)
class Fused:
    """The priority signal of one picture, file, stream or case."""

    value: float = 0.0
    likely: bool = False
    parts: tuple[Part, ...] = ()
    summary: str = ""

    def as_json(self) -> dict[str, Any]:
        """``{"value", "likely", "summary", "parts": [...]}`` (a contract: API, events,
        webhooks and exports use these names)."""
        return {
            "value": round(self.value, 4),
            "likely": self.likely,
            "summary": self.summary,
            "parts": [p.as_json() for p in self.parts],
        }


@dataclass(frozen=True)
class Fusion:
    """How one deployment fuses scores: what each classifier ``measures`` (name -> measure;
    an unknown name is ignored), each one's ``thresholds`` for "likely", and the
    ``minor_prior`` (see the module's text)."""

    measures: Mapping[str, str]
    thresholds: Mapping[str, float] = field(default_factory=dict)
    minor_prior: float = 0.5

    @classmethod
    def of(
        cls,
        types: Mapping[str, type[Classifier]] | None = None,
        *,
        thresholds: Mapping[str, float] | None = None,
        minor_prior: float = 0.5,
    ) -> Fusion:
        """The fusion of the installed classifier ``types`` (default: every one that
        loaded; their class variables only, no model is started), each at its
        ``default_threshold`` unless ``thresholds`` names it."""
        if types is None:
            from vangnet.signals.classifiers.base import classifier_types

            types = classifier_types()
        given = dict(thresholds or {})
        return cls(
            measures={name: t.measures for name, t in types.items()},
            thresholds={name: given.get(name, t.default_threshold) for name, t in types.items()},
            minor_prior=minor_prior,
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        types: Mapping[str, type[Classifier]] | None = None,
        calibrated: Mapping[str, float] | None = None,
    ) -> Fusion:
        """The deployment's fusion: thresholds from ``classifier_thresholds``, else from
        ``calibrated`` (the stored calibration), else each classifier's default; the prior
        from ``classifier_minor_prior``."""
        thresholds = {**dict(calibrated or {}), **dict(settings.classifier_thresholds)}
        return cls.of(types, thresholds=thresholds, minor_prior=settings.classifier_minor_prior)

    def threshold(self, name: str) -> float:
        return float(self.thresholds.get(name, 0.5))

    def fuse(
        self,
        values: Mapping[str, float | Score],
        summaries: Mapping[str, str] | None = None,
    ) -> Fused:
        """The priority signal of ``values`` (classifier name -> its value, or its `Score`,
        whose summary is then used). ``summaries``: classifier name -> its one-line summary,
        for values given as plain numbers (a case keeps only numbers)."""
        texts = dict(summaries or {})
        best: dict[str, Part] = {}
        likely = False
        for name, given in values.items():
            measure = self.measures.get(name) or (
                given.measures if isinstance(given, Score) else OTHER
            )
            if isinstance(given, Score):
                value, text = float(given.value), given.summary or texts.get(name, "")
            else:
                value, text = float(given), texts.get(name, "")
            value = max(0.0, min(1.0, value))
            if measure in LIKELY_MEASURES and value >= self.threshold(name):
                likely = True
            current = best.get(measure)
            if current is None or value > current.value:
                best[measure] = Part(measure, name, value, text)
        s = best[SEXUAL_CONTENT].value if SEXUAL_CONTENT in best else 0.0
        m = best[APPARENT_AGE].value if APPARENT_AGE in best else 0.0
        prior = max(0.0, min(1.0, self.minor_prior))
        value = s * (prior + (1.0 - prior) * m)
        for measure, part in best.items():
            if measure not in (SEXUAL_CONTENT, APPARENT_AGE):
                value = max(value, part.value)
        order = {ABUSE_MATERIAL: 0, SEXUAL_CONTENT: 1, APPARENT_AGE: 3}
        parts = tuple(sorted(best.values(), key=lambda p: (order.get(p.measures, 2), p.measures)))
        return Fused(value, likely, parts, _summary(parts, value))


def _summary(parts: tuple[Part, ...], value: float) -> str:
    if not parts:
        return ""
    said = []
    for part in parts:
        if part.measures not in _WORDS and not part.summary:
            said.append(f"{part.classifier} {part.value:.2f}")
            continue
        text = part.summary or f"{_WORDS.get(part.measures, part.measures)} {part.value:.2f}"
        said.append(text if text.endswith(")") else f"{text} ({part.classifier})")
    return f"{'; '.join(said)}: priority {value:.2f}"
