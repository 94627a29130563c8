"""The classifier conformance kit, on test classifiers (none ships with Vangnet), and the
classifier registry: a classifier that fails to load is reported, not fatal."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

import numpy as np
import numpy.typing as npt
import pytest

from vangnet import plugins
from vangnet.live import classifiers
from vangnet.live.classifier_conformance import ClassifierCases, check_classifier
from vangnet.live.classifiers import FrameClassifier


class Brightness(FrameClassifier):
    name = "test_brightness"
    description = "Mean brightness (test plug-in)"

    def score(self, pixels: npt.NDArray[np.uint8]) -> float:
        return float(pixels.mean()) / 255.0


class Overflowing(Brightness):
    name = "test_overflowing"

    def score(self, pixels: npt.NDArray[np.uint8]) -> float:
        return float(pixels.mean())  # not scaled to 0-1


class Scribbling(Brightness):
    name = "test_scribbling"

    def score(self, pixels: npt.NDArray[np.uint8]) -> float:
        pixels[...] = 0
        return 0.0


def test_a_good_classifier_conforms() -> None:
    white = np.full((64, 64, 3), 255, np.uint8)
    black = np.zeros((64, 64, 3), np.uint8)
    check_classifier(Brightness, ClassifierCases(high=[white], low=[black]))


@pytest.mark.parametrize(
    ("cls", "why"),
    [(Overflowing, "not a number in 0-1"), (Scribbling, "changed the pixels")],
)
def test_a_bad_classifier_fails_the_kit(cls: type[FrameClassifier], why: str) -> None:
    with pytest.raises(AssertionError, match=why):
        check_classifier(cls)


def test_a_classifier_that_fails_to_load_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    extra = [
        EntryPoint(name="test_gone", value="vangnet_no_such_plugin:C", group=classifiers.GROUP),
        EntryPoint(name="test_brightness", value=f"{__name__}:Brightness", group=classifiers.GROUP),
    ]

    def with_extra(*, group: str) -> list[EntryPoint]:
        found = list(entry_points(group=group))
        return [*found, *extra] if group == classifiers.GROUP else found

    monkeypatch.setattr(plugins, "entry_points", with_extra)
    classifiers.REGISTRY.reset()
    classifiers.installed_classifiers.cache_clear()
    try:
        assert [type(c) for c in classifiers.installed_classifiers()] == [Brightness]
        assert "ModuleNotFoundError" in classifiers.failed_classifiers()["test_gone"]
    finally:
        monkeypatch.undo()
        classifiers.REGISTRY.reset()
        classifiers.installed_classifiers.cache_clear()
