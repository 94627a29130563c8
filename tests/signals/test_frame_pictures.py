"""A query video's sampled frames decoded again for the wider net
(`vangnet.signals.frame_pictures`): the frames asked for come back together in one round (by
seeking), each exactly the frame that was hashed (its PDQ, bars cropped as when hashing, is
the hashed one); a frame the seek does not give back as hashed is decoded from the start by
its number; nothing is decoded until a picture is used; pickled, the pictures carry the
video's bytes, not pixels. The clip (a video call, pillarboxed) is composed at test time
from benign photos."""

from __future__ import annotations

import pickle
from dataclasses import replace
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


def test_the_frames_asked_for_are_the_hashed_ones_made_in_one_round(clip: bytes) -> None:
    sampled = hash_video_variants(clip, fps=1, photo_frames=4).photo_frames
    assert len(sampled) >= 3
    source = FramePictures(clip)
    frames = source.attach(sampled)
    assert all(f.picture is not None and f.content is not None for f in frames)  # pillarboxed
    assert source.rounds == 0
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
    assert source.rounds == 1  # the frames told they were needed: one round
    assert source.from_start == 0  # all found by seeking, each the hashed frame
    first = frames[0].picture
    assert first is not None
    _ = first.picture
    assert source.rounds == 2  # a frame not told costs a round of its own


def test_a_frame_a_seek_does_not_give_back_as_hashed_is_decoded_from_the_start(
    clip: bytes,
) -> None:
    sampled = list(hash_video_variants(clip, fps=1, photo_frames=4).photo_frames)
    last = sampled[-1]
    other = sampled[0].frame.pdq  # as if the seek landed elsewhere: the PDQs disagree
    sampled[-1] = replace(last, frame=replace(last.frame, pdq=other))
    source = FramePictures(clip)
    frames = source.attach(sampled)
    picture = frames[-1].picture
    assert picture is not None
    made = np.asarray(picture.picture)
    assert source.from_start == 1
    box = last.content
    assert box is not None
    rgb = np.ascontiguousarray(made[box.y : box.y + box.h, box.x : box.x + box.w])
    assert hash_pixels(rgb)[0] == last.frame.pdq  # by its number: the frame hashed


def test_pickled_pictures_carry_the_bytes_not_pixels(clip: bytes) -> None:
    sampled = hash_video_variants(clip, fps=1, photo_frames=4).photo_frames
    source = FramePictures(clip)
    data = pickle.dumps((source, source.attach(sampled)))
    assert len(data) < len(clip) + 20_000  # the video once, no frame's pixels
    source, again = pickle.loads(data)
    picture = again[-1].picture
    assert picture is not None and picture.picture.size == again[-1].size
    assert (source.rounds, source.from_start) == (1, 0)  # still found by seeking


def test_a_frame_the_video_does_not_have_is_an_error(clip: bytes) -> None:
    source = FramePictures(clip)
    with pytest.raises(LookupError):
        source.frame(10_000)
    with pytest.raises(MediaError):
        FramePictures(clip[: len(clip) // 3]).frame(140)
