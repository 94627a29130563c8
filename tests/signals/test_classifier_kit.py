"""The classifier conformance kit, on test classifiers and on every built-in one, and the
classifier registry: a classifier that fails to load is reported, not fatal."""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vangnet import plugins
from vangnet.signals.classifiers import base
from vangnet.signals.classifiers.base import Classifier, Evidence, Pixels, Score
from vangnet.signals.classifiers.conformance import ClassifierCases, check_classifier
from vangnet.signals.classifiers.enabled import forget_instances

# Benign photos the bundled sexual-content model must score low (BSDS500 and public domain).
LOW = [
    "photos/public-domain/china.jpg",
    "photos/public-domain/flower.jpg",
    "photos/public-domain/skimage_coffee.png",
    "photos/bsds500/train/100075.jpg",
]


class Brightness(Classifier):
    name = "test_brightness"
    version = "1"
    measures = "brightness"
    description = "Mean brightness (test plug-in)"

    def score_many(self, pictures: Sequence[Pixels]) -> list[Score]:
        return [self._one(float(p.mean()) / 255.0) for p in pictures]

    def _one(self, value: float) -> Score:
        return Score(self.name, self.version, self.measures, value, (Evidence("bright", value),))


class Overflowing(Brightness):
    name = "test_overflowing"

    def score_many(self, pictures: Sequence[Pixels]) -> list[Score]:
        return [self._one(float(p.mean())) for p in pictures]  # not scaled to 0-1


class Scribbling(Brightness):
    name = "test_scribbling"

    def score_many(self, pictures: Sequence[Pixels]) -> list[Score]:
        for p in pictures:
            p[...] = 0
        return [self._one(0.0) for _ in pictures]


class BatchDependent(Brightness):
    name = "test_batch_dependent"

    def score_many(self, pictures: Sequence[Pixels]) -> list[Score]:
        return [self._one(min(1.0, len(pictures) / 10)) for _ in pictures]


class Forgetful(Brightness):
    name = "test_forgetful"

    def score_many(self, pictures: Sequence[Pixels]) -> list[Score]:
        return [self._one(0.5) for _ in pictures[1:]]  # one Score short


class Anonymous(Brightness):
    name = "test_anonymous"

    def score_many(self, pictures: Sequence[Pixels]) -> list[Score]:
        return [Score("someone_else", "1", self.measures, 0.5) for _ in pictures]


class OffThePicture(Brightness):
    name = "test_off_the_picture"

    def score_many(self, pictures: Sequence[Pixels]) -> list[Score]:
        # a box in a fixed 512 x 512 copy, not in the picture given
        found = Evidence("thing", 0.5, box=(400, 400, 100, 100))
        return [Score(self.name, self.version, self.measures, 0.5, (found,)) for _ in pictures]


class NeedsArguments(Brightness):
    name = "test_needs_arguments"

    def __init__(self, model: str) -> None:
        self.model = model


class BadName(Brightness):
    name = "Test-Bad"


class NoVersion(Brightness):
    name = "test_no_version"
    version = ""


def test_a_good_classifier_conforms() -> None:
    white = np.full((64, 64, 3), 255, np.uint8)
    black = np.zeros((64, 64, 3), np.uint8)
    check_classifier(Brightness, ClassifierCases(high=[white], low=[black]))


@pytest.mark.parametrize(
    ("cls", "cases", "why"),
    [
        (Overflowing, None, "not a number in 0-1"),
        (Scribbling, None, "changed the pictures"),
        (BatchDependent, None, "differently in a batch"),
        (Forgetful, None, "one Score per picture"),
        (Anonymous, None, "name its classifier"),
        (OffThePicture, None, "not inside the"),
        (NeedsArguments, None, "cannot be built from its settings"),
        (BadName, None, "lower-case identifier"),
        (NoVersion, None, "version must be"),
        (Brightness, ClassifierCases(high=[np.zeros((8, 8, 3), np.uint8)]), "high picture"),
        (Brightness, ClassifierCases(low=[np.full((8, 8, 3), 255, np.uint8)]), "low picture"),
    ],
)
def test_a_bad_classifier_fails_the_kit(
    cls: type[Classifier], cases: ClassifierCases | None, why: str
) -> None:
    with pytest.raises(AssertionError, match=why):
        check_classifier(cls, cases)


def test_every_built_in_classifier_conforms(shared_data: Path) -> None:
    """Each classifier pyproject.toml registers passes the kit; the sexual-content one scores
    the benign photos low. (The remote ones, `vangnet.remote`, need a service: they pass it
    against local servers in tests/remote.)"""
    built_in = {
        n: c
        for n, c in base.classifier_types().items()
        if c.__module__.startswith("vangnet.") and not c.__module__.startswith("vangnet.remote.")
    }
    assert "opennsfw" in built_in
    low = [np.asarray(Image.open(shared_data / p).convert("RGB")) for p in LOW]
    for cls in built_in.values():
        cases = ClassifierCases(low=low) if cls.measures == "sexual_content" else None
        check_classifier(cls, cases)


def test_a_classifier_that_fails_to_load_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    extra = [
        EntryPoint(name="test_gone", value="vangnet_no_such_plugin:C", group=base.GROUP),
        EntryPoint(name="test_brightness", value=f"{__name__}:Brightness", group=base.GROUP),
    ]

    def with_extra(*, group: str) -> list[EntryPoint]:
        found = list(entry_points(group=group))
        return [*found, *extra] if group == base.GROUP else found

    monkeypatch.setattr(plugins, "entry_points", with_extra)
    base.REGISTRY.reset()
    forget_instances()
    try:
        loaded = base.classifier_types()
        assert loaded["test_brightness"] is Brightness
        assert "opennsfw" in loaded  # the others still load
        assert "ModuleNotFoundError" in base.failed_classifiers()["test_gone"]
    finally:
        monkeypatch.undo()
        base.REGISTRY.reset()
        forget_instances()
