"""Thorn Safer Predict (`safer_predict`) through `vangnet classify --json`, against a real
HTTP server on 127.0.0.1 in the documented answer shape (tests/remote_services.py): scores
and the fused priority; retries after 5xx and 429 (Retry-After); failures that are not
retried or that outlast the retries surfaced in ``errors`` with exit code 1; the egress
policy refusing loopback; the rate limit seen at the server; settings errors (exit code 6);
the conformance kit; `vangnet plugins`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from cli_invoke import invoke, json_lines
from remote_services import KEY, Answer, Service, retry_later, run_service
from vangnet.config import Settings
from vangnet.errors import ExitCode
from vangnet.remote.safer import SaferPredict
from vangnet.signals.classifiers.conformance import ClassifierCases, check_classifier
from vangnet.signals.classifiers.enabled import forget_instances


def _picture(path: Path, grey: int, size: tuple[int, int] = (48, 32)) -> Path:
    Image.new("RGB", size, (grey, grey, grey)).save(path)
    return path


@pytest.fixture
def safer(monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    """The stand-in service, and a deployment that runs only `safer_predict` on it."""
    forget_instances()
    with run_service("safer") as service:
        monkeypatch.setenv("VANGNET_CLASSIFIERS", "safer_predict")
        monkeypatch.setenv("VANGNET_SAFER_PREDICT_URL", service.url)
        monkeypatch.setenv("VANGNET_SAFER_PREDICT_API_KEY", KEY)
        monkeypatch.setenv("VANGNET_SAFER_PREDICT_REQUESTS_PER_SECOND", "100")
        monkeypatch.setenv("VANGNET_SAFER_PREDICT_TIMEOUT_SECONDS", "5")
        yield service
    forget_instances()


def _failed(*args: str) -> dict[str, Any]:
    """The one row of ``vangnet classify ARGS --json`` that exited 1 (a classifier failed)."""
    result = invoke("classify", *args, "--json", code=1)
    (row,) = [line for line in result.stdout.splitlines() if line.strip()]
    parsed: dict[str, Any] = json.loads(row)
    return parsed


def test_pictures_are_scored_and_fused_as_abuse_material(safer: Service, tmp_path: Path) -> None:
    white = _picture(tmp_path / "white.png", 255)
    black = _picture(tmp_path / "black.png", 0)
    high, low = json_lines("classify", str(white), str(black), "--json")
    assert safer.requests == 2  # one picture per request, the key accepted
    assert high["errors"] == [] and low["errors"] == []
    (score,) = high["scores"]
    assert score["classifier"] == "safer_predict" and score["measures"] == "abuse_material"
    assert score["value"] == pytest.approx(1.0, abs=0.01)
    assert [e["label"] for e in score["evidence"]] == ["csam", "pornography", "other"]
    assert score["summary"] == f"abuse material {score['value']:.2f} (Safer Predict)"
    # the fusion counts abuse material on its own: the priority is the value itself
    assert high["priority"]["value"] == pytest.approx(score["value"], abs=1e-4)
    assert high["priority"]["likely"] is True
    assert high["priority"]["summary"] == f"{score['summary']}: priority {score['value']:.2f}"
    assert low["scores"][0]["value"] == pytest.approx(0.0, abs=0.01)
    assert low["priority"]["likely"] is False


def test_5xx_and_429_are_retried_honouring_retry_after(safer: Service, tmp_path: Path) -> None:
    """500 (backoff), 429 with Retry-After: 1 (waited for), 503 without one (backoff)."""
    safer.script = [Answer(500, b"{}"), retry_later(429, 1), Answer(503, b"busy")]
    (row,) = json_lines("classify", str(_picture(tmp_path / "w.png", 255)), "--json")
    assert row["errors"] == [] and row["scores"][0]["value"] > 0.99
    assert safer.requests == 4
    # the Retry-After of 1 s was waited for (a lower bound: no upper one is asserted)
    assert safer.times[2] - safer.times[1] >= 0.9


@pytest.mark.parametrize(
    ("script", "env", "requests", "says"),
    [
        pytest.param(
            [],
            {"VANGNET_SAFER_PREDICT_API_KEY": "bad-key-4321"},
            1,
            "answered HTTP 401",
            id="bad-key",
        ),
        pytest.param([Answer(400, b'{"error": "bad"}')] * 3, {}, 1, "HTTP 400", id="bad-request"),
        pytest.param([Answer(200, b"{not json")], {}, 1, "not JSON", id="malformed-json"),
        pytest.param(
            [Answer(200, b'{"output": {"file": {"classifierPrediction": null}}}')],
            {},
            1,
            "no output.file.classifierPrediction (wrong shape)",
            id="wrong-shape",
        ),
        pytest.param(
            [
                Answer(
                    200,
                    b'{"output": {"file": {"classifierPrediction": {"csam_classifier":'
                    b' {"csam": "high", "pornography": 0, "other": 0}}}}}',
                )
            ],
            {},
            1,
            "csam_classifier.csam is 'high', not a number",
            id="not-a-number",
        ),
        pytest.param(
            [Answer(500, b"oops")] * 5,
            {"VANGNET_SAFER_PREDICT_MAX_RETRIES": "2"},
            3,
            "answered HTTP 500: oops; gave up after 3 tries",
            id="5xx-outlasting-retries",
        ),
        pytest.param(
            [Answer(hang=3.0)] * 2,
            {
                "VANGNET_SAFER_PREDICT_TIMEOUT_SECONDS": "0.3",
                "VANGNET_SAFER_PREDICT_MAX_RETRIES": "1",
            },
            2,
            "no answer within 0.3 s; gave up after 2 tries",
            id="timeouts",
        ),
        pytest.param(
            [retry_later(429, 3600)], {}, 1, "asked to wait 3600 s", id="retry-after-too-long"
        ),
    ],
)
def test_failures_are_surfaced_per_picture(
    safer: Service,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    script: list[Answer],
    env: dict[str, str],
    requests: int,
    says: str,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    safer.script = list(script)
    row = _failed(str(_picture(tmp_path / "w.png", 255)))
    assert row["scores"] == [] and row["priority"]["value"] == 0
    (error,) = row["errors"]
    assert error["classifier"] == "safer_predict" and says in error["message"], error
    assert KEY not in error["message"] and "bad-key-4321" not in error["message"]
    assert safer.requests == requests


def test_loopback_is_refused_without_egress_allow(
    safer: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VANGNET_EGRESS_ALLOW", "[]")
    row = _failed(str(_picture(tmp_path / "w.png", 255)))
    (error,) = row["errors"]
    assert "egress policy refuses 127.0.0.1" in error["message"]
    assert "nothing was sent" in error["message"]
    assert safer.requests == 0


def test_the_rate_limit_holds_at_the_server(
    safer: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """4 requests a second, no burst: 6 requests need at least 1.25 s. Read at the server,
    any 6 consecutive ones span at least 0.9 s (a coarse lower bound that leaves room for a
    slow first request on a loaded machine; nothing is asserted of how fast it went)."""
    monkeypatch.setenv("VANGNET_SAFER_PREDICT_REQUESTS_PER_SECOND", "4")
    paths = [str(_picture(tmp_path / f"{g}.png", g)) for g in range(0, 256, 32)]
    rows = json_lines("classify", *paths, "--json")
    assert [r["errors"] for r in rows] == [[]] * 8
    times = safer.times
    assert len(times) == 8
    assert all(times[i + 5] - times[i] >= 0.9 for i in range(len(times) - 5)), times


def test_enabled_without_endpoint_or_key_is_a_settings_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    picture = str(_picture(tmp_path / "w.png", 255))
    monkeypatch.setenv("VANGNET_CLASSIFIERS", "opennsfw,safer_predict")
    out = invoke("classify", picture, code=ExitCode.INVALID_DATA).output
    assert "VANGNET_SAFER_PREDICT_URL" in out and "VANGNET_SAFER_PREDICT_API_KEY" in out
    monkeypatch.setenv("VANGNET_SAFER_PREDICT_URL", "https://safer.invalid/predict")
    monkeypatch.setenv("VANGNET_SAFER_PREDICT_API_KEY_FILE", str(tmp_path / "missing.key"))
    out = invoke("classify", picture, code=ExitCode.INVALID_DATA).output
    assert "VANGNET_SAFER_PREDICT_API_KEY_FILE" in out and "No such file" in out
    # not enabled: its settings are not needed
    monkeypatch.setenv("VANGNET_CLASSIFIERS", "")
    invoke("classify", picture)


def test_the_key_file_is_read(
    safer: Service, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VANGNET_SAFER_PREDICT_API_KEY")
    (tmp_path / "safer.key").write_text(f"{KEY}\n")
    monkeypatch.setenv("VANGNET_SAFER_PREDICT_API_KEY_FILE", str(tmp_path / "safer.key"))
    (row,) = json_lines("classify", str(_picture(tmp_path / "w.png", 255)), "--json")
    assert row["errors"] == [] and safer.requests == 1


def test_the_conformance_kit_passes_against_the_local_service(safer: Service) -> None:
    settings = Settings(
        classifiers=["safer_predict"],
        safer_predict_url=safer.url,
        safer_predict_api_key=KEY,
        safer_predict_requests_per_second=1000,
    )
    white = np.full((40, 60, 3), 255, np.uint8)
    black = np.zeros((40, 60, 3), np.uint8)
    check_classifier(SaferPredict, ClassifierCases(high=[white], low=[black]), settings)
    assert safer.requests > 10


def test_plugins_lists_it_as_a_remote_service(safer: Service) -> None:
    listed = json.loads(invoke("plugins", "--json").stdout)
    rows = {r["name"]: r for r in listed if r["kind"] == "classifier"}
    for name, licence in (
        ("safer_predict", "LicenseRef-Thorn-Safer"),
        ("google_content_safety", "LicenseRef-Google-Content-Safety-API"),
    ):
        assert rows[name]["licence"] == licence and rows[name]["state"] == "loaded"
        assert rows[name]["measures"] == "abuse_material"
        assert "remote service" in rows[name]["description"]
    assert rows["safer_predict"]["enabled"] is True
    assert rows["google_content_safety"]["enabled"] is False
