"""The classifier thresholds a deployment measured on its own labelled files (`vangnet
classifiers evaluate --save`), stored in the database and applied where the priority signal
is built with the database at hand (`vangnet classify`, ``POST /v1/classify``, the review
queue's priority).

A stored threshold applies only to the model version it was measured with: a classifier
whose installed version differs (a new model, a faces setting that changes its scores) runs
at its default threshold until it is calibrated again. The setting ``classifier_thresholds``
overrides both. Saving and clearing are written to the hash-chained audit log.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vangnet.audit.chain import record
from vangnet.config import Settings
from vangnet.errors import NotFoundError
from vangnet.signals.classifiers.base import classifier_types
from vangnet.signals.classifiers.evaluation import Evaluation, Measured
from vangnet.store.models import ClassifierCalibration, utcnow

SAVE_ACTION = "classifier.calibrate"
CLEAR_ACTION = "classifier.calibration.clear"


def installed_versions(settings: Settings) -> dict[str, str]:
    """The model version each installed classifier runs with under ``settings`` (no model
    is started): classifier name -> version."""
    return {name: cls.version_for(settings) for name, cls in classifier_types().items()}


def stored_thresholds(session: Session, versions: Mapping[str, str]) -> dict[str, float]:
    """The stored threshold of each classifier in ``versions`` (name -> installed version)
    whose calibration was measured with that version."""
    rows = session.scalars(
        select(ClassifierCalibration).where(ClassifierCalibration.classifier.in_(list(versions)))
    )
    return {r.classifier: r.threshold for r in rows if versions.get(r.classifier) == r.version}


def calibrated_thresholds(session: Session, settings: Settings) -> dict[str, float]:
    """`stored_thresholds` for the classifiers installed here (what `Fusion.from_settings`
    takes as ``calibrated``)."""
    return stored_thresholds(session, installed_versions(settings))


@dataclass(frozen=True)
class Stored:
    """One stored calibration, and whether it applies here: ``installed`` is the version of
    the classifier installed now (None: not installed), ``overridden`` whether the setting
    ``classifier_thresholds`` names it."""

    classifier: str
    version: str
    threshold: float
    target_precision: float
    figures: Mapping[str, Any]
    labels: int
    labels_sha256: str
    actor: str
    created_at: datetime
    installed: str | None
    overridden: bool

    @property
    def applies(self) -> bool:
        return self.installed == self.version and not self.overridden

    @property
    def status(self) -> str:
        if self.installed is None:
            return "not applied: the classifier is not installed"
        if self.installed != self.version:
            return f"not applied: measured with version {self.version}, installed {self.installed}"
        if self.overridden:
            return "not applied: the setting classifier_thresholds names this classifier"
        return "applied"

    def as_json(self) -> dict[str, Any]:
        return {
            "classifier": self.classifier,
            "version": self.version,
            "threshold": self.threshold,
            "target_precision": self.target_precision,
            "figures": dict(self.figures),
            "labels": self.labels,
            "labels_sha256": self.labels_sha256,
            "actor": self.actor,
            "created_at": self.created_at.isoformat(),
            "installed_version": self.installed,
            "applies": self.applies,
            "status": self.status,
        }


def list_calibrations(session: Session, settings: Settings) -> list[Stored]:
    """Every stored calibration (by classifier, then newest first), with whether it
    applies to the classifiers installed under ``settings``."""
    versions = installed_versions(settings)
    rows = session.scalars(
        select(ClassifierCalibration).order_by(
            ClassifierCalibration.classifier, ClassifierCalibration.created_at.desc()
        )
    )
    return [
        Stored(
            r.classifier,
            r.version,
            r.threshold,
            r.target_precision,
            dict(r.figures),
            r.labels,
            r.labels_sha256,
            r.actor,
            r.created_at,
            versions.get(r.classifier),
            r.classifier in settings.classifier_thresholds,
        )
        for r in rows
    ]


def _summary(row: ClassifierCalibration) -> dict[str, Any]:
    return {
        "version": row.version,
        "threshold": row.threshold,
        "target_precision": row.target_precision,
        "labels": row.labels,
        "labels_sha256": row.labels_sha256,
    }


def save(
    session: Session, evaluation: Evaluation, *, actor: str, names: Iterable[str] | None = None
) -> tuple[list[ClassifierCalibration], list[Measured]]:
    """Store the threshold at the target precision of each classifier of ``evaluation``
    (those in ``names``, default all) that reached it, replacing an earlier one of the same
    classifier and version, each audited (``classifier.calibrate``). Returns (stored, not
    stored: the target was not reached). The caller commits."""
    wanted = None if names is None else set(names)
    saved: list[ClassifierCalibration] = []
    skipped: list[Measured] = []
    for figures in evaluation.figures:
        if figures.name == "priority" or (wanted is not None and figures.name not in wanted):
            continue
        if figures.target is None:
            skipped.append(figures)
            continue
        row = session.scalars(
            select(ClassifierCalibration).where(
                ClassifierCalibration.classifier == figures.name,
                ClassifierCalibration.version == figures.version,
            )
        ).one_or_none()
        before = None if row is None else _summary(row)
        if row is None:
            row = ClassifierCalibration(classifier=figures.name, version=figures.version)
            session.add(row)
        row.threshold = float(figures.target["threshold"])
        row.target_precision = figures.target_precision
        row.figures = figures.as_json()
        row.labels = figures.positives + figures.negatives
        row.labels_sha256 = evaluation.labels.digest
        row.actor = actor
        row.created_at = utcnow()
        session.flush()
        record(
            session,
            actor=actor,
            action=SAVE_ACTION,
            target=f"classifier:{figures.name}",
            before=before,
            after=_summary(row),
            details={"labels_file": evaluation.labels.source, "figures": figures.as_json()},
        )
        saved.append(row)
    return saved, skipped


def clear(session: Session, classifier: str, *, actor: str, version: str | None = None) -> int:
    """Delete the stored calibrations of ``classifier`` (of one ``version``, or all), each
    audited (``classifier.calibration.clear``); `NotFoundError` when there is none. Returns
    how many were deleted. The caller commits."""
    query = select(ClassifierCalibration).where(ClassifierCalibration.classifier == classifier)
    if version is not None:
        query = query.where(ClassifierCalibration.version == version)
    rows = list(session.scalars(query))
    if not rows:
        which = f" version {version}" if version else ""
        raise NotFoundError(f"no stored calibration of classifier {classifier!r}{which}")
    for row in rows:
        record(
            session,
            actor=actor,
            action=CLEAR_ACTION,
            target=f"classifier:{classifier}",
            before=_summary(row),
        )
        session.delete(row)
    session.flush()
    return len(rows)
