"""Letterbox / pillarbox detection and cropping (`vangnet.media.video.crop_black_bars`)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from vangnet.media.video import VideoFrame, content_box, crop_black_bars, frame_content_box

Rgb = npt.NDArray[np.uint8]


def picture(seed: int, height: int = 90, width: int = 160) -> Rgb:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def boxed(content: Rgb, top: int, bottom: int, left: int, right: int, level: int = 8) -> Rgb:
    height, width = content.shape[:2]
    out = np.full((height + top + bottom, width + left + right, 3), level, dtype=np.uint8)
    out[top : top + height, left : left + width] = content
    return out


def frames(pictures: list[Rgb]) -> Iterator[VideoFrame]:
    return (VideoFrame(i, float(i), rgb) for i, rgb in enumerate(pictures))


def test_pillarbox_and_letterbox_found() -> None:
    assert frame_content_box(boxed(picture(1), 0, 0, 20, 20)) == (0, 90, 20, 180)
    assert frame_content_box(boxed(picture(2), 15, 15, 0, 0)) == (15, 105, 0, 160)


def test_blank_frames_are_not_informative() -> None:
    assert frame_content_box(np.zeros((90, 160, 3), dtype=np.uint8)) is None
    assert content_box([np.zeros((90, 160, 3), dtype=np.uint8)]) is None


def test_box_is_the_union_over_frames() -> None:
    """A row is cut only when it is bar in every informative frame."""
    first = boxed(picture(3), 10, 10, 30, 30)
    second = first.copy()
    second[5:10, 40:150] = picture(4)[:5, :110]  # content reaching into the top bar
    blank = np.zeros_like(first)
    assert content_box([blank, first, second]) == (5, 100, 30, 190)


def test_thin_or_huge_bars_are_left_alone() -> None:
    assert content_box([boxed(picture(5), 0, 0, 1, 1)]) is None  # 1 px of 162: encoder edge
    dark_scene = boxed(picture(6, 20, 160), 35, 35, 0, 0)  # 20 of 90 rows bright
    assert content_box([dark_scene]) is None


def test_grey_or_textured_borders_are_content() -> None:
    assert content_box([boxed(picture(7), 0, 0, 20, 20, level=60)]) is None
    textured = boxed(picture(8), 0, 0, 20, 20)
    textured[::2, :20] = 45  # dark (mean 22) but striped: not a flat bar
    assert content_box([textured]) == (0, 90, 0, 180)


def test_crop_black_bars_crops_every_frame_the_same() -> None:
    pictures = [boxed(picture(seed), 0, 0, 16, 16) for seed in range(30)]
    pictures[20][:, :16] = 200  # later frames do not move the box found on the first ones
    out = list(crop_black_bars(frames(pictures)))
    assert [f.number for f in out] == list(range(30))
    assert all(f.rgb.shape == (90, 160, 3) for f in out)
    assert np.array_equal(out[3].rgb, pictures[3][:, 16:176])


def test_crop_black_bars_without_bars_or_frames() -> None:
    pictures = [picture(seed) for seed in range(3)]
    out = list(crop_black_bars(frames(pictures)))
    assert all(a.rgb is b for a, b in zip(out, pictures, strict=True))
    assert list(crop_black_bars(frames([]))) == []
