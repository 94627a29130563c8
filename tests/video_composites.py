"""Short clips of benign photos for the tests of the wider net on query videos: a video
call whose grid shows a given photo as its first tile for a while, and a call of other
people only. Composed in memory at test time (``tests/region_composites.py``), never
committed."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image

import region_composites as rc
from vangnet.live.clips import Shot, encode_clip

#: A small clip: the call grid's tiles are ~150 px wide, so a tile's PDQ is 35-45 bits from
#: the shown photo's (beyond a bank's 31, within its verify_threshold of 100).
WIDTH, HEIGHT = 640, 360


def call_clips(
    shown: Image.Image, others: Sequence[Image.Image]
) -> tuple[bytes, bytes, tuple[int, int, int, int]]:
    """A call: 2 s of a grid of ``others[0]`` and ``others[1:5]``, then 3 s with ``shown``
    as the first tile; a call of the other people only (4 s); and where the tile is in the
    first clip's frame (x, y, w, h)."""
    grid, _ = rc.call_tile(others[0], others[1:5])
    tile, at = rc.call_tile(shown, others[1:5])
    call = encode_clip([Shot(grid, 2.0, False), Shot(tile, 3.0, False)], width=WIDTH, height=HEIGHT)
    other = encode_clip([Shot(grid, 4.0, False)], width=WIDTH, height=HEIGHT)
    scale = min(WIDTH / tile.width, HEIGHT / tile.height)
    dx, dy = (WIDTH - tile.width * scale) / 2, (HEIGHT - tile.height * scale) / 2
    x, y, w, h = at
    where = (round(x * scale + dx), round(y * scale + dy), round(w * scale), round(h * scale))
    return call, other, where
