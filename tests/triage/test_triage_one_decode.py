"""A triaged video is decoded once for its hashes and its classifiers: the classify step
scores the frames the hashing pass spread for it, and finds exactly what it finds when it
decodes the video itself."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vangnet.config import Settings
from vangnet.media.video import VideoFrame
from vangnet.signals.classifiers import media
from vangnet.signals.classifiers.enabled import enabled_classifiers
from vangnet.signals.classifiers.media import FrameSpread, spread
from vangnet.triage.result import StepInput
from vangnet.triage.run import analyse
from vangnet.triage.steps import classify_step
from vangnet.triage.tuning import Options

VIDEO = "threatexchange/video/sample-videos/chair-19-sd-bar.mp4"  # letterboxed: bars cropped


def _counting(monkeypatch: pytest.MonkeyPatch, module: Any, counts: dict[str, int]) -> None:
    real = module.iter_video_frames

    def counted(*args: Any, **kwargs: Any) -> Iterator[VideoFrame]:
        counts[module.__name__] = counts.get(module.__name__, 0) + 1
        return real(*args, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(module, "iter_video_frames", counted)


def test_a_video_is_decoded_once_for_its_hashes_and_its_classifiers(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vangnet.signals import vpdq

    monkeypatch.delenv("VANGNET_CLASSIFIERS")  # the suite's conftest turns them off
    data = (shared_data / VIDEO).read_bytes()
    settings = Settings()
    options = Options(ocr=False, metadata=False, workers=1)
    assert enabled_classifiers(settings), "the default set is installed"
    counts: dict[str, int] = {}
    for module in (vpdq, media):
        _counting(monkeypatch, module, counts)

    result = analyse(data, None, options, settings)
    assert result.kind == "video" and result.status == "ok"
    assert counts == {vpdq.__name__: 1}  # the classifiers did not decode it again
    shared = result.findings.other["classifiers"]

    # the step deciding on its own decode finds the very same scores and priority
    alone = classify_step(data, StepInput(kind="video", hashes=result.hashes), options, settings)
    assert counts == {vpdq.__name__: 1, media.__name__: 1}
    assert alone.findings is not None
    assert shared == alone.findings.other["classifiers"]
    assert shared["scores"] and not shared["errors"]


def test_frames_offered_one_by_one_are_spread_as_a_whole_sequence_is() -> None:
    import numpy as np

    side = 32
    for count in (0, 1, 5, 12, 13, 40, 97):
        frames = [
            VideoFrame(n, n / 30, np.full((48, 64, 3), n % 256, np.uint8)) for n in range(count)
        ]
        fed = FrameSpread(6, side)
        for frame in frames:
            fed.add(frame)
        assert [s.frame.number for s in fed.frames()] == [
            s.frame.number for s in spread(iter(frames), 6, side)
        ], count
        assert len(fed.frames()) <= 6
