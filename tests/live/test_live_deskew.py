"""A live sample showing a banked photo turned by a few degrees is hashed turned back upright,
as `vangnet match` hashes it (`vangnet.signals.regions`), not as its bounding box."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from region_composites import load
from vangnet.config import Settings
from vangnet.live.regions import StreamRegions
from vangnet.signals.pdq import hash_pixels, pdq_distance


def test_a_turned_photo_in_a_sample_is_hashed_upright(shared_data: Path) -> None:
    photo = load(sorted((shared_data / "photos" / "bsds500" / "test").glob("*.jpg"))[1])
    banked, _ = hash_pixels(np.asarray(photo))
    turned = photo.rotate(6, Image.Resampling.BICUBIC, expand=True, fillcolor=(0, 0, 0))
    pixels = np.ascontiguousarray(np.asarray(turned, dtype=np.uint8))
    whole, _ = hash_pixels(pixels)
    assert pdq_distance(whole, banked) > 31  # the whole sample does not match

    hashes = StreamRegions().hashes(pixels, Settings(), dihedral=False)
    deskewed = [r for r in hashes if r.kind == "deskewed"]
    assert len(deskewed) == 1 and abs(deskewed[0].angle - 6) < 0.5
    assert deskewed[0].transform(None).startswith("rotate(-6")
    assert pdq_distance(deskewed[0].pdq, banked) <= 31
