"""Test clips for the monitor: pictures shown one after another, encoded in memory.

Used by the demo (drawn pictures, one of them banked) and by the tests and benchmark (photos
from ``../shared/data``): a long negative stream with one known picture shown for a few
seconds in the middle. H.264 through PyAV's bundled libx264, a key frame every second.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass

import av
import numpy as np
from PIL import Image, ImageOps


@dataclass(frozen=True)
class Shot:
    """``picture`` shown for ``seconds``; ``drift`` pans it slowly so frames differ."""

    picture: Image.Image
    seconds: float
    drift: bool = True


def _fit(picture: Image.Image, width: int, height: int) -> Image.Image:
    """The picture letterboxed into the frame, as a player would show it."""
    rgb = picture.convert("RGB")
    return ImageOps.pad(rgb, (width, height), color=(0, 0, 0))


def encode_clip(
    shots: Iterable[Shot],
    *,
    width: int = 1280,
    height: int = 720,
    fps: int = 30,
    container: str = "mp4",
    crf: int = 23,
) -> bytes:
    """An H.264 clip of ``shots`` (key frame every second) as bytes. Width and height must be
    even (4:2:0 chroma)."""
    if width % 2 or height % 2 or width < 2 or height < 2:
        raise ValueError(f"clip size must be even and positive, got {width}x{height}")
    buf = io.BytesIO()
    with av.open(buf, mode="w", format=container) as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": str(crf), "g": str(fps), "preset": "veryfast", "bf": "0"}
        for shot in shots:
            base = np.asarray(_fit(shot.picture, width, height), dtype=np.uint8)
            count = max(1, round(shot.seconds * fps))
            for i in range(count):
                pixels = base
                if shot.drift and i:
                    pixels = np.roll(base, i // 10, axis=1)  # 3 px/s: a slowly moving camera
                frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
                out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buf.getvalue()
