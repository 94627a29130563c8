"""`vangnet classifiers evaluate|calibration`: measure the enabled classifiers on labelled
files and keep the thresholds measured (see `vangnet.signals.classifiers.evaluation` and
`vangnet.review.classifier_calibration`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from vangnet.cli.context import session
from vangnet.cli.hash_cmd import progress
from vangnet.cli.output import console, err_console, print_json, user_errors
from vangnet.config import get_settings
from vangnet.errors import ExitCode, UnavailableError, ValidationError

classifiers_app = typer.Typer(
    help="Measure the classifiers on your own labelled files and keep their thresholds.",
    no_args_is_help=True,
)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _at_target(figures: dict[str, Any]) -> str:
    reached = figures["at_target"]
    if reached is not None:
        return (
            f"{reached['threshold']:.4f} (precision {reached['precision']:.3f}, "
            f"recall {reached['recall']:.3f})"
        )
    best = figures["best"]
    if best is None:
        return "no scores"
    return (
        f"not reached: best precision {best['precision']:.3f} at {best['threshold']:.4f} "
        f"(recall {best['recall']:.3f})"
    )


def _print_figures(figures: dict[str, Any], target_precision: float) -> None:
    counts = figures["counts"]
    threshold = figures["threshold"]
    version = f" (version {figures['version']})" if figures["version"] else ""
    at = "likely" if threshold is None else f"threshold {threshold:.4f}"
    failed = f", {figures['failed']} failed" if figures.get("failed") else ""
    lines = [
        f"{figures['name']}{version}: {figures['positives']} positive, "
        f"{figures['negatives']} negative labels{failed}",
        f"  at {at}: tp {counts['tp']}, fp {counts['fp']}, tn {counts['tn']}, "
        f"fn {counts['fn']}; precision {_pct(figures['precision'])}, recall "
        f"{_pct(figures['recall'])}, F1 {_pct(figures['f1'])}, false-positive rate "
        f"{_pct(figures['false_positive_rate'])}",
        f"  ROC AUC {_pct(figures['roc_auc'])}, average precision "
        f"{_pct(figures['average_precision'])}",
        f"  threshold at precision {target_precision}: {_at_target(figures)}",
    ]
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True, markup=False)


@classifiers_app.command("evaluate")
def evaluate_command(
    labels_csv: Path = typer.Argument(
        ..., metavar="LABELS.csv", help="path,label[,measure] rows (see below)."
    ),
    target_precision: float = typer.Option(
        0.99, "--target-precision", help="The precision the threshold must reach (0-1]."
    ),
    save: bool = typer.Option(
        False,
        "--save",
        help="Store each classifier's threshold at the target precision for this deployment "
        "(audited); the priority signal then uses it.",
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON object."),
) -> None:
    """Measure the enabled classifiers, and the priority signal they fuse into, on labelled
    files: per classifier the counts, precision, recall, F1 and false-positive rate at the
    threshold in force, ROC AUC, average precision, and the lowest threshold whose
    precision reaches --target-precision (or the best precision any threshold gives).

    LABELS.csv: one file a row, `path,label[,measure]`: path relative to the CSV's folder
    (or absolute); label `positive` or `negative`; measure (optional) what the label is
    about: a classifier measure (sexual_content, apparent_age, ...) or `priority`; a row
    without one counts for every classifier and the priority. A header row `path,label` or
    `path,label,measure` is skipped, so are empty rows and rows starting with `#`.

    Example: vangnet classifiers evaluate labels.csv --target-precision 0.95 --save

    The thresholds in force are the setting classifier_thresholds, else the stored
    calibration (read from the database; when it cannot be read, stderr says so and the
    defaults are used), else each classifier's default. Files are decoded in memory only.

    Exit code 4 when LABELS.csv does not exist; 6 for a malformed labels file, a label
    naming a missing file, no positive or no negative label, or no classifier enabled
    (nothing scored, nothing stored); 3 when some files could not be decoded (listed; the
    figures are of the rest); 7 when --save cannot reach the database (nothing stored).
    """
    from sqlalchemy.exc import SQLAlchemyError

    from vangnet.audit.chain import cli_actor
    from vangnet.cli.classify_cmd import calibrated_or_defaults
    from vangnet.review import classifier_calibration as calibration
    from vangnet.signals.classifiers.enabled import enabled_classifiers
    from vangnet.signals.classifiers.evaluation import evaluate, read_labels
    from vangnet.signals.classifiers.fusion import Fusion

    with user_errors(as_json=as_json):
        settings = get_settings()
        if not 0.0 < target_precision <= 1.0:
            raise ValidationError(f"--target-precision must be in (0, 1], not {target_precision}")
        classifiers = enabled_classifiers(settings)
        if not classifiers:
            raise ValidationError(
                "no classifier is enabled (setting classifiers): nothing to evaluate"
            )
        labels = read_labels(labels_csv, measures=sorted({c.measures for c in classifiers}))
        fusion = Fusion.from_settings(settings, calibrated=calibrated_or_defaults(settings))
        with progress() as bar:
            task = bar.add_task("evaluating", total=len(labels.rows))
            result = evaluate(
                labels,
                settings=settings,
                classifiers=classifiers,
                fusion=fusion,
                target_precision=target_precision,
                advance=lambda: bar.advance(task),
            )
        saved: list[Any] = []
        skipped: list[Any] = []
        if save:
            try:
                with session() as s:
                    rows, skipped = calibration.save(s, result, actor=cli_actor())
                    saved = [
                        {"classifier": r.classifier, "version": r.version, "threshold": r.threshold}
                        for r in rows
                    ]
                    s.commit()
            except SQLAlchemyError as error:
                raise UnavailableError(
                    f"the calibration was not stored: the database cannot be reached "
                    f"({type(error).__name__})"
                ) from None
    out = result.as_json()
    if save:
        out["saved"] = saved
        out["not_saved"] = [
            {"classifier": m.name, "reason": f"precision {target_precision} not reached"}
            for m in skipped
        ]
    if as_json:
        print_json(out)
    else:
        console.print(f"{out['files']} labelled files ({labels_csv})", highlight=False)
        for figures in [*out["classifiers"], out["priority"]]:
            _print_figures(figures, target_precision)
        for entry in saved:
            console.print(
                f"saved: {entry['classifier']} {entry['version']} threshold "
                f"{entry['threshold']:.4f}"
            )
        for skip in out.get("not_saved", []):
            console.print(f"not saved: {skip['classifier']}: {skip['reason']}")
        for name, failed in out["failures"].items():
            err_console.print(f"{name} failed on {len(failed)} files (not counted for it)")
        for item in out["unreadable"]:
            err_console.print(f"unreadable: {item['path']}: {item['message']}")
    if result.unreadable:
        if not as_json:
            err_console.print(f"{len(result.unreadable)} of {out['files']} files could not be read")
        raise typer.Exit(ExitCode.UNREADABLE_INPUT)


@classifiers_app.command("calibration")
def calibration_command(
    clear: str | None = typer.Option(
        None, "--clear", metavar="CLASSIFIER", help="Delete this classifier's calibrations."
    ),
    version: str | None = typer.Option(
        None, "--version", help="With --clear: only the calibration of this model version."
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Show the stored classifier calibrations (`vangnet classifiers evaluate --save`) and
    whether each applies: only to the model version it was measured with, and not when the
    setting classifier_thresholds names the classifier. --clear deletes one (audited).

    Example: vangnet classifiers calibration --clear opennsfw
    """
    from vangnet.audit.chain import cli_actor
    from vangnet.review import classifier_calibration as calibration

    with user_errors(as_json=as_json):
        settings = get_settings()
        with session() as s:
            if clear is not None:
                count = calibration.clear(s, clear, actor=cli_actor(), version=version)
                s.commit()
                if as_json:
                    print_json({"cleared": clear, "version": version, "count": count})
                else:
                    console.print(f"cleared {count} calibration(s) of {clear}")
                return
            if version is not None:
                raise ValidationError("--version goes with --clear")
            stored = calibration.list_calibrations(s, settings)
    if as_json:
        print_json([c.as_json() for c in stored])
        return
    for c in stored:
        console.print(
            f"{c.classifier} {c.version}: threshold {c.threshold:.4f} at precision "
            f"{c.target_precision} on {c.labels} labels (sha256 {c.labels_sha256[:12]}), "
            f"saved by {c.actor} at {c.created_at.isoformat(timespec='seconds')}: {c.status}",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )
    if not stored:
        console.print("no calibration stored: classifiers run at their default thresholds")
