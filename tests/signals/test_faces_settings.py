"""The faces detector's values are settings (``faces_detect_threshold``, ``faces_upsample``,
``faces_max_side``): the defaults run `FaceAges` as measured; other values run a classifier
with those values whose version names them (so a calibration of other values does not
apply), one instance per distinct set of values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vangnet.config import Settings
from vangnet.errors import ValidationError
from vangnet.signals.classifiers.enabled import enabled_classifiers, forget_instances
from vangnet.signals.classifiers.faces import FaceAges

PHOTO = "photos/public-domain/skimage_astronaut.png"


def test_defaults_are_the_measured_classifier() -> None:
    settings = Settings(classifiers=["faces"])
    assert (settings.faces_detect_threshold, settings.faces_upsample) == (0.15, 1)
    assert settings.faces_max_side == 480
    assert FaceAges.version_for(settings) == FaceAges.version
    assert FaceAges.settings_key(settings) == (0.15, 1, 480)


def test_other_values_change_the_version_and_the_scores(shared_data: Path) -> None:
    forget_instances()
    try:
        picture = np.asarray(Image.open(shared_data / PHOTO).convert("RGB"))
        (default,) = enabled_classifiers(Settings(classifiers=["faces"]))
        assert type(default) is FaceAges
        assert len(default.score(picture).evidence) == 1  # the astronaut's face

        strict = Settings(classifiers=["faces"], faces_detect_threshold=3.0)
        (found,) = enabled_classifiers(strict)
        assert found.version == f"{FaceAges.version}+t3" == FaceAges.version_for(strict)
        assert isinstance(found, FaceAges) and found.min_detection_score == 3.0
        score = found.score(picture)
        assert score.version == found.version and score.evidence == () and score.value == 0.0

        both = Settings(classifiers=["faces"], faces_upsample=0, faces_max_side=640)
        (other,) = enabled_classifiers(both)
        assert other.version == f"{FaceAges.version}+up0+side640"
        assert (other.max_side, other.upsample) == (640, 0)  # type: ignore[attr-defined]
        # shared per distinct values: the same instance again, the default one untouched
        assert enabled_classifiers(both)[0] is other
        assert enabled_classifiers(Settings(classifiers=["faces"]))[0] is default
    finally:
        forget_instances()


@pytest.mark.parametrize(
    ("name", "value"),
    [("faces_upsample", 4), ("faces_max_side", 10), ("faces_detect_threshold", 5)],
)
def test_out_of_range_values_are_refused(name: str, value: float) -> None:
    with pytest.raises((ValueError, ValidationError)):
        Settings(**{name: value})
