"""Finding the outline of a matched region on a served preview or reveal: the served picture
against the same picture made without an outline (`vangnet.evidence.previews` is
deterministic), so only the outline's pixels (and the JPEG blocks around them) differ."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

Box = tuple[int, int, int, int]  # left, top, right, bottom (inclusive)

#: Grey levels two decodes of one JPEG may differ by (another decoder), and JPEG ringing next
#: to a sharp line, stay well below this; the outline's white and black lines do not.
THRESHOLD = 60


def _grey(picture: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(picture)) as image:
        return np.asarray(image.convert("L"), dtype=np.int16)


def outline_box(served: bytes, plain: bytes) -> Box | None:
    """The bounding box of the pixels where ``served`` differs from ``plain`` (the same
    picture without the outline), or None when they do not differ."""
    a, b = _grey(served), _grey(plain)
    assert a.shape == b.shape, (a.shape, b.shape)
    rows, cols = np.nonzero(np.abs(a - b) > THRESHOLD)
    if not len(rows):
        return None
    return int(cols.min()), int(rows.min()), int(cols.max()), int(rows.max())


def expected_box(
    region: list[int] | tuple[int, int, int, int],
    own: tuple[int, int],
    shown: tuple[int, int],
    half: int,
) -> Box:
    """Where the outline of ``region`` (x, y, w, h in a picture of size ``own``) lies on that
    picture shown at size ``shown``: the region's scaled border, widened by the outline's
    half width and its black edge."""
    x, y, w, h = region
    sx, sy = shown[0] / own[0], shown[1] / own[1]
    grow = half + 1
    return (
        round(x * sx) - grow,
        round(y * sy) - grow,
        round((x + w) * sx) - 1 + grow,
        round((y + h) * sy) - 1 + grow,
    )


def close(found: Box | None, expected: Box, slack: int = 3) -> bool:
    return found is not None and all(
        abs(f - e) <= slack for f, e in zip(found, expected, strict=True)
    )
