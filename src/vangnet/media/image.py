"""Safe in-memory image decoding for hashing.

`decode_image` opens bytes with Pillow (never via a file path), refuses decompression bombs
before any pixel is decoded, applies the EXIF orientation and returns RGB pictures ready for
PDQ. With ``fast=True`` a JPEG is decoded in the DCT domain at 1/2, 1/4 or 1/8 scale, keeping
the smaller side at least `FAST_MIN_SIDE` pixels: PDQ only looks at a 64x64 luminance
summary and `vangnet.signals.pdq.hash_image` shrinks every picture to fit within 512x512
anyway, so the full-resolution pixels are wasted work (``benchmarks/decode_fidelity.py``:
0 bits from a full decode on every benign photo, 3-5x faster on 12 MP photos, where
entropy decoding, which the DCT scaling cannot skip, takes most of the remaining time).

Pillow's own warnings (decompression bomb, odd palettes, truncated metadata) never escape:
limits are enforced here and reported as `MediaError` subclasses.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import numpy.typing as npt
from PIL import ExifTags, Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError

from vangnet.errors import MediaError, MediaTooLargeError, UnsupportedMediaError
from vangnet.media.limits import DECODING, PixelCap, check_pixels, pixel_limit
from vangnet.media.sniff import ContentType, sniff

#: A decoded picture as pixels: uint8, height x width x 3 (RGB).
RgbArray = npt.NDArray[np.uint8]

#: Smallest side kept by the fast JPEG decode (a 12 MP photo decodes at 1/4 scale, then is
#: fitted to 512x512 for PDQ). Measured through that pipeline: 0 bits from a full decode on
#: every benign photo; 256 (1/8 scale) gave up to 8 bits for ~25 % more speed.
FAST_MIN_SIDE = 512

#: Background that transparent pixels are composited onto (as a viewer would show them).
ALPHA_BACKGROUND = (255, 255, 255)

_DECODE_ERRORS = (OSError, SyntaxError, ValueError, IndexError, EOFError, TypeError, KeyError)


@contextmanager
def quiet_pillow() -> Iterator[None]:
    """Keep Pillow warnings from leaking; our own limits replace its bomb check. A truncated
    image is an error here, whatever another library (WeasyPrint turns it on when imported)
    set Pillow's process-wide ``LOAD_TRUNCATED_IMAGES`` to."""
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def open_image(data: bytes, *, max_pixels: PixelCap | None = None) -> Image.Image:
    """Open ``data`` as an image (header only) and check its size against the pixel cap
    (`vangnet.media.limits.pixel_limit()` unless ``max_pixels`` is given).

    The returned image is lazy: pixels are decoded on first use, which must happen inside
    `quiet_pillow` (as `decode_image` does).
    """
    limit = max_pixels or pixel_limit()
    sniffed = sniff(data)
    if sniffed.content_type is not ContentType.PHOTO:
        raise UnsupportedMediaError(f"expected an image, got a {sniffed.format} video")
    with quiet_pillow():
        try:
            img = Image.open(io.BytesIO(data), formats=[sniffed.format])
        except Image.DecompressionBombError as exc:
            raise MediaTooLargeError(f"image refused as a decompression bomb: {exc}") from None
        except UnidentifiedImageError:
            raise MediaError(f"corrupt {sniffed.format} image: the header cannot be read") from None
        except _DECODE_ERRORS as exc:
            raise MediaError(f"corrupt {sniffed.format} image header: {exc}") from None
    try:
        check_pixels(*img.size, limit=limit)
    except MediaError:
        img.close()
        raise
    return img


def upright_size(data: bytes) -> tuple[int, int]:
    """(width, height) of the picture in ``data`` as stored, EXIF orientation applied, from
    its header alone (`decode_image` may decode a JPEG at a reduced size)."""
    img = open_image(data)
    try:
        width, height = img.size
        with quiet_pillow():
            orientation = img.getexif().get(ExifTags.Base.Orientation, 1)
    finally:
        img.close()
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


#: Bytes of one strip worked on at a time when converting a large picture (alpha, 16/32-bit):
#: a conversion of a picture at the pixel cap then needs no full-size temporary copies.
STRIP_BYTES = 16 * 1024 * 1024


def _strips(img: Image.Image, bytes_per_pixel: int) -> Iterator[tuple[int, Image.Image]]:
    """(top row, picture of the rows from there) in strips of about `STRIP_BYTES`."""
    rows = max(1, STRIP_BYTES // max(1, img.width * bytes_per_pixel))
    for top in range(0, img.height, rows):
        yield top, img.crop((0, top, img.width, min(img.height, top + rows)))


def _finite_range(img: Image.Image) -> tuple[float, float] | None:
    """Smallest and largest finite sample of a mode I / I;16 / F picture (None: none)."""
    lo, hi = np.inf, -np.inf
    for _top, strip in _strips(img, 8):
        values = np.asarray(strip)
        finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values.ravel()
        if finite.size:
            lo, hi = min(lo, float(finite.min())), max(hi, float(finite.max()))
    return None if lo > hi else (lo, hi)


def _scale_to_uint8(arr: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map integer / float samples (modes I, I;16, F) onto 0-255, given the picture's
    finite range ``lo``-``hi``."""
    values = arr.astype(np.float64)
    if lo >= 0.0 and hi <= 1.0 and arr.dtype.kind == "f":
        values = values * 255.0  # normalised floats
    elif lo < 0.0 or hi > 255.0:
        values = (values - lo) * (255.0 / (hi - lo)) if hi > lo else values * 0.0
    values = np.nan_to_num(values, nan=0.0, posinf=255.0, neginf=0.0)
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def _deep_to_rgb(img: Image.Image) -> Image.Image:
    """A mode I / I;16 / F picture scaled to 8-bit grey, as RGB, strip by strip."""
    found = _finite_range(img)
    out = Image.new("L", img.size, 0)
    if found is not None:
        for top, strip in _strips(img, 8):
            scaled = _scale_to_uint8(np.asarray(strip), *found)
            out.paste(Image.fromarray(scaled, "L"), (0, top))
    return out.convert("RGB")


def _alpha_to_rgb(img: Image.Image) -> Image.Image:
    """``img`` composited onto `ALPHA_BACKGROUND`, strip by strip (no full-size RGBA
    copies of a large picture)."""
    out = Image.new("RGB", img.size)
    for top, strip in _strips(img, 16):
        rgba = strip.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*ALPHA_BACKGROUND, 255))
        out.paste(Image.alpha_composite(background, rgba).convert("RGB"), (0, top))
    return out


def _lab_to_rgb(img: Image.Image) -> Image.Image:
    transform = ImageCms.buildTransform(
        ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB"
    )
    out = ImageCms.applyTransform(img, transform)
    assert out is not None  # inPlace=False always returns an image
    return out


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB the way a viewer would show it.

    Alpha is composited onto `ALPHA_BACKGROUND`; 16/32-bit integer and float samples are
    scaled to 0-255; LAB goes through a colour-managed conversion; HSV, CMYK, YCbCr,
    palettes and bilevel use Pillow's conversions.
    """
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I", "F") or mode.startswith("I;"):
        return _deep_to_rgb(img)
    if mode == "LAB":
        return _lab_to_rgb(img)
    has_alpha = mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        mode in ("P", "L", "RGB") and "transparency" in img.info
    )
    if has_alpha:
        return _alpha_to_rgb(img)
    return img.convert("RGB")


def _fast_draft(img: Image.Image, min_side: int) -> None:
    """Ask the JPEG decoder for a DCT-domain downscale keeping the smaller side >= min_side."""
    if img.format != "JPEG":
        return
    width, height = img.size
    scale = min_side / min(width, height)
    if scale < 1.0:
        img.draft(None, (max(1, round(width * scale)), max(1, round(height * scale))))


def _frame_count(img: Image.Image) -> int:
    return int(getattr(img, "n_frames", 1))


def decode_image(
    data: bytes,
    *,
    all_frames: bool = False,
    fast: bool = True,
    min_side: int = FAST_MIN_SIDE,
    max_pixels: PixelCap | None = None,
) -> list[Image.Image]:
    """Decode ``data`` to RGB pictures, EXIF orientation applied.

    Returns one picture (the first frame) unless ``all_frames`` is set and the image is
    animated. ``fast`` enables the reduced-size JPEG decode (no effect on other formats).
    ``max_pixels`` is the cap for this call (default `pixel_limit()`; live frames pass
    ``pixel_limit(live_max_pixels)``).
    Raises `EmptyInputError`, `UnsupportedMediaError`, `MediaTooLargeError` or `MediaError`.
    """
    limit = max_pixels or pixel_limit()
    img = open_image(data, max_pixels=limit)
    frames: list[Image.Image] = []
    if fast:
        with quiet_pillow():
            try:
                _fast_draft(img, min_side)  # a JPEG then decodes fewer pixels (its size says)
            except _DECODE_ERRORS as exc:
                img.close()
                raise MediaError(f"corrupt {img.format} image: {exc}") from None
    # Decoded pixels in flight in this process stay within one cap (`DECODING`).
    with DECODING.hold(img.width * img.height, total=pixel_limit().pixels), quiet_pillow():
        try:
            count = _frame_count(img) if all_frames else 1
            for index in range(count):
                if index:
                    img.seek(index)
                    check_pixels(*img.size, limit=limit)
                img.load()
                frames.append(_upright_rgb(img, last=index == count - 1))
        except (Image.DecompressionBombError, MemoryError) as exc:
            raise MediaTooLargeError(f"image too large to decode: {exc}") from None
        except _DECODE_ERRORS as exc:
            raise MediaError(f"corrupt or truncated {img.format} image: {exc}") from None
        finally:
            if not any(frame is img for frame in frames):
                img.close()
    return frames


def _upright_rgb(img: Image.Image, *, last: bool) -> Image.Image:
    """``img``'s current frame in RGB with its EXIF orientation applied, copying the pixels
    only where that is needed: an upright RGB last frame is returned as it is (a full-size
    copy of a picture at the pixel cap would double the memory a decode takes)."""
    orientation = img.getexif().get(ExifTags.Base.Orientation, 1)
    if orientation in range(2, 9):
        return to_rgb(ImageOps.exif_transpose(img))
    if img.mode == "RGB":
        return img if last else img.copy()
    return to_rgb(img)
