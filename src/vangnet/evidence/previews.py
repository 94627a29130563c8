"""Wellness previews: blurred, greyscale JPEG thumbnails of case media, made in memory.

Reviewers see suspected abuse material blurred and in grey by default and reveal it only on
purpose (research on content-moderator wellbeing: blur, greyscale and small size reduce the
harm of repeated exposure). One function serves the review UI and the case reports:

- `preview` -- the wellness view: scaled to fit ``max_side``, Gaussian-blurred, greyscale.
  ``blur=0, greyscale=False`` gives the clear thumbnail (the "revealed" view).
- `poster` -- the clear first frame of a video (or the clear image), shown when revealed.
- `is_video` -- whether the bytes are a video container (the UI picks a player or an image).

``outline``: regions of the media that matched (x, y, w, h in the media's own pixels, EXIF
orientation applied, as `vangnet.cases.found` keeps them) are outlined on the picture after
it is blurred and greyed: a white line with a black edge on each side, visible on any
background, grey on a greyscale preview (no colour comes back). Scaled from the media's own
pixels to the output's; a region outside the picture is clipped to it.

``blur`` is 0-`MAX_BLUR` in "pixels at `BLUR_REFERENCE_SIDE` px": the Gaussian radius is
scaled with the output size, so a 120 px and a 480 px preview look equally blurred.

Decoding goes through `vangnet.media.image.decode_image` and
`vangnet.media.video.iter_video_frames` (magic-byte sniffing, decompression-bomb, pixel and
duration limits), so empty, corrupt, unsupported or enormous input raises their `MediaError`
subclasses; bad arguments raise `ValidationError`. Nothing is written to disk, and the
output JPEG carries no metadata (no EXIF, GPS or ICC profile of the original).
"""

from __future__ import annotations

import io
from collections.abc import Generator, Sequence
from contextlib import closing
from typing import cast

from PIL import Image, ImageDraw, ImageFilter

from vangnet.errors import MediaError, ValidationError
from vangnet.media.image import decode_image, quiet_pillow, upright_size
from vangnet.media.sniff import sniff
from vangnet.media.video import VideoFrame, iter_video_frames
from vangnet.signals.base import ContentType

#: ``blur`` is measured in pixels of Gaussian radius on a preview this many pixels long.
BLUR_REFERENCE_SIDE = 480
#: Largest accepted ``blur``.
MAX_BLUR = 64
#: Smallest and largest accepted ``max_side``.
MIN_SIDE = 16
MAX_SIDE = 4096
#: Longest side of a `poster` unless asked otherwise.
POSTER_SIDE = 1280
#: JPEG quality of previews and posters.
JPEG_QUALITY = 82

#: An outline's white core is 1 px wider on each side per this many pixels of the picture.
OUTLINE_SCALE = 320
#: A region of the media to outline: (x, y, w, h) in its own pixels.
Region = tuple[int, int, int, int]


def is_video(data: bytes) -> bool:
    """True when ``data`` starts like a supported video container (no decoding).

    Empty or unrecognised bytes are not a video (False); `preview` reports why they fail.
    """
    try:
        return sniff(data).content_type is ContentType.VIDEO
    except MediaError:
        return False


def preview(
    data: bytes,
    *,
    blur: int = 24,
    greyscale: bool = True,
    max_side: int = BLUR_REFERENCE_SIDE,
    outline: Sequence[Region] = (),
) -> bytes:
    """A JPEG of ``data`` (image, or a video's first frame) fitted into ``max_side``.

    The picture keeps its aspect ratio and is never enlarged; EXIF orientation is applied.
    ``blur`` (0-64, "pixels at 480 px") is the Gaussian radius scaled to the output size;
    ``greyscale`` gives a single-channel JPEG (every decoded pixel has R == G == B);
    ``outline``: regions to outline (module docstring), drawn last.
    """
    if isinstance(blur, bool) or not isinstance(blur, int) or not 0 <= blur <= MAX_BLUR:
        raise ValidationError(f"blur must be an integer from 0 to {MAX_BLUR}, not {blur!r}")
    picture, own = _first_picture(data, max_side=max_side)
    if blur:
        radius = blur * max(picture.size) / BLUR_REFERENCE_SIDE
        picture = picture.filter(ImageFilter.GaussianBlur(radius))
    if greyscale:
        picture = picture.convert("L")
    if outline:
        draw_outline(picture, outline, own)
    return _jpeg(picture)


def poster(data: bytes, *, max_side: int = POSTER_SIDE) -> bytes:
    """A clear JPEG of a video's first decodable frame (or of an image), fitted to ``max_side``."""
    return _jpeg(_first_picture(data, max_side=max_side)[0])


def outline_width(picture_size: tuple[int, int]) -> int:
    """Half the width of the white core of an outline on a picture of this size (2 px on a
    480 px preview, 4 px on a 1280 px reveal: still a clear line once the page shows the
    picture smaller); the black edges add 1 px on each side."""
    return max(1, round(max(picture_size) / OUTLINE_SCALE))


def draw_outline(picture: Image.Image, regions: Sequence[Region], own: tuple[int, int]) -> None:
    """Outline ``regions`` (x, y, w, h in pixels of a picture of size ``own``) on ``picture``
    (that picture scaled to its own size), in place: a white line centred on each region's
    border, with a black edge on each side."""
    width, height = picture.size
    sx, sy = width / own[0], height / own[1]
    half = outline_width(picture.size)
    white, black = (255, 0) if picture.mode == "L" else ((255, 255, 255), (0, 0, 0))
    draw = ImageDraw.Draw(picture)
    for x, y, w, h in regions:
        left, top = round(x * sx), round(y * sy)
        right, bottom = round((x + w) * sx) - 1, round((y + h) * sy) - 1
        if right < left or bottom < top:
            continue
        for offset in range(-half - 1, half + 2):  # edge, core, edge
            colour = black if abs(offset) == half + 1 else white
            draw.rectangle(
                (left - offset, top - offset, right + offset, bottom + offset), outline=colour
            )


def _first_picture(data: bytes, *, max_side: int) -> tuple[Image.Image, tuple[int, int]]:
    """The first picture of ``data`` as RGB, scaled down to fit ``max_side``, and its own
    (width, height) before scaling (EXIF orientation applied)."""
    if isinstance(max_side, bool) or not isinstance(max_side, int):
        raise ValidationError(f"max_side must be an integer, not {max_side!r}")
    if not MIN_SIDE <= max_side <= MAX_SIDE:
        raise ValidationError(f"max_side must be from {MIN_SIDE} to {MAX_SIDE}, not {max_side}")
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ValidationError(f"media must be bytes, not {type(data).__name__}")
    data = bytes(data)
    if is_video(data):
        picture = _first_frame(data)
        own = picture.size
    else:
        # A DCT-domain JPEG draft keeps the smaller side >= max_side: enough for the output.
        picture = decode_image(data, fast=True, min_side=max_side)[0]
        own = upright_size(data)
    with quiet_pillow():
        picture.thumbnail((max_side, max_side), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return picture, own


def _first_frame(data: bytes) -> Image.Image:
    # fps=0 samples every frame, so the first one yielded is the first decodable frame;
    # closing the generator stops decoding and closes the container at once.
    frames = cast("Generator[VideoFrame, None, None]", iter_video_frames(data, fps=0))
    with closing(frames):
        first = next(frames, None)
    if first is None:  # pragma: no cover - iter_video_frames raises when nothing decodes
        raise MediaError("no frame could be decoded from this video")
    return Image.fromarray(first.rgb)


def _jpeg(picture: Image.Image) -> bytes:
    out = io.BytesIO()
    with quiet_pillow():
        # A fresh image: no exif / icc_profile is passed, so none of the original's is kept.
        picture.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


REVEAL_SIDE = 1280


def clear_media(
    data: bytes, media_type: str, *, outline: Sequence[Region] = ()
) -> tuple[bytes, str]:
    """What a reveal sends: a video as it is (the page plays it muted and paused), a picture
    as a clear JPEG no larger than `REVEAL_SIDE` (no metadata travels with it), with the
    ``outline`` of the regions that matched."""
    if is_video(data):
        return data, media_type
    jpeg = preview(data, blur=0, greyscale=False, max_side=REVEAL_SIDE, outline=outline)
    return jpeg, "image/jpeg"
