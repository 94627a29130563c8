"""A query video's sampled frames decoded again for the wider net
(`vangnet.signals.frame_pictures`): the frames asked for come back in one pass from the
start, each exactly the frame that was hashed (its PDQ, bars cropped as when hashing, is the
hashed one); nothing is decoded until a picture is used; pickled, the pictures carry the
video's bytes, not pixels. The clip (a video call, pillarboxed) is composed at test time
from benign photos."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from region_composites import load
from vangnet.errors import MediaError
from vangnet.signals.frame_pictures import FramePictures
from vangnet.signals.pdq import hash_pixels
from vangnet.signals.vpdq import hash_video_variants
from video_composites import call_clips


@pytest.fixture(scope="module")
def clip(shared_data: Path) -> bytes:
    paths = sorted((shared_data / "photos" / "bsds500" / "train").glob("*.jpg"))
    pictures = [load(p) for p in paths[:24]]
    call, _, _ = call_clips(pictures[1], [pictures[10], *pictures[20:24]])
    return call


def test_the_frames_asked_for_are_the_hashed_ones_made_in_one_pass(clip: bytes) -> None:
    sampled = hash_video_variants(clip, fps=1, photo_frames=4).photo_frames
    assert len(sampled) >= 3
    source = FramePictures(clip)
    frames = source.attach(sampled)
    assert all(f.picture is not None and f.content is not None for f in frames)  # pillarboxed
    assert source.passes == 0
    for f in frames[1:]:
        assert f.picture is not None
        f.picture.prefetch()
    for f in frames[1:]:
        assert f.picture is not None and f.content is not None and f.size is not None
        picture = f.picture.picture
        assert picture.size == f.size  # 640x360: within SIDE, not scaled
        box = f.content
        rgb = np.asarray(picture)[box.y : box.y + box.h, box.x : box.x + box.w]
        assert hash_pixels(np.ascontiguousarray(rgb))[0] == f.frame.pdq
    assert source.passes == 1  # the three frames told they were needed: one pass
    first = frames[0].picture
    assert first is not None
    _ = first.picture
    assert source.passes == 2  # a frame not told costs a pass of its own


def test_pickled_pictures_carry_the_bytes_not_pixels(clip: bytes) -> None:
    sampled = hash_video_variants(clip, fps=1, photo_frames=4).photo_frames
    frames = FramePictures(clip).attach(sampled)
    data = pickle.dumps(frames)
    assert len(data) < len(clip) + 20_000  # the video once, no frame's pixels
    again = pickle.loads(data)
    picture = again[-1].picture
    assert picture is not None and picture.picture.size == again[-1].size


def test_a_frame_the_video_does_not_have_is_an_error(clip: bytes) -> None:
    source = FramePictures(clip)
    with pytest.raises(LookupError):
        source.frame(10_000)
    with pytest.raises(MediaError):
        FramePictures(clip[: len(clip) // 3]).frame(140)
