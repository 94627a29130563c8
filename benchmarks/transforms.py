"""Picture transforms for the robustness benchmark (and later tests of robust matching).

Every transform is a pure function ``(picture, rng, others) -> picture``: an RGB Pillow picture
in, a new RGB picture out, ``rng`` a seeded `random.Random` (the only source of variation) and
``others`` the pictures a composite may show beside the photo (other video-call tiles, the
frame a picture-in-picture is inset into, a desktop wallpaper). `apply` seeds the generator
from a name, so a (transform, seed) pair always gives the same picture.

`TRANSFORMS` holds the 15 of issue 12, in its order:

==================  ==============================================================================
``jpeg_q30``        re-encoded as JPEG at quality 30
``resize_0.4``      scaled to 40 % of each side
``grey``            greyscale (kept as RGB)
``blur``            Gaussian blur, radius 1.5 % of the shorter side (~5 px on a 481x321 photo)
``watermark``       a semi-transparent text line and a round logo in a corner
``mirror``          flipped left-right
``rotate_90``       rotated by 90 degrees
``rotate_4``        rotated by 4 degrees, canvas expanded, the corners filled black
``crop_10``         10 % of each side cut away (a random split between the two edges)
``crop_25``         25 % of each side cut away
``pad_20``          20 % of each side added as a plain border (black, white or grey)
``letterbox_16_9``  fitted into a 1280x720 black frame (pillarboxed or letterboxed)
``pip``             inset (15-30 % of the frame's area, thin border) in a corner of another photo
``player``          a desktop video-player window: title bar, the photo in the viewport, a
                    control bar (play button, time text, seek bar, volume), taskbar, wallpaper
``video_call``      a video-call grid of 2-6 tiles, the photo in one, the others other pictures,
                    a name under each tile, a button bar
==================  ==============================================================================

Composites (``pip``, ``player``, ``video_call``) get a phone-style status bar (clock, signal,
battery) on top about one time in three. Fonts: DejaVu Sans from Debian's fonts-dejavu when
installed, else Pillow's built-in font.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

Picture = Image.Image
Transform = Callable[[Picture, random.Random, Sequence[Picture]], Picture]
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))

NAMES = (
    "Ana",
    "Ben K.",
    "Chris",
    "Dana M",
    "Eli",
    "Farah",
    "Gus",
    "Hana T.",
    "Ivo",
    "Jo",
    "Kim",
    "Lou",
    "Mira S.",
    "Noor",
)
TITLES = ("Media Player", "VLC media player", "Movies & TV", "mpv", "Video")


@cache
def font(size: int, bold: bool = False) -> Font:
    """DejaVu Sans (bold) at ``size`` px when installed, else Pillow's default font."""
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    for folder in FONT_DIRS:
        if (folder / name).is_file():
            return ImageFont.truetype(str(folder / name), size)
    return ImageFont.load_default(size)


def _rgb(img: Picture) -> Picture:
    return img if img.mode == "RGB" else img.convert("RGB")


def _fit(img: Picture, width: int, height: int) -> Picture:
    """``img`` scaled to fit within width x height, aspect kept."""
    scale = min(width / img.width, height / img.height)
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(size, Image.Resampling.BILINEAR)


def _fill(img: Picture, width: int, height: int) -> Picture:
    """``img`` scaled to cover width x height and centre-cropped to it."""
    return ImageOps.fit(img, (width, height), Image.Resampling.BILINEAR)


def _place(canvas: Picture, img: Picture, box: tuple[int, int, int, int], cover: bool) -> None:
    """Paste ``img`` into ``box`` (left, top, width, height): covering it (cropped) or fitted
    and centred."""
    left, top, width, height = box
    shown = _fill(img, width, height) if cover else _fit(img, width, height)
    canvas.paste(shown, (left + (width - shown.width) // 2, top + (height - shown.height) // 2))


def _pick(others: Sequence[Picture], rng: random.Random) -> Picture:
    if not others:
        raise ValueError("this transform needs other pictures (others is empty)")
    return others[rng.randrange(len(others))]


# --------------------------------------------------------------------------------------------
# Simple edits


def jpeg_q30(img: Picture, rng: random.Random, others: Sequence[Picture]) -> Picture:
    buf = io.BytesIO()
    _rgb(img).save(buf, format="JPEG", quality=30)
    with Image.open(io.BytesIO(buf.getvalue())) as out:
        return out.convert("RGB")


def resize_04(img: Picture, rng: random.Random, others: Sequence[Picture]) -> Picture:
    size = (max(1, round(img.width * 0.4)), max(1, round(img.height * 0.4)))
    return _rgb(img).resize(size, Image.Resampling.BILINEAR)


def grey(img: Picture, rng: random.Random, others: Sequence[Picture]) -> Picture:
    return img.convert("L").convert("RGB")


def blur(img: Picture, rng: random.Random, others: Sequence[Picture]) -> Picture:
    radius = max(1.0, 0.015 * min(img.size))
    return _rgb(img).filter(ImageFilter.GaussianBlur(radius))


def watermark(img: Picture, rng: random.Random, others: Sequence[Picture]) -> Picture:
    base = _rgb(img).convert("RGBA")
    layer = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    side = min(base.size)
    text = rng.choice(("© example.org", "@reposter", "SAMPLE", "shared via chat", "© 2026"))
    size = max(10, side // 14)
    f = font(size, bold=True)
    tw = int(draw.textlength(text, font=f))
    x = rng.randint(4, max(4, base.width - tw - 4))
    y = rng.choice((4, base.height - size - 8, rng.randint(4, max(4, base.height - size - 8))))
    alpha = rng.randint(110, 190)
    draw.text((x + 1, y + 1), text, font=f, fill=(0, 0, 0, alpha // 2))
    draw.text((x, y), text, font=f, fill=(255, 255, 255, alpha))
    r = max(8, side // 12)  # a round logo in a corner
    cx = rng.choice((r + 6, base.width - r - 6))
    cy = rng.choice((r + 6, base.height - r - 6))
    colour = (rng.randint(0, 255), rng.randint(0, 255), rng.randint(0, 255), alpha)
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour, outline=(255, 255, 255, alpha))
    draw.text((cx, cy), "V", font=font(r, bold=True), fill=(255, 255, 255, 230), anchor="mm")
    return Image.alpha_composite(base, layer).convert("RGB")


def mirror(img: Picture, rng: random.Random, others: Sequence[Picture]) -> Picture:
    return ImageOps.mirror(_rgb(img))


def rotate_90(img: Picture, rng: random.Random, others: Sequence[Picture]) -> Picture:
    return _rgb(img).transpose(Image.Transpose.ROTATE_90)


def rotate_4(img: Picture, rng: random.Random, others: Sequence[Picture]) -> Picture:
    return _rgb(img).rotate(4, Image.Resampling.BICUBIC, expand=True, fillcolor=(0, 0, 0))


def crop(img: Picture, rng: random.Random, share: float) -> Picture:
    """``share`` of each side cut away, split at random between its two edges."""
    cut_w, cut_h = round(img.width * share), round(img.height * share)
    left, top = rng.randint(0, cut_w), rng.randint(0, cut_h)
    return _rgb(img).crop((left, top, left + img.width - cut_w, top + img.height - cut_h))


def crop_10(img: Picture, rng: random.Random, others: Sequence[Picture]) -> Picture:
    return crop(img, rng, 0.10)


def crop_25(img: Picture, rng: random.Random, others: Sequence[Picture]) -> Picture:
    return crop(img, rng, 0.25)


def pad_20(img: Picture, rng: random.Random, others: Sequence[Picture]) -> Picture:
    add_w, add_h = round(img.width * 0.2), round(img.height * 0.2)
    colour = rng.choice(((0, 0, 0), (255, 255, 255), (128, 128, 128)))
    canvas = Image.new("RGB", (img.width + add_w, img.height + add_h), colour)
    canvas.paste(_rgb(img), (rng.randint(0, add_w), rng.randint(0, add_h)))
    return canvas


def letterbox_16_9(img: Picture, rng: random.Random, others: Sequence[Picture]) -> Picture:
    canvas = Image.new("RGB", (1280, 720), (0, 0, 0))
    _place(canvas, _rgb(img), (0, 0, 1280, 720), cover=False)
    return canvas


# --------------------------------------------------------------------------------------------
# Composites


def status_bar(img: Picture, rng: random.Random) -> Picture:
    """A phone-style status bar on top: clock, signal bars, Wi-Fi dot, battery."""
    h = max(20, img.height // 28)
    dark = rng.random() < 0.5
    bg, fg = ((0, 0, 0), (255, 255, 255)) if dark else ((245, 245, 245), (20, 20, 20))
    canvas = Image.new("RGB", (img.width, img.height + h), bg)
    canvas.paste(img, (0, h))
    draw = ImageDraw.Draw(canvas)
    clock = f"{rng.randint(0, 23)}:{rng.randint(0, 59):02d}"
    draw.text((h // 2, h // 2), clock, font=font(int(h * 0.6), bold=True), fill=fg, anchor="lm")
    x = img.width - h // 2
    bw = int(h * 1.3)  # battery
    draw.rectangle((x - bw, h * 0.25, x, h * 0.75), outline=fg, width=1)
    level = rng.uniform(0.15, 1.0)
    draw.rectangle((x - bw + 2, h * 0.25 + 2, x - bw + 2 + (bw - 4) * level, h * 0.75 - 2), fill=fg)
    x -= bw + h // 2
    draw.ellipse((x - h * 0.4, h * 0.3, x, h * 0.7), fill=fg)  # Wi-Fi
    x -= h // 2 + 4 * max(2, h // 6)
    for i in range(4):  # signal bars
        bar_h = h * 0.15 * (i + 1)
        left = x + i * max(2, h // 6)
        draw.rectangle((left, h * 0.8 - bar_h, left + max(1, h // 10), h * 0.8), fill=fg)
    return canvas


def _maybe_status_bar(img: Picture, rng: random.Random) -> Picture:
    return status_bar(img, rng) if rng.random() < 1 / 3 else img


def pip(img: Picture, rng: random.Random, others: Sequence[Picture]) -> Picture:
    """The photo as an inset covering 15-30 % of another picture's frame, in a corner."""
    frame = _rgb(_pick(others, rng))
    width = rng.choice((960, 1280))
    canvas = _fill(frame, width, width * 9 // 16)
    area = rng.uniform(0.15, 0.30) * canvas.width * canvas.height
    scale = (area / (img.width * img.height)) ** 0.5
    inset = _rgb(img).resize(
        (max(1, round(img.width * scale)), max(1, round(img.height * scale))),
        Image.Resampling.BILINEAR,
    )
    inset = ImageOps.expand(inset, border=2, fill=rng.choice(((255, 255, 255), (0, 0, 0))))
    if inset.width >= canvas.width or inset.height >= canvas.height:
        inset = _fit(inset, canvas.width * 2 // 3, canvas.height * 2 // 3)
    margin = rng.randint(8, 32)
    x = rng.choice((margin, canvas.width - inset.width - margin))
    y = rng.choice((margin, canvas.height - inset.height - margin))
    canvas.paste(inset, (x, y))
    return _maybe_status_bar(canvas, rng)


def _play_controls(
    draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], rng: random.Random
) -> None:
    left, top, right, bottom = box
    h = bottom - top
    draw.rectangle(box, fill=(32, 32, 36))
    cy = top + h // 2
    s = h // 3  # play (or pause) button
    if rng.random() < 0.5:
        draw.polygon(
            [(left + 12, cy - s), (left + 12, cy + s), (left + 12 + int(1.6 * s), cy)],
            fill=(235, 235, 235),
        )
    else:
        draw.rectangle((left + 12, cy - s, left + 12 + s // 2, cy + s), fill=(235, 235, 235))
        draw.rectangle(
            (left + 12 + s, cy - s, left + 12 + s + s // 2, cy + s), fill=(235, 235, 235)
        )
    total = rng.randint(30, 3600)
    at = rng.randint(0, total)
    text = f"{at // 60:02d}:{at % 60:02d} / {total // 60:02d}:{total % 60:02d}"
    f = font(max(10, h // 3))
    x = left + 24 + 2 * s
    draw.text((x, cy), text, font=f, fill=(220, 220, 220), anchor="lm")
    x += int(draw.textlength(text, font=f)) + 16
    end = right - 90
    if end > x + 20:  # seek bar with progress and knob
        draw.rectangle((x, cy - 2, end, cy + 2), fill=(90, 90, 90))
        pos = x + (end - x) * at / total
        draw.rectangle((x, cy - 2, pos, cy + 2), fill=(230, 60, 50))
        draw.ellipse((pos - 6, cy - 6, pos + 6, cy + 6), fill=(240, 240, 240))
    vx = right - 70  # volume icon and level
    draw.polygon(
        [
            (vx, cy - 4),
            (vx + 6, cy - 4),
            (vx + 12, cy - 10),
            (vx + 12, cy + 10),
            (vx + 6, cy + 4),
            (vx, cy + 4),
        ],
        fill=(220, 220, 220),
    )
    draw.rectangle((vx + 20, cy - 2, right - 12, cy + 2), fill=(200, 200, 200))


def player(img: Picture, rng: random.Random, others: Sequence[Picture]) -> Picture:
    """A desktop with a video-player window showing the photo in its viewport."""
    sw, sh = rng.choice(((1366, 768), (1440, 900), (1280, 800)))
    if others and rng.random() < 0.6:
        desktop = _fill(_rgb(_pick(others, rng)), sw, sh)
    else:
        c1 = (rng.randint(0, 90), rng.randint(40, 120), rng.randint(90, 200))
        desktop = Image.new("RGB", (sw, sh), c1)
        draw = ImageDraw.Draw(desktop)
        for y in range(0, sh, 8):  # a simple vertical gradient wallpaper
            k = y / sh
            draw.rectangle((0, y, sw, y + 8), fill=tuple(int(c * (1 - 0.5 * k)) for c in c1))
    draw = ImageDraw.Draw(desktop)
    task_h = 40
    draw.rectangle((0, sh - task_h, sw, sh), fill=(30, 30, 34))  # taskbar with icons and clock
    for i in range(6):
        draw.rounded_rectangle(
            (12 + i * 44, sh - task_h + 6, 40 + i * 44, sh - 6), 4, fill=(70 + 20 * i, 90, 140)
        )
    draw.text(
        (sw - 12, sh - task_h // 2),
        f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}",
        font=font(14),
        fill=(230, 230, 230),
        anchor="rm",
    )
    ww = int(sw * rng.uniform(0.6, 0.9))
    title_h, ctrl_h = 30, rng.choice((40, 48, 56))
    vh = min(int(ww * 9 / 16), sh - task_h - title_h - ctrl_h - 20)
    wh = title_h + vh + ctrl_h
    wx = rng.randint(10, sw - ww - 10)
    wy = rng.randint(5, max(5, sh - task_h - wh - 5))
    draw.rectangle((wx - 1, wy - 1, wx + ww, wy + wh), outline=(10, 10, 10))
    draw.rectangle((wx, wy, wx + ww - 1, wy + title_h - 1), fill=(235, 235, 238))  # title bar
    title = f"clip_{rng.randint(1, 999):03d}.mp4 - {rng.choice(TITLES)}"
    draw.text((wx + 12, wy + title_h // 2), title, font=font(14), fill=(20, 20, 20), anchor="lm")
    for i, colour in enumerate(((200, 60, 60), (120, 120, 120), (120, 120, 120))):
        bx = wx + ww - 22 - i * 34
        draw.rectangle((bx - 6, wy + 10, bx + 6, wy + title_h - 10), outline=colour, width=2)
    viewport = (wx, wy + title_h, ww, vh)
    draw.rectangle((wx, wy + title_h, wx + ww - 1, wy + title_h + vh - 1), fill=(0, 0, 0))
    _place(desktop, _rgb(img), viewport, cover=False)
    _play_controls(draw, (wx, wy + title_h + vh, wx + ww - 1, wy + wh - 1), rng)
    return _maybe_status_bar(desktop, rng)


def _grid(n: int) -> tuple[int, int]:
    return {2: (1, 2), 3: (2, 2), 4: (2, 2), 5: (2, 3), 6: (2, 3)}[n]


def video_call(img: Picture, rng: random.Random, others: Sequence[Picture]) -> Picture:
    """A video-call grid of 2-6 tiles, the photo in one, names under tiles, a button bar."""
    w, h = rng.choice(((1280, 720), (1366, 768), (1440, 900)))
    canvas = Image.new("RGB", (w, h), (32, 33, 36))
    draw = ImageDraw.Draw(canvas)
    n = rng.randint(2, 6)
    rows, cols = _grid(n)
    bar_h, top_h, gap = 72, 36, 8
    draw.text(
        (16, top_h // 2),
        f"Meeting {rng.randint(100, 999)}-{rng.randint(100, 999)}",
        font=font(15),
        fill=(230, 230, 230),
        anchor="lm",
    )
    area_h = h - bar_h - top_h
    tw = min((w - gap * (cols + 1)) // cols, int(((area_h - gap * (rows + 1)) // rows) * 16 / 9))
    th = tw * 9 // 16
    x0 = (w - (cols * tw + (cols - 1) * gap)) // 2
    y0 = top_h + (area_h - (rows * th + (rows - 1) * gap)) // 2
    mine = rng.randrange(n)
    names = rng.sample(NAMES, n)
    if not others:
        raise ValueError("video_call needs other pictures (others is empty)")
    picks = rng.sample(range(len(others)), min(n - 1, len(others)))
    tiles = [others[picks[k % len(picks)]] for k in range(n - 1)]
    for i in range(n):
        r, c = divmod(i, cols)
        last_short = r == rows - 1 and n < rows * cols  # centre an incomplete last row
        shift = (rows * cols - n) * (tw + gap) // 2 if last_short else 0
        x, y = x0 + c * (tw + gap) + shift, y0 + r * (th + gap)
        draw.rectangle((x, y, x + tw - 1, y + th - 1), fill=(60, 64, 67))
        shown = _rgb(img) if i == mine else _rgb(tiles[i - (i > mine)])
        aspect_loss = 1 - min(
            shown.width / shown.height / (16 / 9), (16 / 9) / (shown.width / shown.height)
        )
        _place(canvas, shown, (x, y, tw, th), cover=aspect_loss <= 0.2)
        f = font(max(11, th // 16))
        label = names[i]
        at = (x + 12, y + th - 10)
        left, top, right, bottom = draw.textbbox(at, label, font=f, anchor="ld")
        draw.rectangle((left - 6, top - 4, right + 6, bottom + 4), fill=(0, 0, 0))
        draw.text(at, label, font=f, fill=(255, 255, 255), anchor="ld")
        if i == rng.randrange(n):
            draw.rectangle((x, y, x + tw - 1, y + th - 1), outline=(138, 180, 248), width=3)
    cy = h - bar_h // 2  # the button bar: mic, camera, share, more, red hang-up
    bx = w // 2 - 2 * 56
    for k in range(5):
        colour = (234, 67, 53) if k == 4 else (60, 64, 67)
        draw.ellipse((bx + k * 56 - 20, cy - 20, bx + k * 56 + 20, cy + 20), fill=colour)
        draw.rectangle((bx + k * 56 - 6, cy - 8, bx + k * 56 + 6, cy + 8), fill=(240, 240, 240))
    draw.text(
        (16, cy),
        f"{rng.randint(0, 11)}:{rng.randint(0, 59):02d} PM",
        font=font(14),
        fill=(230, 230, 230),
        anchor="lm",
    )
    return _maybe_status_bar(canvas, rng)


#: The transforms of issue 12, in its order (name -> function).
TRANSFORMS: dict[str, Transform] = {
    "jpeg_q30": jpeg_q30,
    "resize_0.4": resize_04,
    "grey": grey,
    "blur": blur,
    "watermark": watermark,
    "mirror": mirror,
    "rotate_90": rotate_90,
    "rotate_4": rotate_4,
    "crop_10": crop_10,
    "crop_25": crop_25,
    "pad_20": pad_20,
    "letterbox_16_9": letterbox_16_9,
    "pip": pip,
    "player": player,
    "video_call": video_call,
}

#: Transforms that show other pictures beside the photo.
COMPOSITES = frozenset({"pip", "player", "video_call"})


def apply(name: str, img: Picture, *, seed: int | str, others: Sequence[Picture] = ()) -> Picture:
    """Transform ``name`` of ``img``, seeded: the same arguments give the same picture."""
    try:
        fn = TRANSFORMS[name]
    except KeyError:
        raise ValueError(f"unknown transform {name!r}; known: {', '.join(TRANSFORMS)}") from None
    return fn(img, random.Random(f"{name}:{seed}"), others)
