"""Google's Content Safety API (`google_content_safety`) through `vangnet classify --json`,
against a real HTTP server on 127.0.0.1 in the documented shapes (tests/remote_services.py):
pictures sent in batches of the setting, review priorities mapped to 0-1 and fused, the
key in the query, answers of the wrong shape named, a bad key not retried, the
conformance kit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from cli_invoke import invoke, json_lines
from remote_services import KEY, Answer, Service, run_service
from vangnet.config import Settings
from vangnet.remote.google import PRIORITY_VALUES, GoogleContentSafety
from vangnet.signals.classifiers.conformance import ClassifierCases, check_classifier
from vangnet.signals.classifiers.enabled import forget_instances

VIDEO = "threatexchange/video/sample-videos/pattern-sd-grey-bar.mp4"


def _picture(path: Path, grey: int) -> Path:
    Image.new("RGB", (40, 30), (grey, grey, grey)).save(path)
    return path


@pytest.fixture
def google(monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    forget_instances()
    with run_service("google") as service:
        monkeypatch.setenv("VANGNET_CLASSIFIERS", "google_content_safety")
        monkeypatch.setenv("VANGNET_GOOGLE_CONTENT_SAFETY_URL", service.url)
        monkeypatch.setenv("VANGNET_GOOGLE_CONTENT_SAFETY_API_KEY", KEY)
        monkeypatch.setenv("VANGNET_GOOGLE_CONTENT_SAFETY_REQUESTS_PER_SECOND", "100")
        yield service
    forget_instances()


def _one_failed(path: Path) -> dict[str, Any]:
    result = invoke("classify", str(path), "--json", code=1)
    row: dict[str, Any] = json.loads(result.stdout)
    (error,) = row["errors"]
    assert error["classifier"] == "google_content_safety" and row["scores"] == []
    return dict(error)


def test_priorities_are_mapped_and_fused(google: Service, tmp_path: Path) -> None:
    """Each priority mapped to its value (VERY_LOW 0.1 ... VERY_HIGH 0.9), HIGH and above
    counted as likely; the key went in the query (the server checks it)."""
    greys = [0, 60, 120, 180, 255]
    paths = [str(_picture(tmp_path / f"{g}.png", g)) for g in greys]
    rows = json_lines("classify", *paths, "--json")
    assert google.pictures == [1] * 5  # `vangnet classify` scores a photo file at a time
    expected = ["VERY_LOW", "LOW", "MEDIUM", "HIGH", "VERY_HIGH"]
    for row, priority in zip(rows, expected, strict=True):
        assert row["errors"] == []
        (score,) = row["scores"]
        assert score["measures"] == "abuse_material"
        assert score["value"] == PRIORITY_VALUES[priority]
        (evidence,) = score["evidence"]
        assert evidence["detail"] == {"priority": priority, "model_version": "test-1"}
        assert score["summary"] == f"review priority {priority} (Google Content Safety)"
        assert row["priority"]["value"] == score["value"]
        assert row["priority"]["likely"] is (priority in ("HIGH", "VERY_HIGH"))


def test_video_frames_go_in_batches_of_the_setting(
    google: Service, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """6 frames of a video, 4 a request: 2 requests of 4 and 2 pictures."""
    monkeypatch.setenv("VANGNET_GOOGLE_CONTENT_SAFETY_BATCH_SIZE", "4")
    monkeypatch.setenv("VANGNET_CLASSIFY_VIDEO_FRAMES", "6")
    (row,) = json_lines("classify", str(shared_data / VIDEO), "--json")
    assert google.pictures == [4, 2]
    assert row["errors"] == [] and len(row["frames"]) == 6
    values = [f["scores"][0]["value"] for f in row["frames"]]
    assert set(values) <= set(PRIORITY_VALUES.values())
    assert row["scores"][0]["value"] == max(values)


def test_a_bad_key_is_not_retried(
    google: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VANGNET_GOOGLE_CONTENT_SAFETY_API_KEY", "bad-key-4321")
    error = _one_failed(_picture(tmp_path / "w.png", 255))
    assert "answered HTTP 400" in error["message"] and "API key not valid" in error["message"]
    assert "bad-key-4321" not in error["message"]
    assert google.requests == 1


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"reviewPriorities": ["LOW", "LOW"]}', "holds 2 priorities for 1 pictures"),
        (b'{"reviewPriorities": ["URGENT"]}', "unknown review priority 'URGENT'"),
        (b'{"priorities": ["LOW"]}', "no reviewPriorities list (wrong shape)"),
        (b"<html>", "not JSON"),
    ],
)
def test_answers_of_the_wrong_shape_are_named(
    google: Service, tmp_path: Path, body: bytes, says: str
) -> None:
    google.script = [Answer(200, body)]
    assert says in _one_failed(_picture(tmp_path / "w.png", 255))["message"]


def test_the_conformance_kit_passes_against_the_local_service(google: Service) -> None:
    settings = Settings(
        classifiers=["google_content_safety"],
        google_content_safety_url=google.url,
        google_content_safety_api_key=KEY,
        google_content_safety_requests_per_second=1000,
        google_content_safety_batch_size=3,
    )
    white = np.full((40, 60, 3), 255, np.uint8)
    black = np.zeros((40, 60, 3), np.uint8)
    check_classifier(GoogleContentSafety, ClassifierCases(high=[white], low=[black]), settings)
    assert max(google.pictures) == 3  # the setting, not the class default


def test_enabled_without_a_key_is_a_settings_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VANGNET_CLASSIFIERS", "google_content_safety")
    out = invoke("classify", str(_picture(tmp_path / "w.png", 0)), code=6).output
    assert "VANGNET_GOOGLE_CONTENT_SAFETY_API_KEY" in out
    assert "VANGNET_GOOGLE_CONTENT_SAFETY_URL" not in out  # documented endpoint by default
