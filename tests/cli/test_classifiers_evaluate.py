"""`vangnet classifiers evaluate` and `vangnet classifiers calibration`, on SQLite and
PostgreSQL: figures checked against values computed by hand on files whose scores a test
classifier reads from the picture (tests/stamped_classifier.py); the real open-nsfw on benign
photos; --save stores the threshold (audited), `classifiers calibration` lists it (and says
when it does not apply), `vangnet classify --json` follows it; bad input refused with its
exit code and nothing stored; unreadable files counted and listed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from cli_invoke import invoke, json_lines
from stamped_classifier import NAME, registered, stamp
from vangnet.config import reset_settings
from vangnet.errors import ExitCode
from vangnet.signals.classifiers.opennsfw import OpenNsfw

PHOTO = "photos/public-domain/skimage_astronaut.png"
POSITIVES = (0.9, 0.8, 0.6, 0.4)
NEGATIVES = (0.7, 0.5, 0.3, 0.2, 0.1, 0.05)


@pytest.fixture
def cli_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    monkeypatch.setenv("VANGNET_CLASSIFIERS", NAME)
    reset_settings()
    with registered():
        yield db_url


def _labelled(
    folder: Path, shared_data: Path, positives: tuple[float, ...], negatives: tuple[float, ...]
) -> Path:
    """A labels file (with a header) naming stamped crops of a benign photo."""
    folder.mkdir(exist_ok=True)
    rows = ["path,label"]
    for i, score in enumerate(positives + negatives):
        name = f"p{i}.png" if i < len(positives) else f"n{i}.png"
        stamp(shared_data / PHOTO, score, folder / name, at=4 * i)
        rows.append(f"{name},{'positive' if i < len(positives) else 'negative'}")
    csv = folder / "labels.csv"
    csv.write_text("\n".join(rows) + "\n")
    return csv


def _evaluate(*args: str, code: int = 0) -> dict[str, object]:
    out: dict[str, object] = json.loads(
        invoke("classifiers", "evaluate", *args, "--json", code=code).stdout
    )
    return out


def test_figures_are_the_ones_computed_by_hand(
    cli_db: str, shared_data: Path, tmp_path: Path
) -> None:
    csv = _labelled(tmp_path / "set", shared_data, POSITIVES, NEGATIVES)
    out = _evaluate(str(csv))
    assert out["files"] == 10 and out["unreadable"] == [] and out["failures"] == {}
    (figures,) = out["classifiers"]  # type: ignore[misc]
    assert figures["name"] == NAME and figures["version"] == "1"
    assert (figures["positives"], figures["negatives"]) == (4, 6)
    # at the default threshold 0.5: flagged 0.9 0.8 0.6 (positives) and 0.7 0.5 (negatives)
    assert figures["threshold"] == 0.5
    assert figures["counts"] == {"tp": 3, "fp": 2, "tn": 4, "fn": 1}
    assert figures["precision"] == pytest.approx(3 / 5)
    assert figures["recall"] == pytest.approx(3 / 4)
    assert figures["f1"] == pytest.approx(6 / 9, abs=1e-6)
    assert figures["false_positive_rate"] == pytest.approx(2 / 6, abs=1e-6)
    # positives above negatives: 6 + 6 + 5 + 4 of 24 pairs
    assert figures["roc_auc"] == pytest.approx(21 / 24)
    # precision at each positive's rank: 1, 1, 3/4, 4/6
    assert figures["average_precision"] == pytest.approx((1 + 1 + 3 / 4 + 4 / 6) / 4, abs=1e-6)
    # precision 0.99 first holds down to 0.8 (two positives, no negative)
    assert figures["at_target"] == {
        "threshold": 0.8,
        "precision": 1.0,
        "recall": 0.5,
        "false_positive_rate": 0.0,
    }
    # the priority signal: the nudity score kept at half (no face), likely as the classifier
    priority = out["priority"]
    assert isinstance(priority, dict)
    assert priority["threshold"] is None
    assert priority["counts"] == figures["counts"]
    assert priority["roc_auc"] == figures["roc_auc"]
    assert priority["at_target"]["threshold"] == pytest.approx(0.4)

    lower = _evaluate(str(csv), "--target-precision", "0.75")
    (figures,) = lower["classifiers"]  # type: ignore[misc]
    assert figures["at_target"] == {
        "threshold": 0.6,
        "precision": 0.75,
        "recall": 0.75,
        "false_positive_rate": round(1 / 6, 6),
    }

    table = invoke("classifiers", "evaluate", str(csv)).stdout
    assert NAME in table and "priority" in table and "0.8000" in table


def test_an_unreachable_target_says_the_best_precision(
    cli_db: str, shared_data: Path, tmp_path: Path
) -> None:
    """The highest score is a negative's: no threshold reaches 0.99; the best is 1 of 2 at
    0.8. --save then stores nothing for it and says why."""
    csv = _labelled(tmp_path / "set", shared_data, (0.8, 0.6), (0.9, 0.7))
    out = _evaluate(str(csv), "--save")
    (figures,) = out["classifiers"]  # type: ignore[misc]
    assert figures["at_target"] is None
    assert figures["best"] == {
        "threshold": 0.8,
        "precision": 0.5,
        "recall": 0.5,
        "false_positive_rate": 0.5,
    }
    assert out["saved"] == []
    assert out["not_saved"] == [{"classifier": NAME, "reason": "precision 0.99 not reached"}]
    assert "not reached: best precision 0.500 at 0.8000" in (
        invoke("classifiers", "evaluate", str(csv)).stdout.replace("\n", " ")
    )
    assert json.loads(invoke("classifiers", "calibration", "--json").stdout) == []


def test_save_lists_applies_and_clears_a_calibration(
    cli_db: str, shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    csv = _labelled(tmp_path / "set", shared_data, POSITIVES, NEGATIVES)
    probe = stamp(shared_data / PHOTO, 0.7, tmp_path / "probe.png")
    # before: 0.7 is at or above the default threshold 0.5
    (row,) = json_lines("classify", str(probe), "--json")
    assert row["priority"]["likely"] is True

    out = _evaluate(str(csv), "--save")
    assert out["saved"] == [{"classifier": NAME, "version": "1", "threshold": 0.8}]
    (stored,) = json.loads(invoke("classifiers", "calibration", "--json").stdout)
    assert stored["classifier"] == NAME and stored["threshold"] == 0.8
    assert stored["target_precision"] == 0.99 and stored["labels"] == 10
    assert stored["labels_sha256"] == out["labels_sha256"]
    assert stored["actor"].startswith("cli:") and stored["applies"] is True
    assert stored["figures"]["counts"] == {"tp": 3, "fp": 2, "tn": 4, "fn": 1}
    assert "applied" in invoke("classifiers", "calibration").stdout

    # after: the stored threshold 0.8 decides; the evaluation itself now runs at it
    (row,) = json_lines("classify", str(probe), "--json")
    assert row["priority"]["likely"] is False
    again = _evaluate(str(csv))
    assert again["classifiers"][0]["threshold"] == 0.8  # type: ignore[index]
    assert again["classifiers"][0]["counts"] == {"tp": 2, "fp": 0, "tn": 6, "fn": 2}  # type: ignore[index]

    # the setting classifier_thresholds overrides it (and the listing says so)
    monkeypatch.setenv("VANGNET_CLASSIFIER_THRESHOLDS", json.dumps({NAME: 0.6}))
    (row,) = json_lines("classify", str(probe), "--json")
    assert row["priority"]["likely"] is True
    (stored,) = json.loads(invoke("classifiers", "calibration", "--json").stdout)
    assert stored["applies"] is False and "classifier_thresholds" in stored["status"]
    monkeypatch.delenv("VANGNET_CLASSIFIER_THRESHOLDS")

    # measured with another model version: listed, not applied
    engine = sa.create_engine(cli_db)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE classifier_calibrations SET version = '0'"))
        (stored,) = json.loads(invoke("classifiers", "calibration", "--json").stdout)
        assert stored["applies"] is False
        assert stored["status"] == "not applied: measured with version 0, installed 1"
        (row,) = json_lines("classify", str(probe), "--json")
        assert row["priority"]["likely"] is True
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE classifier_calibrations SET version = '1'"))
    finally:
        engine.dispose()

    invoke("classifiers", "calibration", "--clear", "nonesuch", code=ExitCode.NOT_FOUND)
    invoke("classifiers", "calibration", "--version", "1", code=ExitCode.INVALID_DATA)
    invoke("classifiers", "calibration", "--clear", NAME)
    assert json.loads(invoke("classifiers", "calibration", "--json").stdout) == []
    (row,) = json_lines("classify", str(probe), "--json")
    assert row["priority"]["likely"] is True

    entries = json.loads(invoke("audit", "list", "--json").stdout)
    actions = [e["action"] for e in entries]
    assert "classifier.calibrate" in actions and "classifier.calibration.clear" in actions
    saved = next(e for e in entries if e["action"] == "classifier.calibrate")
    assert saved["target"] == f"classifier:{NAME}" and saved["after"]["threshold"] == 0.8
    invoke("audit", "verify")


def _stored(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            count: int = conn.execute(
                sa.text("SELECT count(*) FROM classifier_calibrations")
            ).scalar_one()
            return count
    finally:
        engine.dispose()


def test_bad_labels_are_refused_and_nothing_is_stored(
    cli_db: str, shared_data: Path, tmp_path: Path
) -> None:
    good = stamp(shared_data / PHOTO, 0.9, tmp_path / "good.png")
    stamp(shared_data / PHOTO, 0.1, tmp_path / "other.png")
    cases = {
        "empty.csv": ("", "holds no labelled file"),
        "header-only.csv": ("path,label\n", "holds no labelled file"),
        "bad-label.csv": ("good.png,maybe\nother.png,negative\n", "line 1: label 'maybe'"),
        "missing.csv": ("good.png,positive\ngone.png,negative\n", "line 2: no such file"),
        "no-negative.csv": ("good.png,positive\n", "no negative label"),
        "no-positive.csv": ("other.png,negative\n", "no positive label"),
        "cells.csv": ("good.png\n", "line 1: expected path,label[,measure]"),
        "measure.csv": ("good.png,positive,colour\nother.png,negative\n", "measure 'colour'"),
    }
    for name, (text, message) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        result = invoke("classifiers", "evaluate", str(path), "--save", code=ExitCode.INVALID_DATA)
        assert message in result.output.replace("\n", " "), (name, result.output)
    result = invoke(
        "classifiers", "evaluate", str(tmp_path / "nope.csv"), "--json", code=ExitCode.NOT_FOUND
    )
    assert json.loads(result.stdout)["error"]["code"] == "not_found"
    invoke("classifiers", "evaluate", str(good), "--target-precision", "0", code=6)
    assert _stored(cli_db) == 0


def test_unreadable_files_are_counted_and_listed(
    cli_db: str, shared_data: Path, tmp_path: Path
) -> None:
    csv = _labelled(tmp_path, shared_data, (0.9,), (0.1,))
    (tmp_path / "broken.jpg").write_bytes(b"not a picture at all")
    with csv.open("a") as handle:
        handle.write("broken.jpg,negative\n# a comment\n\n")
    result = invoke("classifiers", "evaluate", str(csv), "--json", code=ExitCode.UNREADABLE_INPUT)
    out = json.loads(result.stdout)
    assert out["files"] == 3
    (bad,) = out["unreadable"]
    assert bad["path"] == str(tmp_path / "broken.jpg") and "unsupported" in bad["message"]
    assert out["classifiers"][0]["positives"] + out["classifiers"][0]["negatives"] == 2
    text = invoke("classifiers", "evaluate", str(csv), code=ExitCode.UNREADABLE_INPUT)
    assert "1 of 3 files could not be read" in text.output


def test_real_open_nsfw_on_benign_photos(
    cli_db: str, shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """open-nsfw next to the stamped classifier: benign photos and a video (negatives) stay
    below its threshold; the positive is labelled for the priority signal only (``measure``),
    so open-nsfw is measured on negatives alone (no recall, no ROC AUC: said as null)."""
    monkeypatch.setenv("VANGNET_CLASSIFIERS", f"opennsfw,{NAME}")
    photos = ["skimage_astronaut.png", "skimage_coffee.png", "skimage_chelsea.png"]
    stamp(shared_data / PHOTO, 0.9, tmp_path / "p.png")
    rows = [f"{shared_data / 'photos/public-domain' / p},negative" for p in photos]
    # a video: scored by its highest sampled frame, as vangnet classify scores it
    monkeypatch.setenv("VANGNET_CLASSIFY_VIDEO_FRAMES", "2")
    rows.append(
        f"{shared_data / 'threatexchange/video/sample-videos/pattern-sd-grey-bar.mp4'},negative"
    )
    rows.append("p.png,positive,priority")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    out = _evaluate(str(tmp_path / "labels.csv"))
    by_name = {f["name"]: f for f in out["classifiers"]}  # type: ignore[attr-defined]
    nsfw = by_name["opennsfw"]
    assert (nsfw["positives"], nsfw["negatives"]) == (0, 4)
    assert nsfw["counts"]["fp"] == 0 and nsfw["false_positive_rate"] == 0.0
    assert nsfw["recall"] is None and nsfw["roc_auc"] is None
    assert nsfw["version"] == OpenNsfw.version
    priority = out["priority"]
    assert (priority["positives"], priority["negatives"]) == (1, 4)  # type: ignore[index]
    assert priority["counts"]["tp"] == 1 and priority["counts"]["fp"] == 0  # type: ignore[index]


def test_classify_without_a_database_says_so_and_scores(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No database to read the calibration from (nothing listens on the port): the file is
    still scored, at the default thresholds, and stderr says why."""
    monkeypatch.setenv("VANGNET_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:1/x")
    monkeypatch.setenv("VANGNET_CLASSIFIERS", NAME)
    probe = stamp(shared_data / PHOTO, 0.7, tmp_path / "probe.png")
    with registered():
        result = invoke("classify", str(probe), "--json")
    (row,) = [json.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
    assert row["scores"][0]["value"] == 0.7 and row["priority"]["likely"] is True
    assert "stored classifier calibration not read" in result.output


def test_evaluate_without_a_database_measures_and_save_is_refused(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VANGNET_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:1/x")
    monkeypatch.setenv("VANGNET_CLASSIFIERS", NAME)
    csv = _labelled(tmp_path / "set", shared_data, (0.9,), (0.1,))
    with registered():
        result = invoke("classifiers", "evaluate", str(csv))
        assert "stored classifier calibration not read" in result.output
        assert "threshold at precision 0.99: 0.9000" in result.output
        refused = invoke("classifiers", "evaluate", str(csv), "--save", code=ExitCode.UNAVAILABLE)
        assert "the calibration was not stored" in refused.output
