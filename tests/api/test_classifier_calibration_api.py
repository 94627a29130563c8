"""``POST /v1/classify`` applies the deployment's stored classifier calibration (`vangnet
classifiers evaluate --save`): ``priority.likely`` follows the stored threshold of the
installed model version, and the review queue's weights are built with it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from stamped_classifier import NAME, registered, stamp
from vangnet.config import Settings
from vangnet.review.classifier_calibration import calibrated_thresholds, stored_thresholds
from vangnet.review.priority import PriorityWeights
from vangnet.store.db import make_engine
from vangnet.store.models import ClassifierCalibration

from .conftest import AppFactory

PHOTO = "photos/public-domain/skimage_astronaut.png"


@pytest.fixture
def stamped() -> Iterator[None]:
    with registered():
        yield


def _store(db_url: str, version: str, threshold: float) -> None:
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            session.add(
                ClassifierCalibration(
                    classifier=NAME,
                    version=version,
                    threshold=threshold,
                    target_precision=0.99,
                    figures={},
                    labels=10,
                    labels_sha256="0" * 64,
                    actor="test",
                )
            )
            session.commit()
    finally:
        engine.dispose()


def test_classify_follows_the_stored_threshold(
    stamped: None,
    make_client: AppFactory,
    admin_key: str,
    db_url: str,
    shared_data: Path,
    tmp_path: Path,
) -> None:
    probe = stamp(shared_data / PHOTO, 0.7, tmp_path / "probe.png").read_bytes()
    client = make_client(classifiers=[NAME])
    client.headers["X-API-Key"] = admin_key
    assert client.post("/v1/classify", content=probe).json()["priority"]["likely"] is True
    _store(db_url, "0", 0.2)  # another model version: does not apply
    assert client.post("/v1/classify", content=probe).json()["priority"]["likely"] is True
    _store(db_url, "1", 0.8)
    body = client.post("/v1/classify", content=probe).json()
    assert body["scores"][0]["value"] == 0.7 and body["priority"]["likely"] is False

    settings = Settings(database_url=db_url, classifiers=[NAME])
    engine = make_engine(db_url)
    try:
        with Session(engine) as session:
            assert stored_thresholds(session, {NAME: "1"}) == {NAME: 0.8}
            assert stored_thresholds(session, {NAME: "2"}) == {}
            calibrated = calibrated_thresholds(session, settings)
    finally:
        engine.dispose()
    assert calibrated == {NAME: 0.8}
    weights = PriorityWeights.from_settings(settings, calibrated)
    assert weights.fusion is not None and weights.fusion.threshold(NAME) == 0.8
    overridden = Settings(database_url=db_url, classifier_thresholds={NAME: 0.6})
    fusion = PriorityWeights.from_settings(overridden, calibrated).fusion
    assert fusion is not None and fusion.threshold(NAME) == 0.6
