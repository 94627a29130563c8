"""Composites of benign photos for the region-matching tests: a photo padded, letterboxed,
pasted as an inset, shown in a player window or as a tile of a video-call grid. Built in
memory at test time from ``../shared/data`` photos (never committed); each builder returns
the composite and where the photo was pasted (x, y, w, h)."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image, ImageDraw

Pasted = tuple[int, int, int, int]
Builder = Callable[[Image.Image, Sequence[Image.Image]], tuple[Image.Image, Pasted]]


def load(path: Path) -> Image.Image:
    return Image.open(io.BytesIO(path.read_bytes())).convert("RGB")


def png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def near(region: Sequence[int], shown: Sequence[int], tolerance: float) -> bool:
    """``region`` (x, y, w, h) is the ``shown`` rectangle, each side within ``tolerance`` of
    its size."""
    x, y, w, h = region
    sx, sy, sw, sh = shown
    dx, dy = tolerance * sw, tolerance * sh
    return (
        abs(x - sx) <= dx
        and abs(y - sy) <= dy
        and abs(x + w - sx - sw) <= dx
        and abs(y + h - sy - sh) <= dy
    )


def padded(photo: Image.Image, _others: Sequence[Image.Image]) -> tuple[Image.Image, Pasted]:
    """20 % white padding on every side."""
    dx, dy = round(0.2 * photo.width), round(0.2 * photo.height)
    canvas = Image.new("RGB", (photo.width + 2 * dx, photo.height + 2 * dy), (255, 255, 255))
    canvas.paste(photo, (dx, dy))
    return canvas, (dx, dy, photo.width, photo.height)


def letterboxed(photo: Image.Image, _others: Sequence[Image.Image]) -> tuple[Image.Image, Pasted]:
    """Centred in a black 16:9 frame (pillarbox or letterbox bars)."""
    w, h = photo.size
    width, height = (w, round(w * 9 / 16)) if w / h > 16 / 9 else (round(h * 16 / 9), h)
    canvas = Image.new("RGB", (width, height), (0, 0, 0))
    x, y = (width - w) // 2, (height - h) // 2
    canvas.paste(photo, (x, y))
    return canvas, (x, y, w, h)


def inset(photo: Image.Image, others: Sequence[Image.Image]) -> tuple[Image.Image, Pasted]:
    """Pasted as a picture-in-picture inset (25 % of the width) in the bottom-right corner
    of another photo, as a video call shows the self view."""
    canvas = others[0].resize((960, 640))
    w = 240
    h = round(w * photo.height / photo.width)
    x, y = 960 - w - 24, 640 - h - 24
    canvas.paste(photo.resize((w, h)), (x, y))
    return canvas, (x, y, w, h)


def player(photo: Image.Image, _others: Sequence[Image.Image]) -> tuple[Image.Image, Pasted]:
    """Shown 1.5x in a dark player window: title bar with text, progress bar, buttons."""
    shown = photo.resize((photo.width * 3 // 2, photo.height * 3 // 2))
    width, height = shown.width + 40, shown.height + 40 + 36 + 56
    canvas = Image.new("RGB", (width, height), (24, 24, 28))
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, width, 36), fill=(58, 58, 64))
    draw.text((12, 12), "Media Player - clip.mp4", fill=(230, 230, 230))
    x, y = 20, 56
    canvas.paste(shown, (x, y))
    top = y + shown.height + 12
    draw.rectangle((20, top, width - 20, top + 4), fill=(90, 90, 90))
    draw.rectangle((20, top, 20 + (width - 40) // 3, top + 4), fill=(220, 40, 40))
    for i in range(4):
        draw.ellipse((20 + i * 34, top + 14, 44 + i * 34, top + 38), fill=(200, 200, 200))
    draw.text((width - 110, top + 20), "01:23 / 04:56", fill=(200, 200, 200))
    return canvas, (x, y, shown.width, shown.height)


def call_tile(photo: Image.Image, others: Sequence[Image.Image]) -> tuple[Image.Image, Pasted]:
    """The first tile of a 2x2 video-call grid (the others: three more photos), each tile
    with a name label drawn over it, and a bar of call buttons below."""
    tile_w, tile_h, gap = 480, 320, 8
    width, height = 2 * tile_w + 3 * gap, 2 * tile_h + 3 * gap + 64
    canvas = Image.new("RGB", (width, height), (32, 33, 36))
    draw = ImageDraw.Draw(canvas)
    pasted: Pasted = (0, 0, 0, 0)
    for k, picture in enumerate([photo, *others[:3]]):
        row, col = divmod(k, 2)
        x0, y0 = gap + col * (tile_w + gap), gap + row * (tile_h + gap)
        scale = min(tile_w / picture.width, tile_h / picture.height)
        pw, ph = round(picture.width * scale), round(picture.height * scale)
        px, py = x0 + (tile_w - pw) // 2, y0 + (tile_h - ph) // 2
        canvas.paste(picture.resize((pw, ph)), (px, py))
        draw.rectangle((px + 6, py + ph - 24, px + 90, py + ph - 6), fill=(20, 20, 20))
        draw.text((px + 10, py + ph - 21), f"Guest {k + 1}", fill=(255, 255, 255))
        if k == 0:
            pasted = (px, py, pw, ph)
    for i in range(5):
        left = width // 2 - 140 + i * 60
        colour = (234, 67, 53) if i == 4 else (60, 64, 67)
        draw.ellipse((left, height - 56, left + 40, height - 16), fill=colour)
    return canvas, pasted


TRANSFORMS: dict[str, Builder] = {
    "padded": padded,
    "letterboxed": letterboxed,
    "inset": inset,
    "player": player,
    "call_tile": call_tile,
}
