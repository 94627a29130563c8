"""``vpdq`` is Meta's vPDQ, frame for frame; the bar-cropped frames are ``vpdq_cropped``.

Every sample video is hashed as `vangnet hash` hashes it and compared with Meta's reference
hashes (`vpdq-hashes/<video>.txt`, one line per frame: frame, quality, PDQ, seconds)."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from vangnet.cli import app
from vangnet.config import get_settings
from vangnet.signals.hashing import hash_file, signal_values
from vangnet.signals.pdq import pdq_distance
from vangnet.signals.registry import signal_types
from vangnet.signals.vpdq import VpdqCroppedSignal, VpdqSignal, frames_of

REPO = Path(__file__).resolve().parents[2]
ROOT = Path(os.environ.get("VANGNET_SHARED_DATA", REPO.parent / "shared/data")) / (
    "threatexchange/video"
)  # as the shared_data fixture; needed at collection to list the videos
VIDEOS = sorted(p.name for p in (ROOT / "sample-videos").glob("*.mp4"))
#: The videos without letterbox / pillarbox bars (`crop_black_bars` finds bars in the rest).
UNBARRED = {"doorknob-hd-no-bar.mp4", "pattern-hd-no-bar.mp4", "pattern-longer-no-bar.mp4"}


@cache
def hashed(name: str) -> dict[str, Any]:
    return hash_file(ROOT / "sample-videos" / name, settings=get_settings())


def reference(name: str) -> dict[int, tuple[int, str]]:
    """Meta's hashes of every frame: frame number -> (quality, PDQ)."""
    lines = (ROOT / "vpdq-hashes" / name.replace(".mp4", ".txt")).read_text().split()
    return {int(n): (int(q), h) for n, q, h, _t in (line.split(",") for line in lines)}


def within(frames: list[dict[str, Any]], ref: dict[int, tuple[int, str]], bits: int = 31) -> float:
    """Share of ``frames`` within ``bits`` of Meta's hash of the same frame."""
    return sum(pdq_distance(f["pdq"], ref[f["frame"]][1]) <= bits for f in frames) / len(frames)


def test_every_sample_video_has_a_reference() -> None:
    assert len(VIDEOS) == 14
    for name in VIDEOS:
        assert reference(name), name


@pytest.mark.parametrize("name", VIDEOS, ids=lambda n: n.removesuffix(".mp4"))
def test_vpdq_is_meta_vpdq(name: str) -> None:
    """At least 90 % of the frames of every sample video within 31 bits of Meta's hashes,
    with the same quality. Blank frames (quality 0 in Meta's output: a near-black frame has
    no features, its hash is noise and vPDQ matchers drop it) are not counted: measured, the
    only one is frame 60 of the doorknob video (52 bits; every frame counted, that video is
    at 3 of 4)."""
    result = hashed(name)
    ref = reference(name)
    assert all(abs(f["quality"] - ref[f["frame"]][0]) <= 1 for f in result["vpdq"]), name
    featured = [f for f in result["vpdq"] if ref[f["frame"]][0] > 0]
    assert len(featured) >= 3
    assert len(featured) >= len(result["vpdq"]) - 1
    assert within(featured, ref) >= 0.9, name


@pytest.mark.parametrize("name", VIDEOS, ids=lambda n: n.removesuffix(".mp4"))
def test_vpdq_cropped_only_for_videos_with_bars(name: str) -> None:
    result = hashed(name)
    if name in UNBARRED:
        assert "vpdq_cropped" not in result
        return
    cropped = result["vpdq_cropped"]
    assert [f["frame"] for f in cropped] == [f["frame"] for f in result["vpdq"]]
    # the cropped frames are another signal: far from Meta's (the old ``vpdq``)
    assert within(cropped, reference(name)) < 0.5
    stored = signal_values(result)
    assert VpdqCroppedSignal.frames(stored["vpdq_cropped"])[0].pdq == cropped[0]["pdq"]


def test_padded_dimensions_whole_frames_and_cropped_frames() -> None:
    """The issue's example: cropped frames were 84-108 bits from Meta's; whole ones 0-4."""
    result = hashed("test-padded-dimensions.mp4")
    ref = reference("test-padded-dimensions.mp4")
    whole = [pdq_distance(f["pdq"], ref[f["frame"]][1]) for f in result["vpdq"]]
    cropped = [pdq_distance(f["pdq"], ref[f["frame"]][1]) for f in result["vpdq_cropped"]]
    assert max(whole) <= 8, whole
    assert min(cropped) > 31, cropped


def test_vangnet_hash_json_prints_the_standard_vpdq(tmp_path: Path) -> None:
    path = ROOT / "sample-videos" / "test-padded-dimensions.mp4"
    result = CliRunner().invoke(app, ["hash", str(path), "--json"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    ref = reference(path.name)
    assert within(printed["vpdq"], ref) >= 0.9
    assert within(printed["vpdq_cropped"], ref) < 0.5


def test_cropped_signal_type_is_registered_and_documented() -> None:
    installed = signal_types()
    assert installed["vpdq"] is VpdqSignal
    assert installed["vpdq_cropped"] is VpdqCroppedSignal
    assert "standard" in VpdqSignal.description
    assert "not standard" in VpdqCroppedSignal.description
    assert VpdqSignal.matched_with == ("vpdq_cropped",)
    assert VpdqCroppedSignal.matched_with == ("vpdq",)
    frames = frames_of(hashed("chair-20-sd-bar.mp4")["vpdq_cropped"])
    value = VpdqCroppedSignal.serialize(frames)
    assert VpdqCroppedSignal.validate(value) == value == VpdqSignal.validate(value)
