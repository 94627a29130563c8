"""The decoded-pixel cap: one check, made from a picture's or a video stream's header before
any pixel is decoded, used by every path that decodes media (uploads to the API and the web
UI, triage, previews, pushed and pulled live frames).

The cap is ``settings.max_image_pixels`` (``VANGNET_MAX_IMAGE_PIXELS``); a caller with a
tighter limit of its own (live streams: ``live_max_pixels``) passes it and the smaller of the
two applies.

The caps (pixels, video seconds) are the process's, like Pillow's ``MAX_IMAGE_PIXELS`` and the
decoded-pixel budget below: the entry point that read the settings (the CLI, the app factory,
the demo) installs them with `configure`; until then the settings' documented defaults apply.
Nothing here reads the environment. A refused picture raises `MediaTooLargeError` (HTTP 413, code
``media_too_large``, CLI exit 3) and nothing has been decoded.

`DECODING` is the process's decoded-pixel budget: pictures are decoded while the pixels being
decoded at once stay within one cap's worth (``max_image_pixels``); a decode that does not fit
waits its turn (first come, first served), so concurrent uploads at the cap are decoded one
after another instead of multiplying the server's memory.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from vangnet.config import Settings
from vangnet.errors import MediaError, MediaTooLargeError


@dataclass(frozen=True)
class MediaLimits:
    """The decode caps of this process: ``max_image_pixels`` and ``max_video_seconds``."""

    max_image_pixels: int = Settings.model_fields["max_image_pixels"].default
    max_video_seconds: float = Settings.model_fields["max_video_seconds"].default

    @classmethod
    def from_settings(cls, settings: Settings) -> MediaLimits:
        return cls(settings.max_image_pixels, settings.max_video_seconds)


_limits = MediaLimits()


def configure(limits: MediaLimits) -> None:
    """Install this process's decode caps (entry points, from the settings they read)."""
    global _limits
    _limits = limits


def media_limits() -> MediaLimits:
    """The decode caps in force (`configure`; the documented defaults until then)."""
    return _limits


@dataclass(frozen=True)
class PixelCap:
    """The largest width x height decoded, and the setting it comes from."""

    pixels: int
    setting: str = "max_image_pixels"


def pixel_limit(max_pixels: int | None = None, *, setting: str = "max_image_pixels") -> PixelCap:
    """The cap in force: ``max_image_pixels`` (`media_limits`), or ``max_pixels`` (from
    ``setting``) when that is smaller."""
    limit = _limits.max_image_pixels
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


class PixelBudget:
    """Pixels being decoded at once in this process, at most ``total`` (one picture larger
    than that alone is let through when nothing else is decoding); waiters go in order."""

    def __init__(self) -> None:
        self._held = 0
        self._changed = threading.Condition()
        self._queue: deque[int] = deque()
        self._tickets = itertools.count()

    @property
    def held(self) -> int:
        return self._held

    @contextmanager
    def hold(self, pixels: int, *, total: int) -> Iterator[None]:
        with self._changed:
            ticket = next(self._tickets)
            self._queue.append(ticket)
            try:
                while self._queue[0] != ticket or (self._held and self._held + pixels > total):
                    self._changed.wait()
            finally:
                self._queue.remove(ticket)
                self._changed.notify_all()
            self._held += pixels
        try:
            yield
        finally:
            with self._changed:
                self._held -= pixels
                self._changed.notify_all()


#: The decoded-pixel budget of this process (see the module's description).
DECODING = PixelBudget()
