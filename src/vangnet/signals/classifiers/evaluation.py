"""Measuring the classifiers on labelled files the user supplies (`vangnet classifiers
evaluate LABELS.csv`): precision, recall and the threshold that reaches a target precision.

The labels file is CSV, UTF-8, one file a row::

    path,label,measure
    holiday/beach.jpg,negative
    seized/0001.jpg,positive,sexual_content

- ``path``: the file, relative to the folder holding the CSV (or absolute);
- ``label``: ``positive`` or ``negative`` (any case): whether the file shows what is measured;
- ``measure`` (optional): what the label is about: a classifier measure (``sexual_content``,
  ``apparent_age``, ``abuse_material``, ...) or ``priority`` (the fused priority signal).
  A row with a measure counts only for the classifiers measuring it (or, for ``priority``,
  for the priority signal); a row without one counts for every classifier and the priority.

A first row ``path,label`` (or ``path,label,measure``) is a header and is skipped; so are
empty rows and rows whose first cell starts with ``#``. Anything else that does not fit is
refused (`LabelsError`, with its line number) before any file is read.

Files are read and decoded in memory only (they may be suspect media), scored by the
enabled classifiers as `vangnet classify` scores them (a video by its highest frame), and
fused into the priority signal. A file that cannot be decoded is counted and listed; a
classifier that fails on a file is counted per classifier; the figures are computed on the
rest. All figures are from this one labelled set: how well they carry over depends on how
like the deployment's material it is (`Measured.positives` and `Measured.negatives` say how
many labels each figure rests on).
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vangnet.config import Settings
from vangnet.errors import ValidationError, VangnetError
from vangnet.signals.classifiers.base import Classifier
from vangnet.signals.classifiers.fusion import Fusion
from vangnet.signals.classifiers.media import classify_bytes

#: the ``measure`` of a label about the fused priority signal (and the name its figures have)
PRIORITY = "priority"
LABELS = {"positive": True, "negative": False}


class LabelsError(ValidationError):
    """The labels file is malformed (a bad label, a missing file, no positives or no
    negatives, ...): nothing was scored or stored."""

    code = "invalid_labels"


@dataclass(frozen=True)
class Label:
    """One row of the labels file: the ``path`` it names (resolved), whether it is
    ``positive``, the ``measure`` it is about (None: every one) and its ``line``."""

    path: Path
    positive: bool
    measure: str | None
    line: int


@dataclass(frozen=True)
class Labels:
    """The rows of a labels file and the SHA-256 of its bytes (``digest``)."""

    rows: tuple[Label, ...]
    digest: str
    source: str


def read_labels(csv_path: Path, *, measures: Sequence[str] = ()) -> Labels:
    """The labels of ``csv_path``. ``measures``: those a row may name (besides
    ``priority``); empty: any. Raises `LabelsError` (exit code 6) for a file that is not
    as described in the module's text, names a file that does not exist, or has no
    positive or no negative label; `VangnetError` (not found, exit 4) when ``csv_path``
    itself does not exist."""
    try:
        data = csv_path.read_bytes()
    except FileNotFoundError:
        from vangnet.errors import NotFoundError

        raise NotFoundError(f"no such labels file: {csv_path}") from None
    except OSError as exc:
        raise LabelsError(f"cannot read {csv_path}: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LabelsError(f"{csv_path}: not UTF-8 text ({exc.reason})") from None
    folder = csv_path.parent
    allowed = set(measures) | {PRIORITY}
    rows: list[Label] = []
    try:
        for line, cells in enumerate(csv.reader(io.StringIO(text)), start=1):
            cells = [c.strip() for c in cells]
            if not any(cells) or cells[0].startswith("#"):
                continue
            if not rows and [c.lower() for c in cells[:2]] == ["path", "label"]:
                if len(cells) > 3 or (len(cells) == 3 and cells[2].lower() != "measure"):
                    raise LabelsError(f"line {line}: the header is path,label[,measure]")
                continue
            rows.append(_row(cells, line, folder, allowed if measures else None))
    except csv.Error as exc:
        raise LabelsError(f"{csv_path}: not CSV: {exc}") from None
    if not rows:
        raise LabelsError(f"{csv_path} holds no labelled file")
    missing = [r for r in rows if not r.path.is_file()]
    if missing:
        first = missing[0]
        raise LabelsError(
            f"line {first.line}: no such file: {first.path}"
            + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
        )
    if all(r.positive for r in rows):
        raise LabelsError(f"{csv_path} has no negative label: precision cannot be measured")
    if not any(r.positive for r in rows):
        raise LabelsError(f"{csv_path} has no positive label: recall cannot be measured")
    return Labels(tuple(rows), hashlib.sha256(data).hexdigest(), str(csv_path))


def _row(cells: list[str], line: int, folder: Path, allowed: set[str] | None) -> Label:
    if len(cells) < 2 or len(cells) > 3:
        raise LabelsError(f"line {line}: expected path,label[,measure], got {len(cells)} cells")
    name, label = cells[0], cells[1].lower()
    if not name:
        raise LabelsError(f"line {line}: no path")
    if label not in LABELS:
        raise LabelsError(f"line {line}: label {cells[1]!r} is not positive or negative")
    measure = cells[2] if len(cells) == 3 and cells[2] else None
    if measure is not None and allowed is not None and measure not in allowed:
        raise LabelsError(
            f"line {line}: measure {measure!r} is not one of {', '.join(sorted(allowed))}"
        )
    path = Path(name)
    return Label(path if path.is_absolute() else folder / path, LABELS[label], measure, line)


# -- the figures ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    """The figures of one classifier (or of the priority signal) on its labelled files.

    At the ``threshold`` in force (None for the priority signal, judged by its ``likely``):
    ``tp``, ``fp``, ``tn``, ``fn`` and the rates from them (None when undefined: precision
    with nothing flagged). Threshold-free: ``roc_auc`` (the probability that a random
    positive scores above a random negative, ties counting half) and ``average_precision``
    (the mean of the precision at each positive's rank, as scikit-learn computes it).
    ``target``: the lowest threshold whose precision on this set is at least
    ``target_precision`` (so the highest recall that keeps it), with its precision, recall
    and false-positive rate; None when no threshold reaches it, and then ``best`` is the
    highest precision any threshold gives, with its threshold."""

    name: str
    version: str
    measures: str
    positives: int
    negatives: int
    threshold: float | None
    tp: int
    fp: int
    tn: int
    fn: int
    roc_auc: float | None
    average_precision: float | None
    target_precision: float
    target: Mapping[str, float] | None
    best: Mapping[str, float] | None
    failed: int = 0

    @property
    def precision(self) -> float | None:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def recall(self) -> float | None:
        return _ratio(self.tp, self.tp + self.fn)

    @property
    def false_positive_rate(self) -> float | None:
        return _ratio(self.fp, self.fp + self.tn)

    @property
    def f1(self) -> float | None:
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "measures": self.measures,
            "positives": self.positives,
            "negatives": self.negatives,
            "failed": self.failed,
            "threshold": self.threshold,
            "counts": {"tp": self.tp, "fp": self.fp, "tn": self.tn, "fn": self.fn},
            "precision": _round(self.precision),
            "recall": _round(self.recall),
            "f1": _round(self.f1),
            "false_positive_rate": _round(self.false_positive_rate),
            "roc_auc": _round(self.roc_auc),
            "average_precision": _round(self.average_precision),
            "target_precision": self.target_precision,
            "at_target": None if self.target is None else _rounded(self.target),
            "best": None if self.best is None else _rounded(self.best),
        }


def _ratio(top: int, bottom: int) -> float | None:
    return top / bottom if bottom else None


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _rounded(values: Mapping[str, float]) -> dict[str, float]:
    return {k: round(v, 6) for k, v in values.items()}


def roc_auc(scores: Sequence[float], truth: Sequence[bool]) -> float | None:
    """The area under the ROC curve (Mann-Whitney U over positives x negatives, a tie
    counting half); None without a positive or a negative."""
    pos = sorted(s for s, t in zip(scores, truth, strict=True) if t)
    neg = sorted(s for s, t in zip(scores, truth, strict=True) if not t)
    if not pos or not neg:
        return None
    import bisect

    wins = 0.0
    for s in pos:
        below = bisect.bisect_left(neg, s)
        ties = bisect.bisect_right(neg, s) - below
        wins += below + ties / 2
    return wins / (len(pos) * len(neg))


def _cuts(scores: Sequence[float], truth: Sequence[bool]) -> list[tuple[float, int, int]]:
    """At each distinct score (highest first): (threshold, tp, fp) of ``score >= threshold``."""
    ordered = sorted(zip(scores, truth, strict=True), key=lambda p: -p[0])
    out: list[tuple[float, int, int]] = []
    tp = fp = 0
    for i, (score, positive) in enumerate(ordered):
        tp += positive
        fp += not positive
        if i + 1 == len(ordered) or ordered[i + 1][0] != score:
            out.append((score, tp, fp))
    return out


def average_precision(scores: Sequence[float], truth: Sequence[bool]) -> float | None:
    """Sum over distinct thresholds of (recall step) x precision; None without a positive."""
    positives = sum(truth)
    if not positives:
        return None
    total, last_recall = 0.0, 0.0
    for _, tp, fp in _cuts(scores, truth):
        recall = tp / positives
        total += (recall - last_recall) * (tp / (tp + fp))
        last_recall = recall
    return total


def at_target(
    scores: Sequence[float], truth: Sequence[bool], target: float
) -> tuple[dict[str, float] | None, dict[str, float] | None]:
    """(the lowest threshold with precision >= ``target`` and its figures, or None; the
    highest precision of any threshold and its figures, or None without scores)."""
    positives = sum(truth)
    negatives = len(truth) - positives
    reached: dict[str, float] | None = None
    best: dict[str, float] | None = None
    for threshold, tp, fp in _cuts(scores, truth):
        precision = tp / (tp + fp)
        figures = {
            "threshold": threshold,
            "precision": precision,
            "recall": tp / positives if positives else 0.0,
            "false_positive_rate": fp / negatives if negatives else 0.0,
        }
        if precision >= target:
            reached = figures  # lower thresholds come later: the last one kept is lowest
        if best is None or precision > best["precision"]:
            best = figures
    return reached, best


def measure(
    name: str,
    version: str,
    measures: str,
    scores: Sequence[float],
    truth: Sequence[bool],
    *,
    threshold: float | None,
    flagged: Sequence[bool] | None = None,
    target_precision: float = 0.99,
    failed: int = 0,
) -> Measured:
    """The figures of one score list against ``truth``; a file counts as flagged when its
    score is at or above ``threshold`` (or per ``flagged``, when given)."""
    if flagged is None:
        limit = math.inf if threshold is None else threshold
        flagged = [s >= limit for s in scores]
    tp = sum(f and t for f, t in zip(flagged, truth, strict=True))
    fp = sum(f and not t for f, t in zip(flagged, truth, strict=True))
    fn = sum(t and not f for f, t in zip(flagged, truth, strict=True))
    tn = len(truth) - tp - fp - fn
    reached, best = at_target(scores, truth, target_precision)
    return Measured(
        name=name,
        version=version,
        measures=measures,
        positives=sum(truth),
        negatives=len(truth) - sum(truth),
        threshold=threshold,
        tp=tp,
        fp=fp,
        tn=tn,
        fn=fn,
        roc_auc=roc_auc(scores, truth),
        average_precision=average_precision(scores, truth),
        target_precision=target_precision,
        target=reached,
        best=best,
        failed=failed,
    )


# -- scoring the labelled files -------------------------------------------------------------


@dataclass(frozen=True)
class FileScores:
    """What the classifiers made of one labelled file: each one's value (the highest over a
    video's frames), the fused priority ``value`` and whether it was ``likely``; the
    classifiers that failed on it (name -> why)."""

    values: Mapping[str, float]
    priority: float
    likely: bool
    errors: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Evaluation:
    """The figures of each classifier and of the priority signal (last), the files that
    could not be read (path -> why) and what the labels were."""

    labels: Labels
    figures: tuple[Measured, ...]
    unreadable: Mapping[str, str]
    failures: Mapping[str, Mapping[str, str]]

    def as_json(self) -> dict[str, Any]:
        return {
            "labels": self.labels.source,
            "labels_sha256": self.labels.digest,
            "files": len(self.labels.rows),
            "unreadable": [{"path": p, "message": m} for p, m in self.unreadable.items()],
            "classifiers": [m.as_json() for m in self.figures if m.name != PRIORITY],
            "priority": next((m.as_json() for m in self.figures if m.name == PRIORITY), None),
            "failures": {
                name: [{"path": p, "message": m} for p, m in by_path.items()]
                for name, by_path in self.failures.items()
            },
        }


def evaluate(
    labels: Labels,
    *,
    settings: Settings,
    classifiers: Sequence[Classifier],
    fusion: Fusion,
    target_precision: float = 0.99,
    read: Callable[[Path], bytes] | None = None,
    advance: Callable[[], None] | None = None,
) -> Evaluation:
    """Score each labelled file (in memory) and measure each classifier and the priority
    signal at ``fusion``'s thresholds. ``read``: how to get a file's bytes (default:
    `vangnet.signals.hashing.read_file` with the ``max_file_bytes`` cap); ``advance``: called
    after each file (a progress bar)."""
    from vangnet.signals.hashing import read_file

    if not 0.0 < target_precision <= 1.0:
        raise ValidationError(f"the target precision must be in (0, 1], not {target_precision}")
    reader = read or (lambda p: read_file(p, settings=settings))
    scored: list[tuple[Label, FileScores]] = []
    unreadable: dict[str, str] = {}
    for label in labels.rows:
        try:
            result = classify_bytes(
                reader(label.path), settings=settings, classifiers=classifiers, path=str(label.path)
            )
        except VangnetError as error:
            unreadable[str(label.path)] = f"{error.code}: {error.message}"
        else:
            fused, _ = result.fused(fusion)
            values = {name: score.value for name, (score, _) in result.best().items()}
            scored.append((label, FileScores(values, fused.value, fused.likely, result.errors())))
        if advance is not None:
            advance()
    figures: list[Measured] = []
    failures: dict[str, dict[str, str]] = {}
    for classifier in classifiers:
        rows = [
            (label, s)
            for label, s in scored
            if label.measure is None or label.measure == classifier.measures
        ]
        kept = [(label, s) for label, s in rows if classifier.name in s.values]
        failed = {str(label.path): s.errors.get(classifier.name, "") for label, s in rows}
        failed = {p: m for p, m in failed.items() if m}
        if failed:
            failures[classifier.name] = failed
        figures.append(
            measure(
                classifier.name,
                classifier.version,
                classifier.measures,
                [s.values[classifier.name] for _, s in kept],
                [label.positive for label, _ in kept],
                threshold=fusion.threshold(classifier.name),
                target_precision=target_precision,
                failed=len(failed),
            )
        )
    rows = [(label, s) for label, s in scored if label.measure in (None, PRIORITY)]
    figures.append(
        measure(
            PRIORITY,
            "",
            PRIORITY,
            [s.priority for _, s in rows],
            [label.positive for label, _ in rows],
            threshold=None,
            flagged=[s.likely for _, s in rows],
            target_precision=target_precision,
        )
    )
    return Evaluation(labels, tuple(figures), unreadable, failures)
