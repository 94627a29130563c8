"""OCR of screenshots and photos with RapidOCR (PP-OCRv4 models run by onnxruntime, shipped
inside the ``rapidocr_onnxruntime`` package: no network, no model download).

One engine per process, created on first use and shared by every `TextReader` with the same
thread count; calls are serialised by a lock (RapidOCR keeps per-call state on the engine).
After a ``fork`` the child builds its own engine. Each onnxruntime session uses
``threads`` intra-op threads (default 1), so a triage pool of N worker processes runs N OCR
threads, not N x cores.

Pictures are shrunk so the longer side is at most `TextReader.max_side` (1280) before the
detector sees them: on the player screenshots (1664-2784 px) that still reads every title-bar
file name and timecode (two remaining-time timecodes lose their minus sign), for ~0.65 s CPU
per screenshot instead of ~1.1 s at full size (one thread; a 12 MP photo ~0.7 s). Small
pictures are enlarged so the longer side is at least `TextReader.min_side` (800; a 481x321
photo then costs ~0.16 s instead of ~0.05 s), which keeps ~12 px text readable. There is no
separate "any text?" pre-check: RapidOCR's detector is that check, and when it finds no text
box nothing else runs (a screenshot without text ~0.45 s). The engine loads in ~0.2 s CPU and
the process then holds ~450 MB (peak ~600 MB on 1280 px pictures).
"""

from __future__ import annotations

import os
import threading
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

from vangnet.errors import EmptyInputError, MediaError
from vangnet.media.image import decode_image, quiet_pillow, to_rgb
from vangnet.triage.tuning import default

# The defaults of `TextReader` are those of the settings ``triage_ocr_*``.
#: Longer side (pixels) a picture is shrunk to before text detection.
MAX_SIDE: int = default("triage_ocr_max_side")
#: Longer side a small picture is enlarged to (text in a 480 px frame is often ~10 px high).
MIN_SIDE: int = default("triage_ocr_min_side")
#: ... by at most this factor (a tiny icon is not blown up to 800 px).
MAX_ENLARGE = 4.0
#: A picture whose shorter side is below this (after sizing) cannot hold readable text.
MIN_TEXT_SIDE = 8
#: Lines the recogniser is less sure of than this are dropped (0-1).
MIN_CONFIDENCE: float = default("triage_ocr_min_confidence")

#: (x0, y0, x1, y1) in pixels of the picture as given: columns x0..x1-1, rows y0..y1-1.
Box = tuple[int, int, int, int]
RGB = npt.NDArray[np.uint8]
ImageInput = Image.Image | npt.NDArray[Any] | bytes


@dataclass(frozen=True)
class OcrLine:
    """One line of text: what it says, how sure the recogniser is (0-1), and where it is."""

    text: str
    confidence: float
    box: Box

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "confidence": round(self.confidence, 3), "box": list(self.box)}


@dataclass(frozen=True)
class OcrResult:
    """The text lines of a picture in reading order (top to bottom, then left to right).

    ``text`` joins them: one output line per visual row, items of a row separated by a space.
    ``size`` is (width, height) of the picture as given, ``elapsed`` the OCR time in seconds.
    """

    lines: tuple[OcrLine, ...]
    text: str
    size: tuple[int, int]
    elapsed: float

    @classmethod
    def from_lines(
        cls, lines: Sequence[OcrLine], *, size: tuple[int, int], elapsed: float = 0.0
    ) -> OcrResult:
        """Orders ``lines`` (`reading_order`) and joins their text."""
        rows = reading_order(lines)
        text = "\n".join(" ".join(line.text for line in row) for row in rows)
        return cls(tuple(line for row in rows for line in row), text, size, elapsed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "lines": [line.to_dict() for line in self.lines],
            "size": list(self.size),
            "elapsed": round(self.elapsed, 3),
        }


def reading_order(lines: Sequence[OcrLine]) -> list[list[OcrLine]]:
    """Lines grouped into visual rows, top to bottom, each row left to right. A line joins the
    row above when its vertical centre lies within that row's first (topmost) line."""
    rows: list[list[OcrLine]] = []
    for line in sorted(lines, key=lambda ln: (ln.box[1], ln.box[0])):
        if rows:
            first = rows[-1][0]
            if first.box[1] <= (line.box[1] + line.box[3]) / 2 < first.box[3]:
                rows[-1].append(line)
                continue
        rows.append([line])
    return [sorted(row, key=lambda ln: ln.box[0]) for row in rows]


# -- input --------------------------------------------------------------------------------------


def _composite_on_white(rgba: npt.NDArray[np.uint8]) -> RGB:
    alpha = rgba[:, :, 3:4].astype(np.float32) / 255.0
    rgb = rgba[:, :, :3].astype(np.float32) * alpha + 255.0 * (1.0 - alpha)
    out: RGB = np.clip(np.rint(rgb), 0, 255).astype(np.uint8)
    return out


def as_rgb(image: ImageInput, *, decode_side: int = MAX_SIDE) -> RGB:
    """``image`` as an RGB uint8 array (H, W, 3).

    Accepts a Pillow image (any mode; transparency composited onto white), a uint8 array
    (H, W) grey, (H, W, 1), (H, W, 3) RGB or (H, W, 4) RGBA, or encoded image bytes (decoded
    safely by `vangnet.media.image.decode_image`, JPEGs at reduced size down to
    ``decode_side``). Raises `EmptyInputError` for an image without pixels and `MediaError`
    (or a subclass) for anything that is not a picture.
    """
    if isinstance(image, bytes | bytearray | memoryview):
        data = bytes(image)
        if not data:
            raise EmptyInputError("the input is empty (0 bytes)")
        image = decode_image(data, fast=True, min_side=decode_side)[0]
    if isinstance(image, Image.Image):
        if image.width == 0 or image.height == 0:
            raise EmptyInputError(f"the image has no pixels ({image.width}x{image.height})")
        with quiet_pillow():
            try:
                return np.asarray(to_rgb(image), dtype=np.uint8)
            except (OSError, ValueError) as exc:
                raise MediaError(f"the image cannot be converted to RGB: {exc}") from None
    if not isinstance(image, np.ndarray):
        raise TypeError(f"expected a PIL image, a numpy array or bytes, got {type(image)!r}")
    if image.size == 0:
        raise EmptyInputError(f"the image has no pixels (shape {image.shape})")
    if image.dtype != np.uint8:
        raise MediaError(f"expected 8-bit pixels (uint8), got {image.dtype}")
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim == 3 and image.shape[2] in (1, 3, 4):
        if image.shape[2] == 1:
            return np.repeat(image, 3, axis=2)
        if image.shape[2] == 4:
            return _composite_on_white(image)
        return image
    raise MediaError(f"expected an (H, W), (H, W, 3) or (H, W, 4) pixel array, got {image.shape}")


def fit(rgb: RGB, *, max_side: int, min_side: int = 0) -> tuple[RGB, float]:
    """``rgb`` scaled so its longer side is within [min_side, max_side] (enlarged at most
    `MAX_ENLARGE` times), and the scale used."""
    longest = max(rgb.shape[:2])
    scale = 1.0
    if longest > max_side:
        scale = max_side / longest
    elif 0 < longest < min_side:
        scale = min(MAX_ENLARGE, min_side / longest)
    if scale == 1.0:
        return rgb, scale
    height, width = rgb.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_CUBIC
    resized: RGB = np.asarray(cv2.resize(rgb, size, interpolation=interpolation), np.uint8)
    return resized, scale


# -- word spaces --------------------------------------------------------------------------------

#: A blank column run at least this share of the line box's height separates two words.
WORD_GAP = 0.2


def _is_latin_letter(char: str) -> bool:
    return char.isalpha() and "LATIN" in unicodedata.name(char, "")


def _blank_runs(gray: npt.NDArray[np.uint8], box: Box) -> list[tuple[int, int]]:
    """Column runs [start, end) of the line box without ink (Otsu split; ink is the minority)."""
    x0, y0, x1, y1 = box
    crop = gray[y0:y1, x0:x1]
    if crop.shape[0] < 4 or crop.shape[1] < 4:
        return []
    _, binary = cv2.threshold(crop, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    ink = binary > 0
    if ink.mean() > 0.5:
        ink = ~ink
    blank = np.concatenate(([False], ~ink.any(axis=0), [False]))
    edges = np.flatnonzero(np.diff(blank.astype(np.int8)))
    return [(x0 + int(a), x0 + int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def restore_spaces(
    text: str,
    char_boxes: Sequence[Sequence[Sequence[float]]],
    gray: npt.NDArray[np.uint8],
    box: Box,
) -> str:
    """``text`` with the word spaces the recogniser dropped put back.

    PP-OCR's recogniser is trained mostly on Chinese and often runs Latin words together
    ("Wegaanmorgen"). Where a blank gap at least `WORD_GAP` x the line height lies between
    the positions of two Latin letters (positions from RapidOCR's per-character boxes), a
    space is inserted. Digits are left alone (a "1" in a timecode's fixed-width slot has wide
    gaps). Text on a busy background has no blank columns, so nothing is inserted there.
    """
    if len(char_boxes) != len(text) or box[2] - box[0] <= box[3] - box[1]:
        return text
    min_gap = WORD_GAP * (box[3] - box[1])
    gaps = [(a + b) / 2 for a, b in _blank_runs(gray, box) if b - a >= min_gap]
    if not gaps:
        return text
    centres = [(min(p[0] for p in cb) + max(p[0] for p in cb)) / 2 for cb in char_boxes]
    out = [text[0]]
    for i in range(1, len(text)):
        before, char = text[i - 1], text[i]
        if (
            _is_latin_letter(before)
            and _is_latin_letter(char)
            and any(centres[i - 1] < gap < centres[i] for gap in gaps)
        ):
            out.append(" ")
        out.append(char)
    return "".join(out)


def _bounds(quad: Sequence[Sequence[float]], scale: float, width: int, height: int) -> Box:
    """Axis-aligned box of a detector quadrilateral, scaled back by ``scale`` and clipped."""
    points = np.asarray(quad, dtype=np.float64) / scale
    x0, y0 = (int(v) for v in np.floor(points.min(axis=0)))
    x1, y1 = (int(v) for v in np.ceil(points.max(axis=0)))
    x0, y0 = min(max(0, x0), width - 1), min(max(0, y0), height - 1)
    return x0, y0, min(width, max(x1, x0 + 1)), min(height, max(y1, y0 + 1))


# -- the engine -----------------------------------------------------------------------------------


class _Engines:
    """One RapidOCR engine (and one call lock) per thread count, per process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.engines: dict[int, tuple[Any, threading.Lock]] = {}
        self.load_seconds: dict[int, float] = {}

    def get(self, threads: int) -> tuple[Any, threading.Lock]:
        with self.lock:
            found = self.engines.get(threads)
            if found is None:
                started = time.perf_counter()
                found = (_new_engine(threads), threading.Lock())
                self.load_seconds[threads] = time.perf_counter() - started
                self.engines[threads] = found
            return found


def _new_engine(threads: int) -> Any:
    from rapidocr_onnxruntime import RapidOCR

    # Global keys reach all three sessions (det, cls, rec). RapidOCR only honours a thread
    # count between 1 and os.cpu_count(); 0 keeps onnxruntime's default (all cores).
    options: dict[str, Any] = {"text_score": 0.5, "print_verbose": False}
    if threads > 0:
        options["intra_op_num_threads"] = min(threads, os.cpu_count() or 1)
        options["inter_op_num_threads"] = 1
    # The picture is already sized by `fit`; "max" with a large limit keeps the detector from
    # resizing it again (RapidOCR's default enlarges the shorter side to 736 px).
    options["det_limit_type"] = "max"
    options["det_limit_side_len"] = 4096
    return RapidOCR(**options)


_ENGINES = _Engines()


def _reset_after_fork() -> None:
    global _ENGINES
    _ENGINES = _Engines()


os.register_at_fork(after_in_child=_reset_after_fork)


def engine_load_seconds() -> dict[int, float]:
    """Seconds each engine of this process took to load, by thread count (for reports)."""
    return dict(_ENGINES.load_seconds)


class TextReader:
    """Reads the text in pictures. Cheap to create; the model loads on the first `read`.

    ``threads``: onnxruntime intra-op threads per model (1 for a worker pool; 0 = all cores).
    ``max_side`` / ``min_side``: the longer side is brought into this range before detection.
    ``min_confidence``: lines recognised with less confidence are dropped.
    """

    def __init__(
        self,
        *,
        threads: int = 1,
        max_side: int = MAX_SIDE,
        min_side: int = MIN_SIDE,
        min_confidence: float = MIN_CONFIDENCE,
    ) -> None:
        if threads < 0 or max_side < 32 or not 0 <= min_side <= max_side:
            raise ValueError("need threads >= 0 and 32 <= max_side, 0 <= min_side <= max_side")
        self.threads = threads
        self.max_side = max_side
        self.min_side = min_side
        self.min_confidence = min_confidence

    def warm_up(self) -> None:
        """Load the model now (e.g. when a worker starts) instead of on the first `read`."""
        _ENGINES.get(self.threads)

    def read(self, image: ImageInput) -> OcrResult:
        """The text lines in ``image`` (see `as_rgb` for what it accepts and raises)."""
        started = time.perf_counter()
        rgb = as_rgb(image, decode_side=self.max_side)
        height, width = rgb.shape[:2]
        small, scale = fit(rgb, max_side=self.max_side, min_side=self.min_side)
        if min(small.shape[:2]) < MIN_TEXT_SIDE:  # a line or a dot: RapidOCR would pad it huge
            return OcrResult.from_lines([], size=(width, height))
        bgr = np.ascontiguousarray(small[:, :, ::-1])
        engine, call_lock = _ENGINES.get(self.threads)
        with call_lock:
            try:
                raw, _ = engine(bgr, return_word_box=True)
            except Exception as exc:  # the engine's own error types are not public
                raise MediaError(f"OCR failed on a {width}x{height} picture: {exc}") from None
        gray = np.asarray(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY), np.uint8) if raw else None
        lines: list[OcrLine] = []
        for quad, text, score, char_boxes, *_ in raw or ():
            if gray is None or not str(text).strip() or float(score) < self.min_confidence:
                continue
            small_box = _bounds(quad, 1.0, small.shape[1], small.shape[0])
            text = " ".join(restore_spaces(str(text), char_boxes, gray, small_box).split())
            lines.append(OcrLine(text, float(score), _bounds(quad, scale, width, height)))
        elapsed = time.perf_counter() - started
        return OcrResult.from_lines(lines, size=(width, height), elapsed=elapsed)
