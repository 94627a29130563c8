"""The optional NudeNet classifier (AGPL-3.0 extra, in the dev extra for these tests): it
passes the conformance kit, matches the nudenet package's own detections, gives exposed
parts as evidence with boxes in the pixels of the file as given, scores benign photos below
its threshold, is listed by `vangnet plugins` with its licence, is never in the default set,
and without its package or with another model file it fails with a clear reason."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from cli_invoke import invoke, json_lines
from vangnet.config import Settings
from vangnet.signals.classifiers import nudenet as module
from vangnet.signals.classifiers.base import ClassifierError
from vangnet.signals.classifiers.conformance import ClassifierCases, check_classifier
from vangnet.signals.classifiers.enabled import DEFAULT_SET, enabled_names
from vangnet.signals.classifiers.nudenet import NudeNet

needs_nudenet = pytest.mark.skipif(
    importlib.util.find_spec("nudenet") is None,
    reason="the nudenet extra (AGPL-3.0) is not installed: pip install -e '.[dev]'",
)

FEET = "photos/bsds500/train/113044.jpg"  # a person's bare feet on a beach (BSDS500)
BENIGN = [
    "photos/public-domain/skimage_astronaut.png",
    "photos/public-domain/skimage_chelsea.png",
    "photos/public-domain/skimage_coffee.png",
    "photos/bsds500/train/100075.jpg",
    "photos/bsds500/train/113016.jpg",
    "photos/bsds500/train/106025.jpg",
]


def _rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


@needs_nudenet
def test_it_conforms_and_benign_photos_score_low(shared_data: Path) -> None:
    low = [_rgb(shared_data / p) for p in BENIGN]
    check_classifier(NudeNet, ClassifierCases(low=low, threshold=NudeNet.default_threshold))


@needs_nudenet
def test_the_same_detections_as_the_package(shared_data: Path) -> None:
    from nudenet import NudeDetector

    theirs = NudeDetector().detect(str(shared_data / FEET))
    expected = sorted(
        (d["class"].lower(), round(d["score"], 4), tuple(d["box"]))
        for d in theirs
        if d["class"].endswith("_EXPOSED")
    )
    score = NudeNet().score(_rgb(shared_data / FEET))
    found = sorted((e.label, round(e.score, 4), e.box) for e in score.evidence)
    assert found == expected and found  # feet found, as the package finds them
    assert score.value == 0.0  # exposed feet are not sexual
    assert score.evidence[0].detail == {"sexual": False}
    assert score.summary == "nudity 0.00 (NudeNet: no exposed part)"


@needs_nudenet
def test_boxes_are_in_the_pixels_of_the_file(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The photo at twice its size (962 px, above the classifier's 640): the feet's box is
    twice the one found on the photo itself, within rounding."""
    monkeypatch.setenv("VANGNET_CLASSIFIERS", "nudenet")
    photo = Image.open(shared_data / FEET).convert("RGB")
    big = tmp_path / "big.png"
    photo.resize((photo.width * 2, photo.height * 2), Image.Resampling.LANCZOS).save(big)
    (row,) = json_lines("classify", str(big), "--json")
    (score,) = row["scores"]
    assert score["classifier"] == "nudenet" and score["measures"] == "sexual_content"
    direct = NudeNet().score(np.asarray(photo))
    expected = [2 * v for v in direct.evidence[0].box or ()]
    feet = [e for e in score["evidence"] if e["label"] == "feet_exposed"]
    assert any(all(abs(a - b) <= 12 for a, b in zip(e["box"], expected, strict=True)) for e in feet)


def test_listed_with_its_licence_and_never_a_default() -> None:
    assert "nudenet" not in DEFAULT_SET
    assert "nudenet" not in enabled_names(Settings())
    rows = json.loads(invoke("plugins", "--json").stdout)
    (row,) = [r for r in rows if r["kind"] == "classifier" and r["name"] == "nudenet"]
    assert row["licence"] == "AGPL-3.0-only" and "AGPL-3.0" in row["description"]
    assert row["enabled"] is False and row["state"] == "loaded"


def test_missing_package_or_other_model_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ClassifierError, match=r"pip install 'vangnet\[nudenet\]'"):
        NudeNet()
    (tmp_path / "nudenet").mkdir()
    (tmp_path / "nudenet" / "320n.onnx").write_bytes(b"not the model")

    spec = SimpleNamespace(submodule_search_locations=[str(tmp_path / "nudenet")])
    monkeypatch.setattr(module.importlib.util, "find_spec", lambda name: spec)
    with pytest.raises(ClassifierError, match="not the file this classifier was measured"):
        NudeNet()


def test_never_a_default_dependency() -> None:
    """The service's lock and dependencies leave NudeNet out; the extra and the dev lock
    (for these tests) have it."""
    import tomllib

    repo = Path(__file__).resolve().parents[2]
    project = tomllib.loads((repo / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if d.startswith("nudenet")]
    assert project["optional-dependencies"]["nudenet"] == ["nudenet==3.4.2"]
    assert "nudenet" not in (repo / "requirements.lock").read_text()
    assert "\nnudenet==3.4.2 " in (repo / "requirements-dev.lock").read_text()
