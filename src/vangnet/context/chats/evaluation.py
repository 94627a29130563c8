"""Precision and recall of the chat models on labelled conversations a user supplies.

A conversation is predicted positive when its score is at or above the threshold. Every
figure comes with the confusion counts behind it; a ratio whose denominator is 0 is reported
as 0.0 (no positive predictions: precision 0; no positive labels: recall 0). The lexicon
model's score is its transparent conversation score; the trained model's is its probability,
either from a given model file or cross-validated (stratified k folds: each conversation
scored by a model that never saw it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import StratifiedKFold

from vangnet.context.chats.analysis import ConversationAnalysis
from vangnet.context.chats.classifier import TrainedModel, train
from vangnet.errors import ValidationError

#: The thresholds the precision/recall table reports.
THRESHOLDS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass(frozen=True, slots=True)
class Confusion:
    """Counts of a binary decision against labels, and the ratios from them."""

    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
        }


def confusion(labels: Sequence[int], scores: Sequence[float], threshold: float) -> Confusion:
    """Positive prediction: score >= threshold."""
    tp = fp = fn = tn = 0
    for y, s in zip(labels, scores, strict=True):
        predicted = s >= threshold
        if predicted and y == 1:
            tp += 1
        elif predicted:
            fp += 1
        elif y == 1:
            fn += 1
        else:
            tn += 1
    return Confusion(tp, fp, fn, tn)


@dataclass(frozen=True)
class ModelReport:
    """One model's figures: at its threshold, over `THRESHOLDS`, and per language."""

    model: str
    how: str  # "rules", "model file", "5-fold cross-validation"
    threshold: float
    overall: Confusion
    curve: tuple[tuple[float, Confusion], ...]
    by_language: Mapping[str, Confusion]

    def as_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "how": self.how,
            "threshold": self.threshold,
            **self.overall.as_json(),
            "thresholds": [{"threshold": t, **c.as_json()} for t, c in self.curve],
            "by_language": {k: v.as_json() for k, v in sorted(self.by_language.items())},
        }


def model_report(
    model: str,
    how: str,
    labels: Sequence[int],
    scores: Sequence[float],
    threshold: float,
    languages: Sequence[str | None],
) -> ModelReport:
    by_language: dict[str, Confusion] = {}
    for language in sorted({x for x in languages if x}):
        keep = [i for i, x in enumerate(languages) if x == language]
        by_language[language] = confusion(
            [labels[i] for i in keep], [scores[i] for i in keep], threshold
        )
    return ModelReport(
        model=model,
        how=how,
        threshold=threshold,
        overall=confusion(labels, scores, threshold),
        curve=tuple((t, confusion(labels, scores, t)) for t in THRESHOLDS),
        by_language=by_language,
    )


def cross_validated(
    analyses: Sequence[ConversationAnalysis],
    labels: Sequence[int],
    *,
    folds: int,
    seed: int,
    lexicon_version: str,
) -> list[float]:
    """Each conversation's probability from a model trained on the other folds."""
    y = np.asarray(labels)
    smallest = int(min((y == 1).sum(), (y == 0).sum()))
    if folds < 2:
        raise ValidationError("cross-validation needs at least 2 folds")
    if smallest < folds or smallest * (folds - 1) < 2 * folds:
        raise ValidationError(
            f"{folds}-fold cross-validation needs more labelled conversations: the smaller "
            f"class has {smallest} (need at least {max(folds, 3)} and 2 per class per "
            "training split); give fewer --folds or more data"
        )
    scores = np.zeros(len(labels))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train_idx, test_idx in splitter.split(np.zeros(len(y)), y):
        fitted = train(
            [analyses[i] for i in train_idx],
            [labels[i] for i in train_idx],
            seed=seed,
            lexicon_version=lexicon_version,
        )
        scores[test_idx] = fitted.probabilities([analyses[i] for i in test_idx])
    return [float(s) for s in scores]


def evaluate(
    analyses: Sequence[ConversationAnalysis],
    labels: Sequence[int],
    languages: Sequence[str | None],
    *,
    lexicon_threshold: float,
    lexicon_version: str,
    model: TrainedModel | None = None,
    folds: int = 5,
    seed: int = 0,
) -> list[ModelReport]:
    """The lexicon model's report, then the trained model's (the given one, else
    cross-validated)."""
    if not analyses:
        raise ValidationError("no labelled conversations to evaluate")
    lexicon_scores = [a.score.score for a in analyses]
    reports = [
        model_report("lexicon", "rules", labels, lexicon_scores, lexicon_threshold, languages)
    ]
    if model is not None:
        scores = [float(p) for p in model.probabilities(analyses)]
        reports.append(
            model_report("trained", "model file", labels, scores, model.threshold, languages)
        )
    else:
        scores = cross_validated(
            analyses, labels, folds=folds, seed=seed, lexicon_version=lexicon_version
        )
        reports.append(
            model_report(
                "trained", f"{folds}-fold cross-validation", labels, scores, 0.5, languages
            )
        )
    return reports
