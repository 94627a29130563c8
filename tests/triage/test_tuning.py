"""Triage settings: the ``triage_*`` settings reach the steps from the entry point.

Through the user's path: `vangnet triage` in its own process, with a tracer threshold set in
the environment, traces a screenshot differently; and the run records the values it used. In
the library: every `TriageTuning` field is a setting with the same documented default, and the
values in force (not the defaults) are what the steps get.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from triage.meta_samples import EXIF_ROTN
from triage.test_text import BSDS, call_screenshot
from vangnet.config import Settings, get_settings, reset_settings
from vangnet.store.models import TriageItem, TriageRun
from vangnet.triage.metadata import extract
from vangnet.triage.screenshots import TraceOptions
from vangnet.triage.text import video_call_likelihood
from vangnet.triage.text_calls import DEFAULT_SCORING, LIKELY, PLAYER_CAP
from vangnet.triage.tuning import PREFIX, CallScoring, MetadataOptions, TriageTuning

VANGNET = str(Path(sys.executable).with_name("vangnet"))
VIDEOS = Path("threatexchange/video/sample-videos")
SHOT = "screenshot_20190730_PM_80504.png"


def _triage_cli(db_url: str, folder: Path, case: str, **env: str) -> dict[str, Any]:
    """`vangnet triage FOLDER --case CASE --no-ocr --workers 1 --json` with ``env`` set."""
    done = subprocess.run(
        [VANGNET, "triage", str(folder), "--case", case, "--no-ocr", "--workers", "1", "--json"],
        env={**os.environ, "VANGNET_DATABASE_URL": db_url, **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary: dict[str, Any] = json.loads(done.stdout)
    return summary


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # a settings test: one store
def test_a_tracer_threshold_set_in_the_environment_changes_what_triage_traces(
    db_url: str, db_engine: Engine, shared_data: Path, tmp_path: Path
) -> None:
    """The same screenshot and video, triaged twice: with the default least inliers the
    screenshot is traced to the video by local features; with
    ``VANGNET_TRIAGE_TRACE_MIN_INLIERS`` above anything a match reaches it is not, and the
    run records the value it used."""
    folder = tmp_path / "laptop"
    folder.mkdir()
    (folder / SHOT).write_bytes((shared_data / VIDEOS / "screenshots" / SHOT).read_bytes())
    (folder / "movie.mp4").write_bytes((shared_data / VIDEOS / "chair-19-sd-bar.mp4").read_bytes())

    default = _triage_cli(db_url, folder, "DEFAULT")
    strict = _triage_cli(db_url, folder, "STRICT", VANGNET_TRIAGE_TRACE_MIN_INLIERS="100000")

    assert default["screenshots_traced"] == 1
    assert strict["screenshots_traced"] == 0
    with Session(db_engine) as session:
        shots = {
            row.case_id: row
            for row in session.scalars(select(TriageItem).where(TriageItem.name == SHOT))
        }
        (traced,) = shots[default["case_id"]].findings["screenshot_of"]
        assert traced["method"] == "features" and traced["inliers"] >= 20
        assert "screenshot_of" not in shots[strict["case_id"]].findings
        runs = {
            run.case_id: run.options["tuning"]
            for run in session.scalars(select(TriageRun).order_by(TriageRun.id))
        }
    assert runs[default["case_id"]]["trace_min_inliers"] == 20
    assert runs[strict["case_id"]]["trace_min_inliers"] == 100000


def test_a_bad_triage_setting_is_a_clear_error_before_anything_is_read(
    db_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    done = subprocess.run(
        [VANGNET, "triage", str(folder), "--case", "BAD", "--json"],
        env={**os.environ, "VANGNET_DATABASE_URL": db_url, "VANGNET_TRIAGE_SERIES_BITS": "-1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "VANGNET_TRIAGE_SERIES_BITS" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr


def test_every_tuning_field_is_a_documented_setting_with_the_same_default() -> None:
    settings = Settings()
    tuning = TriageTuning()
    assert TriageTuning.from_settings(settings) == tuning
    shared = {"library_fps", "library_dedupe_bits", "library_quality_floor"}
    for f in fields(TriageTuning):
        if f.name in shared:
            continue
        field = Settings.model_fields[PREFIX + f.name]
        assert field.description, f.name
        assert getattr(tuning, f.name) == field.default, f.name
    assert tuning.trace == TraceOptions()
    assert tuning.call_scoring == CallScoring() == DEFAULT_SCORING
    assert settings.triage_call_player_cap == PLAYER_CAP


def test_the_values_in_force_reach_the_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VANGNET_TRIAGE_TRACE_HASH_BITS", "12")
    monkeypatch.setenv("VANGNET_TRIAGE_CALL_WEIGHT_INSET", "0.9")
    monkeypatch.setenv("VANGNET_BANK_VIDEO_FPS", "2")
    reset_settings()
    tuning = TriageTuning.from_settings(get_settings())
    assert tuning.trace.hash_bits == 12 and tuning.trace.min_inliers == 20
    assert tuning.call_scoring.inset == 0.9 and tuning.call_scoring.chrome == 0.25
    assert tuning.library_fps == 2.0


def test_call_weights_change_the_video_call_score(shared_data: Path) -> None:
    """A video-call composite without text (app chrome around a photo, an inset): its score
    is the sum of the weights of the two clues, whatever they are set to."""
    bsds = sorted((shared_data / BSDS / "test").glob("*.jpg"))
    bare = call_screenshot(bsds[2], bsds[3], words="")
    usual = video_call_likelihood(bare)
    assert usual.score == pytest.approx(0.25 + 0.3) and usual.score >= LIKELY
    lighter = video_call_likelihood(bare, scoring=CallScoring(chrome=0.05, inset=0.1))
    assert lighter.score == pytest.approx(0.15) and lighter.score < LIKELY
    assert lighter.reasons == usual.reasons


def test_metadata_thresholds_change_what_extract_reports(shared_data: Path) -> None:
    """The phone photo's GPS clock is 33 s off a whole-hour offset from its capture time: the
    offset is inferred within the default 5 minutes, not within 15 s; its thumbnail is
    compared unless the least quality is above anything PDQ gives."""
    data = (shared_data / EXIF_ROTN / "exif-rotn-1.jpg").read_bytes()
    usual = extract(data)
    assert usual.captured is not None and usual.captured.to_dict()["inferred_offset"] == "-05:00"
    assert usual.thumbnail_mismatch is False
    strict = extract(data, options=MetadataOptions(gps_offset_minutes=0.25))
    assert strict.captured is not None and strict.captured.inferred_offset is None
    picky = extract(data, options=MetadataOptions(thumbnail_min_quality=101))
    assert picky.thumbnail is not None and picky.thumbnail_mismatch is None
    assert any("too featureless" in p for p in picky.problems)
    assert TriageTuning().metadata == MetadataOptions()
