"""A picture rotated by a small angle inside flat corner wedges (`vangnet.media.regions.deskew`):
its angle and rectangle read from the pixels, and the picture turned back upright.

Pictures are BSDS500 photos of ``../shared/data``, rotated in memory with Pillow (canvas
expanded, the corners filled with one colour), as PNG or JPEG."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vangnet.media.regions.deskew import MIN_ANGLE, find_skewed, upright
from vangnet.media.regions.edges import Box, luma
from vangnet.signals.pdq import hash_image, pdq_distance
from vangnet.signals.regions import propose

#: The estimate is within this many degrees of the rotation (measured: within 0.07).
ANGLE_SLACK = 0.5


def _photos(shared_data: Path, count: int, folder: str = "test") -> list[Image.Image]:
    paths = sorted((shared_data / "photos" / "bsds500" / folder).glob("*.jpg"))[:count]
    return [Image.open(io.BytesIO(p.read_bytes())).convert("RGB") for p in paths]


def _rotated(photo: Image.Image, angle: float, fill: int, jpeg: bool = False) -> np.ndarray:
    out = photo.rotate(angle, Image.Resampling.BICUBIC, expand=True, fillcolor=(fill,) * 3)
    if jpeg:
        buf = io.BytesIO()
        out.save(buf, format="JPEG", quality=75)
        out = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return np.asarray(out, dtype=np.uint8)


@pytest.mark.parametrize("fill", [0, 255, 128])
@pytest.mark.parametrize("angle", [0.5, -1.0, 4.0, -7.0, 12.0])
def test_the_angle_and_rectangle_of_a_rotated_photo_are_read(
    shared_data: Path, angle: float, fill: int
) -> None:
    for i, photo in enumerate(_photos(shared_data, 4)):
        rgb = _rotated(photo, angle, fill, jpeg=i % 2 == 1)
        skewed = find_skewed(luma(rgb), 64)
        assert skewed is not None, (i, angle, fill)
        assert abs(skewed.angle - angle) <= ANGLE_SLACK, (i, skewed)
        # its own size (sides may swap: a quarter turn more is a dihedral variant)
        assert abs(skewed.width - photo.width) <= 2 and abs(skewed.height - photo.height) <= 2
        assert abs(skewed.cx - rgb.shape[1] / 2) <= 1.5 and abs(skewed.cy - rgb.shape[0] / 2) <= 1.5
        # turned back upright, it hashes as the photo does
        back = upright(rgb, skewed)
        assert back.shape[:2] == (round(skewed.height), round(skewed.width))
        assert pdq_distance(hash_image(Image.fromarray(back))[0], hash_image(photo)[0]) <= 20


@pytest.mark.parametrize("angle", [2.0, -7.0, 10.0])
def test_the_angle_of_a_photo_rotated_on_a_canvas_of_its_own_size_is_read(
    shared_data: Path, angle: float
) -> None:
    """``rotate`` without expanding: the photo's corners are cut off, small wedges fill the
    canvas corners; its rectangle (the photo's own size, centred) reaches out of the canvas.
    A photo whose own corner has the wedges' colour hides a wedge (`benchmarks.deskew`:
    0.9-0.95 of 40 photos read; here 10, 10 and 9 of the 12), so 9 of 12 must be, and 8
    within PDQ 31 of the photo once upright (the cut-off corners cost the rest)."""
    read = matched = 0
    for i, (photo, fill) in enumerate(itertools.product(_photos(shared_data, 6), (0, 255))):
        rotated = photo.rotate(angle, Image.Resampling.BICUBIC, fillcolor=(fill,) * 3)
        rgb = np.asarray(rotated, dtype=np.uint8)
        skewed = find_skewed(luma(rgb), 64)
        if skewed is None:
            continue
        read += 1
        assert abs(skewed.angle - angle) <= ANGLE_SLACK, (i, skewed)
        assert abs(skewed.width - photo.width) <= 2 and abs(skewed.height - photo.height) <= 2
        assert abs(skewed.cx - photo.width / 2) <= 1.5 and abs(skewed.cy - photo.height / 2) <= 1.5
        assert skewed.box(photo.width, photo.height) == Box(0, 0, photo.width, photo.height)
        back = Image.fromarray(upright(rgb, skewed))
        matched += pdq_distance(hash_image(back)[0], hash_image(photo)[0]) <= 31
    assert read >= 9 and matched >= 8, (read, matched)


def test_the_angle_of_a_rotated_photo_on_a_larger_flat_page_is_read(shared_data: Path) -> None:
    photo = _photos(shared_data, 1)[0]
    rotated = photo.rotate(-5.0, Image.Resampling.BICUBIC, expand=True, fillcolor=(240,) * 3)
    page = Image.new("RGB", (rotated.width + 300, rotated.height + 160), (240, 240, 240))
    page.paste(rotated, (200, 40))
    skewed = find_skewed(luma(np.asarray(page, dtype=np.uint8)), 64)
    assert skewed is not None and abs(skewed.angle + 5.0) <= ANGLE_SLACK, skewed
    assert abs(skewed.cx - (200 + rotated.width / 2)) <= 1.5
    assert abs(skewed.cy - (40 + rotated.height / 2)) <= 1.5


def test_no_rotation_is_read_where_there_is_none(shared_data: Path) -> None:
    photos = _photos(shared_data, 30, "val")
    for photo in photos:  # plain photos: corners of many colours
        assert find_skewed(luma(np.asarray(photo, dtype=np.uint8)), 64) is None
    for photo in photos[:6]:  # flat wedges of a turn too small to matter, plain padding
        rgb = _rotated(photo, MIN_ANGLE / 2, 0)
        assert find_skewed(luma(rgb), 64) is None
        padded = Image.new("RGB", (photo.width + 80, photo.height + 60), (0, 0, 0))
        padded.paste(photo, (40, 30))
        assert find_skewed(luma(np.asarray(padded, dtype=np.uint8)), 64) is None
    # a round object on a white page: flat corners, but its outline is no rectangle
    page = np.full((400, 600, 3), 255, np.uint8)
    yy, xx = np.mgrid[:400, :600]
    disc = (yy - 200) ** 2 + (xx - 300) ** 2 < 150**2
    page[disc] = np.asarray(photos[0].resize((600, 400)), dtype=np.uint8)[disc]
    assert find_skewed(luma(page), 64) is None


def test_plain_photos_get_no_deskewed_proposal_and_rotated_ones_get_one_first(
    shared_data: Path,
) -> None:
    photos = _photos(shared_data, 20, "val")
    for photo in photos:
        kinds = [p.kind for p in propose(np.asarray(photo, np.uint8), most=8, min_side=64)]
        assert "deskewed" not in kinds
    rgb = _rotated(photos[0], -7.0, 255)
    (first, *_) = propose(rgb, most=8, min_side=64)
    assert first.kind == "deskewed" and first.skewed is not None
    assert abs(first.skewed.angle + 7.0) <= ANGLE_SLACK
    # its box is the rotated picture's bounding box: here the whole canvas
    assert abs(first.box.w - rgb.shape[1]) <= 2 and abs(first.box.h - rgb.shape[0]) <= 2
