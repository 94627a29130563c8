"""Text in the picture: OCR of screenshots, photos and video frames, the language of that
text as a country hint, leads in it (clocks, dates, usernames, links, apps, file names) and a
video-call screenshot score.

    reader = TextReader()                       # model loads on first read, one per process
    ocr = reader.read(image)                    # PIL image, RGB array or encoded bytes
    language(ocr.text)                          # Language("nl", "Dutch", 0.99, ("NL", "BE", "SR"))
    hints(ocr)                                  # {"file_names": ["chair-19-sd-bar.mp4"], ...}
    video_call_likelihood(image, ocr)           # CallLikelihood(0.85, ["picture-in-picture ..."])
    frames_text(video_bytes, every_seconds=5)   # lines with the first second they appear

The parts live in `text_ocr` (RapidOCR engine, reading order, word spaces), `text_language`
(lingua), `text_hints` (patterns and the app list) and `text_calls` (image and text clues).
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from vangnet.media.video import iter_video_frames
from vangnet.triage import text_calls
from vangnet.triage.text_calls import CallLikelihood
from vangnet.triage.text_hints import APPS, App, AppKind, TextHints, hints_from_lines
from vangnet.triage.text_language import Language, language
from vangnet.triage.text_ocr import (
    ImageInput,
    OcrLine,
    OcrResult,
    TextReader,
    as_rgb,
    engine_load_seconds,
)
from vangnet.triage.tuning import CallScoring

__all__ = [
    "APPS",
    "App",
    "AppKind",
    "CallLikelihood",
    "FrameLine",
    "FramesText",
    "Language",
    "OcrLine",
    "OcrResult",
    "TextHints",
    "TextReader",
    "engine_load_seconds",
    "frames_text",
    "hints",
    "language",
    "video_call_likelihood",
]

#: Two sampled frames whose 64x64 greyscale thumbnails differ by less than this mean absolute
#: difference (0-255) are the same picture: the second is not read again.
SAME_FRAME = 2.0


def hints(ocr: OcrResult | str) -> TextHints:
    """Leads in the text of a picture (see `text_hints.TextHints`), line by line."""
    lines: Iterable[str] = (
        ocr.splitlines() if isinstance(ocr, str) else (line.text for line in ocr.lines)
    )
    return hints_from_lines(lines)


def video_call_likelihood(
    image: ImageInput,
    ocr: OcrResult | None = None,
    *,
    scoring: CallScoring = text_calls.DEFAULT_SCORING,
) -> CallLikelihood:
    """How likely ``image`` is a screenshot of a video call: ``(score 0-1, reasons)``.

    ``ocr`` is the picture's `OcrResult` (None: only the image clues count); ``scoring`` the
    weight of each clue (default: the documented defaults of the ``triage_call_*``
    settings). See `text_calls` for the clues; ``score >= text_calls.LIKELY`` (0.5) is
    "likely".
    """
    return text_calls.video_call_likelihood(as_rgb(image), ocr, scoring)


@dataclass(frozen=True)
class FrameLine:
    """A line of text seen in a video: first and last second it was read, in how many sampled
    frames, and the best recognition confidence."""

    text: str
    first_seconds: float
    last_seconds: float
    frames: int
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "first_seconds": round(self.first_seconds, 3),
            "last_seconds": round(self.last_seconds, 3),
            "frames": self.frames,
            "confidence": round(self.confidence, 3),
        }


@dataclass(frozen=True)
class FramesText:
    """The distinct lines of text in a video's sampled frames, in order of first appearance.
    ``frames`` is how many frames were sampled, ``read`` how many were OCR'd (a frame that
    looks like the one before is not read again)."""

    lines: tuple[FrameLine, ...]
    frames: int
    read: int
    elapsed: float

    @property
    def text(self) -> str:
        return "\n".join(line.text for line in self.lines)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "lines": [line.to_dict() for line in self.lines],
            "frames": self.frames,
            "read": self.read,
            "elapsed": round(self.elapsed, 3),
        }


def _thumbnail(rgb: np.ndarray[Any, np.dtype[np.uint8]]) -> np.ndarray[Any, np.dtype[np.float32]]:
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    small = cv2.resize(grey, (64, 64), interpolation=cv2.INTER_AREA)
    return small.astype(np.float32)


def _merge(seen: dict[str, FrameLine], line: OcrLine, seconds: float) -> None:
    key = " ".join(line.text.casefold().split())
    old = seen.get(key)
    if old is None:
        seen[key] = FrameLine(line.text, seconds, seconds, 1, line.confidence)
    else:
        confidence = max(old.confidence, line.confidence)
        seen[key] = FrameLine(old.text, old.first_seconds, seconds, old.frames + 1, confidence)


def frames_text(
    video: bytes,
    *,
    every_seconds: float = 5.0,
    max_frames: int = 20,
    reader: TextReader | None = None,
) -> FramesText:
    """OCR of one frame every ``every_seconds`` (at most ``max_frames`` frames) of ``video``.

    Lines are deduplicated by their text (case and spacing ignored) and keep the timestamp of
    the first frame they were read in. Raises what `vangnet.media.video.iter_video_frames`
    raises for bad input (`EmptyInputError`, `UnsupportedMediaError`, `MediaTooLargeError`,
    `MediaError`).
    """
    if not every_seconds > 0 or max_frames < 1:
        raise ValueError("every_seconds must be positive and max_frames at least 1")
    started = time.perf_counter()
    reader = reader or TextReader()
    seen: dict[str, FrameLine] = {}
    frames = read = 0
    previous: tuple[np.ndarray[Any, np.dtype[np.float32]], list[OcrLine]] | None = None
    sampled = iter_video_frames(video, fps=1.0 / every_seconds)
    try:  # closing the generator closes the decoder when max_frames stops the loop early
        for frame in sampled:
            frames += 1
            thumb = _thumbnail(frame.rgb)
            if previous is not None and float(np.abs(thumb - previous[0]).mean()) < SAME_FRAME:
                lines = previous[1]
            else:
                lines = list(reader.read(frame.rgb).lines)
                read += 1
            previous = (thumb, lines)
            for line in lines:
                _merge(seen, line, frame.timestamp)
            if frames >= max_frames:
                break
    finally:
        if isinstance(sampled, Generator):
            sampled.close()
    return FramesText(tuple(seen.values()), frames, read, time.perf_counter() - started)
