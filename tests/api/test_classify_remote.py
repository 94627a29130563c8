"""POST /v1/classify with a remote classifier (Thorn Safer Predict) enabled, against a real
HTTP server on 127.0.0.1 in the documented answer shape: the score and the fused priority
in the answer; a picture the service fails (after its retries) or the egress policy
refuses named in ``errors`` and counted in ``vangnet_classifier_failed_pictures_total``."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from PIL import Image

from remote_services import KEY, Answer, Service, run_service
from vangnet.signals.classifiers.enabled import forget_instances

from .conftest import AppFactory

# The route reads no table: SQLite is enough.
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

FAILED = "vangnet_classifier_failed_pictures_total"


def _png(grey: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), (grey, grey, grey)).save(buffer, "PNG")
    return buffer.getvalue()


def _failed(text: str) -> float:
    prefix = f'{FAILED}{{classifier="safer_predict"}} '
    found = [line for line in text.splitlines() if line.startswith(prefix)]
    return float(found[0].removeprefix(prefix)) if found else 0.0


@pytest.fixture
def safer() -> Iterator[Service]:
    forget_instances()
    with run_service("safer") as service:
        yield service
    forget_instances()


def test_an_upload_is_scored_by_the_remote_service_and_failures_are_counted(
    safer: Service, make_client: AppFactory, admin_key: str
) -> None:
    client = make_client(
        classifiers=["safer_predict"],
        safer_predict_url=safer.url,
        safer_predict_api_key=KEY,
        safer_predict_max_retries=1,
        safer_predict_requests_per_second=100,
    )
    client.headers["X-API-Key"] = admin_key
    answer = client.post("/v1/classify", content=_png(255))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["classifiers"] == ["safer_predict"] and body["errors"] == []
    (score,) = body["scores"]
    assert score["measures"] == "abuse_material" and score["value"] > 0.99
    assert body["priority"]["value"] == score["value"] and body["priority"]["likely"] is True
    assert safer.requests == 1

    before = _failed(client.get("/v1/metrics").text)
    safer.script = [Answer(500, b"down"), Answer(502, b"down")]  # more than its one retry
    failed = client.post("/v1/classify", content=_png(255))
    assert failed.status_code == 200, failed.text  # the upload is answered, the failure named
    (error,) = failed.json()["errors"]
    assert error["classifier"] == "safer_predict"
    assert "answered HTTP 502: down; gave up after 2 tries" in error["message"]
    assert failed.json()["scores"] == []
    assert _failed(client.get("/v1/metrics").text) - before == 1
    assert safer.requests == 3


def test_loopback_refused_by_the_egress_policy_is_named_and_counted(
    safer: Service, make_client: AppFactory, admin_key: str
) -> None:
    client = make_client(
        classifiers=["safer_predict"],
        safer_predict_url=safer.url,
        safer_predict_api_key=KEY,
        egress_allow=[],
    )
    client.headers["X-API-Key"] = admin_key
    before = _failed(client.get("/v1/metrics").text)
    body = client.post("/v1/classify", content=_png(0)).json()
    (error,) = body["errors"]
    assert "egress policy refuses 127.0.0.1" in error["message"]
    assert _failed(client.get("/v1/metrics").text) - before == 1
    assert safer.requests == 0
