"""The priority signal: classifier scores fused into one explainable value (the formula in
`vangnet.signals.classifiers.fusion`), "likely" only from what measures sexual content or
abuse material, thresholds and the prior as settings."""

from __future__ import annotations

import pytest

from vangnet.config import Settings
from vangnet.signals.classifiers.base import Evidence, Score
from vangnet.signals.classifiers.faces import FaceAges
from vangnet.signals.classifiers.fusion import Fusion
from vangnet.signals.classifiers.opennsfw import OpenNsfw

TYPES = {"opennsfw": OpenNsfw, "faces": FaceAges}


def test_a_young_face_keeps_all_of_the_nudity_and_no_face_half() -> None:
    fusion = Fusion.of(TYPES)
    young = fusion.fuse({"opennsfw": 0.9, "faces": 0.8})
    assert young.value == pytest.approx(0.9 * (0.5 + 0.5 * 0.8))
    assert young.likely
    faceless = fusion.fuse({"opennsfw": 0.9, "faces": 0.0})
    assert faceless.value == pytest.approx(0.45) and faceless.likely
    assert young.value > faceless.value


def test_a_face_alone_never_raises_the_priority() -> None:
    """An everyday photo of a child (no nudity) is no reason to look first."""
    fused = Fusion.of(TYPES).fuse({"opennsfw": 0.02, "faces": 0.99})
    assert fused.value == pytest.approx(0.02 * (0.5 + 0.5 * 0.99))
    assert not fused.likely
    only_faces = Fusion.of(TYPES).fuse({"faces": 0.99})
    assert only_faces.value == 0.0 and not only_faces.likely


def test_the_summary_names_each_part_and_its_classifier() -> None:
    nudity = Score("opennsfw", "1", "sexual_content", 0.91, (), "nudity 0.91 (open-nsfw)")
    face = Evidence("face", 0.9, (1, 2, 3, 4), {"age": [6, 9], "minor_probability": 0.97})
    faces = Score("faces", "1", "apparent_age", 0.97, (face,), "1 face, apparent age 6-9")
    fused = Fusion.of(TYPES).fuse({"faces": faces, "opennsfw": nudity})
    assert fused.summary == (
        "nudity 0.91 (open-nsfw); 1 face, apparent age 6-9 (faces): priority 0.90"
    )
    as_json = fused.as_json()
    assert set(as_json) == {"value", "likely", "summary", "parts"}
    assert [p["measures"] for p in as_json["parts"]] == ["sexual_content", "apparent_age"]
    # plain numbers (what a case keeps) with no summary: the measure's word
    bare = Fusion.of(TYPES).fuse({"opennsfw": 0.91})
    assert bare.summary == "nudity 0.91 (opennsfw): priority 0.46"


def test_a_classifier_measuring_abuse_material_counts_on_its_own() -> None:
    """A licensed classifier trained for the material (not installed here: its Score says
    what it measures) and one that is no longer installed (a bare number)."""
    safer = Score("safer", "1", "abuse_material", 0.7, (), "")
    fused = Fusion.of(TYPES).fuse({"safer": safer, "opennsfw": 0.2, "faces": 0.1})
    assert fused.value == pytest.approx(0.7)
    assert fused.likely  # 0.7 >= 0.5, the threshold of a classifier it does not know
    assert fused.parts[0].measures == "abuse_material"
    gone = Fusion.of(TYPES).fuse({"nudity": 0.93})
    assert gone.value == pytest.approx(0.93) and not gone.likely
    assert gone.summary == "nudity 0.93: priority 0.93"


def test_thresholds_and_the_prior_are_settings() -> None:
    settings = Settings(classifier_thresholds={"opennsfw": 0.95}, classifier_minor_prior=1.0)
    fusion = Fusion.from_settings(settings, TYPES)
    fused = fusion.fuse({"opennsfw": 0.9, "faces": 0.0})
    assert fused.value == pytest.approx(0.9) and not fused.likely  # 0.9 < 0.95
    # a stored calibration counts unless the setting names the classifier
    calibrated = Fusion.from_settings(Settings(), TYPES, calibrated={"opennsfw": 0.3})
    assert calibrated.fuse({"opennsfw": 0.35}).likely
    overridden = Fusion.from_settings(settings, TYPES, calibrated={"opennsfw": 0.3})
    assert overridden.threshold("opennsfw") == 0.95


def test_a_threshold_outside_0_1_is_a_settings_error() -> None:
    with pytest.raises(ValueError, match="must be in 0-1"):
        Settings(classifier_thresholds={"opennsfw": 1.5})
