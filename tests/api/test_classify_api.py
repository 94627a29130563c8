"""POST /v1/classify: an upload (raw or multipart; photo or video) scored by the enabled
classifiers (open-nsfw, for real), with its key, its limits and bad input refused; the
OpenAPI schema lists it. Nothing is stored."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from vangnet.signals.classifiers import base
from vangnet.signals.classifiers.base import Classifier, Pixels, Score
from vangnet.signals.classifiers.enabled import forget_instances

from .conftest import VIDEOS, AppFactory, make_key

PHOTO = Path("photos/public-domain/skimage_astronaut.png")


# The route reads no table: SQLite is enough.
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def test_an_upload_is_scored(make_client: AppFactory, admin_key: str, shared_data: Path) -> None:
    client = make_client(classifiers=["opennsfw"], classify_video_frames=2)
    client.headers["X-API-Key"] = admin_key
    data = (shared_data / PHOTO).read_bytes()
    raw = client.post("/v1/classify", content=data)
    assert raw.status_code == 200, raw.text
    body = raw.json()
    assert body["classifiers"] == ["opennsfw"] and body["content_type"] == "photo"
    (score,) = body["scores"]
    assert score["classifier"] == "opennsfw" and 0 <= score["value"] < 0.5
    assert body["summary"] == f"nudity {score['value']:.2f} (open-nsfw)"
    assert body["errors"] == []
    form = client.post("/v1/classify", files={"file": ("astronaut.png", data, "image/png")})
    assert form.status_code == 200
    assert form.json()["path"] == "astronaut.png"
    assert form.json()["scores"] == body["scores"]  # the same picture, the same score

    video = (shared_data / VIDEOS / "doorknob-hd-no-bar.mp4").read_bytes()
    clip = client.post("/v1/classify", content=video).json()
    assert clip["content_type"] == "video" and len(clip["frames"]) == 2
    assert (
        "classify"
        in client.get("/openapi.json").json()["paths"]["/v1/classify"]["post"]["operationId"]
    )


def test_keys_limits_and_bad_input(make_client: AppFactory, db_url: str, shared_data: Path) -> None:
    client = make_client(classifiers=["opennsfw"], max_upload_bytes=100_000)
    data = (shared_data / PHOTO).read_bytes()
    assert client.post("/v1/classify", content=data).status_code == 401  # no key
    reviewer = make_key(db_url, "reviewer")  # no match permission
    matcher = make_key(db_url, "matcher")
    bad = client.post("/v1/classify", content=b"not a picture", headers={"X-API-Key": matcher})
    assert bad.status_code in (415, 422), bad.text
    assert bad.json()["error"]["code"] in ("unsupported_media_type", "unreadable_media")
    too_big = client.post("/v1/classify", content=data, headers={"X-API-Key": matcher})
    assert len(data) > 100_000 and too_big.status_code == 413
    empty = client.post("/v1/classify", content=b"", headers={"X-API-Key": matcher})
    assert empty.status_code == 422 and empty.json()["error"]["code"] == "empty_input"
    small = (shared_data / "photos/bsds500/train/100075.jpg").read_bytes()
    ok = client.post("/v1/classify", content=small, headers={"X-API-Key": matcher})
    assert ok.status_code == 200, ok.text
    denied = client.post("/v1/classify", content=small, headers={"X-API-Key": reviewer})
    assert denied.status_code == 403  # as /v1/match: the match permission decides


def test_no_classifier_enabled_answers_without_scores(
    client: TestClient, shared_data: Path
) -> None:
    """The suite's deployments run none (VANGNET_CLASSIFIERS empty): an answer, no score."""
    body = client.post("/v1/classify", content=(shared_data / PHOTO).read_bytes()).json()
    assert body["classifiers"] == [] and body["scores"] == [] and body["errors"] == []


class _Failing(Classifier):
    """A classifier plug-in whose model breaks on every picture."""

    name = "test_api_failing"
    version = "1"
    measures = "brightness"

    def score_many(self, pictures: Sequence[Pixels]) -> list[Score]:
        raise RuntimeError("model broke")


class _WontStart(_Failing):
    name = "test_api_wont_start"

    def __init__(self) -> None:
        raise OSError("weights not found")


@pytest.fixture
def failing() -> Iterator[None]:
    for cls in (_Failing, _WontStart):
        base.REGISTRY.register(cls)
    forget_instances()
    try:
        yield
    finally:
        for cls in (_Failing, _WontStart):
            base.REGISTRY.unregister(cls.name)
        forget_instances()


def _metric(text: str, name: str, classifier: str) -> float:
    prefix = f'{name}{{classifier="{classifier}"}} '
    found = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(found[0].removeprefix(prefix)) if found else 0.0


def test_a_failing_classifier_is_named_and_counted_in_metrics(
    failing: None, make_client: AppFactory, admin_key: str, shared_data: Path
) -> None:
    """A classifier that fails on an upload: the answer names it under ``errors`` and
    ``GET /v1/metrics`` counts the picture; one whose model could not start is shown."""
    client = make_client(classifiers=["opennsfw", "test_api_failing", "test_api_wont_start"])
    client.headers["X-API-Key"] = admin_key
    name = "vangnet_classifier_failed_pictures_total"
    before = client.get("/v1/metrics").text
    body = client.post("/v1/classify", content=(shared_data / PHOTO).read_bytes()).json()
    assert [s["classifier"] for s in body["scores"]] == ["opennsfw"]
    errors = {e["classifier"]: e["message"] for e in body["errors"]}
    assert "model broke" in errors["test_api_failing"]
    assert "weights not found" in errors["test_api_wont_start"]
    after = client.get("/v1/metrics").text
    for classifier in ("test_api_failing", "test_api_wont_start"):
        assert _metric(after, name, classifier) - _metric(before, name, classifier) == 1
    assert _metric(after, name, "opennsfw") == _metric(before, name, "opennsfw")
    assert _metric(after, "vangnet_classifier_unstarted", "test_api_wont_start") == 1
    assert _metric(after, "vangnet_classifier_unstarted", "test_api_failing") == 0
