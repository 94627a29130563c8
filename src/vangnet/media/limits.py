"""The decoded-pixel cap: one check, made from a picture's or a video stream's header before
any pixel is decoded, used by every path that decodes media (uploads to the API and the web
UI, triage, previews, pushed and pulled live frames).

The cap is ``settings.max_image_pixels`` (``VANGNET_MAX_IMAGE_PIXELS``); a caller with a
tighter limit of its own (live streams: ``live_max_pixels``) passes it and the smaller of the
two applies. A refused picture raises `MediaTooLargeError` (HTTP 413, code
``media_too_large``, CLI exit 3) and nothing has been decoded.
"""

from __future__ import annotations

from dataclasses import dataclass

from vangnet.config import get_settings
from vangnet.errors import MediaError, MediaTooLargeError


@dataclass(frozen=True)
class PixelCap:
    """The largest width x height decoded, and the setting it comes from."""

    pixels: int
    setting: str = "max_image_pixels"


def pixel_limit(max_pixels: int | None = None, *, setting: str = "max_image_pixels") -> PixelCap:
    """The cap in force: ``max_image_pixels``, or ``max_pixels`` (from ``setting``) when that
    is smaller."""
    limit = get_settings().max_image_pixels
    if max_pixels is not None and max_pixels < limit:
        return PixelCap(max_pixels, setting)
    return PixelCap(limit)


def check_pixels(width: int, height: int, *, what: str = "image", limit: PixelCap) -> None:
    """Refuse ``width`` x ``height`` before decoding when it is empty or above ``limit``."""
    if width <= 0 or height <= 0:
        raise MediaError(f"{what} has invalid dimensions {width}x{height}")
    if width * height > limit.pixels:
        raise MediaTooLargeError(
            f"{what} is {width}x{height} = {width * height:,} pixels, more than the limit of "
            f"{limit.pixels:,} (VANGNET_{limit.setting.upper()} / {limit.setting}); refused "
            "before decoding (a possible decompression bomb)"
        )
