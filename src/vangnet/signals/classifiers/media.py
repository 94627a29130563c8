"""Classifying one photo or video (the bytes of a file or an upload), decoded in memory only:
what `vangnet classify` prints and ``POST /v1/classify`` answers.

A photo is one picture. A video is up to ``classify_video_frames`` frames spread evenly over
it (sampled at ``video_fps``, letterbox bars cropped); each frame gets its own reading and the
video's score per classifier is its highest frame's, with that frame's time.

Pictures are downsized to the largest ``max_side`` of the classifiers before scoring (a
large photo or frame is never held more than once); evidence boxes are then given in the
pixels of the photo, or of the video frame, as decoded (bars included).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from vangnet.config import Settings
from vangnet.media.image import decode_image
from vangnet.media.sniff import ContentType, sniff
from vangnet.media.video import VideoFrame, crop_black_bars, iter_video_frames
from vangnet.signals.classifiers.base import Classifier, Pixels, Score
from vangnet.signals.classifiers.fusion import Fused, Fusion
from vangnet.signals.classifiers.scoring import Reading, fit, placed, score_pictures


@dataclass(frozen=True)
class Classified:
    """The classifiers' readings of one file: one per picture (a photo's one, or a video's
    sampled frames with their ``times`` in seconds)."""

    path: str
    content_type: ContentType
    readings: tuple[Reading, ...]
    times: tuple[float, ...] = ()

    def best(self) -> dict[str, tuple[Score, float | None]]:
        """Per classifier, its highest score over the pictures (and that frame's time)."""
        out: dict[str, tuple[Score, float | None]] = {}
        for index, reading in enumerate(self.readings):
            at = self.times[index] if self.times else None
            for name, score in reading.scores.items():
                if name not in out or score.value > out[name][0].value:
                    out[name] = (score, at)
        return out

    def errors(self) -> dict[str, str]:
        """Per classifier that failed on some picture, the first reason."""
        out: dict[str, str] = {}
        for reading in self.readings:
            for name, message in reading.errors.items():
                out.setdefault(name, message)
        return out

    def fused(self, fusion: Fusion) -> tuple[Fused, float | None]:
        """The priority signal of the file: a photo's, or a video's highest of its frames'
        (each frame fused on its own: nudity in one frame and a young face in another do
        not add up), with that frame's time."""
        best: tuple[Fused, float | None] = (Fused(), None)
        for index, reading in enumerate(self.readings):
            fused = fusion.fuse(reading.scores)
            if best[0].parts == () or fused.value > best[0].value:
                best = (fused, self.times[index] if self.times else None)
        return best

    def to_json(self, fusion: Fusion | None = None) -> dict[str, Any]:
        """The JSON of the file (`vangnet classify --json`, ``POST /v1/classify``); with a
        ``fusion``, its ``priority`` signal too (with ``frame_time`` for a video)."""
        scores = []
        for score, at in self.best().values():
            item = score.as_json()
            if at is not None:
                item["frame_time"] = round(at, 3)
            scores.append(item)
        out: dict[str, Any] = {
            "path": self.path,
            "content_type": self.content_type.value,
            "scores": scores,
            "summary": "; ".join(s["summary"] for s in scores if s["summary"]),
            "errors": [{"classifier": n, "message": m} for n, m in self.errors().items()],
        }
        if fusion is not None:
            fused, at = self.fused(fusion)
            out["priority"] = fused.as_json()
            if at is not None:
                out["priority"]["frame_time"] = round(at, 3)
        if self.content_type is ContentType.VIDEO:
            out["frames"] = [
                {"time": round(at, 3), **reading.as_json()}
                for at, reading in zip(self.times, self.readings, strict=True)
            ]
        return out


@dataclass(frozen=True)
class Spread:
    """A sampled frame downsized for the classifiers (``frame``), with the shape (height,
    width) its pixels had before (``shape``; the frame's ``origin`` is kept)."""

    frame: VideoFrame
    shape: tuple[int, ...]


class FrameSpread:
    """`spread` fed one frame at a time (`add`), by a decode that serves other work too (the
    triage's hashing pass, `vangnet.signals.vpdq.hash_video_variants`): the same frames kept,
    the video never held whole."""

    def __init__(self, most: int, side: int) -> None:
        self.most, self.side = most, side
        self._kept: list[Spread] = []
        self._stride, self._seen = 1, 0

    def add(self, frame: VideoFrame) -> None:
        """Offer the next sampled frame (in order)."""
        index, self._seen = self._seen, self._seen + 1
        if index % self._stride:
            return
        small = VideoFrame(frame.number, frame.timestamp, fit(frame.rgb, self.side), frame.origin)
        self._kept.append(Spread(small, frame.rgb.shape[:2]))
        if len(self._kept) >= 2 * self.most:
            self._kept = self._kept[::2]
            self._stride *= 2

    def frames(self) -> list[Spread]:
        """At most ``most`` of the frames offered, spread evenly over them."""
        kept = self._kept
        if len(kept) <= self.most:
            return list(kept)
        chosen = np.linspace(0, len(kept) - 1, self.most).round().astype(int)
        return [kept[i] for i in dict.fromkeys(chosen.tolist())]


def spread(frames: Iterator[VideoFrame], most: int, side: int) -> list[Spread]:
    """At most ``most`` of ``frames``, spread evenly over them, each downsized to ``side``
    on its longer side as it arrives: the video is never held whole (at most ``2 * most``
    frames are kept while reading, every other one dropped when that fills)."""
    found = FrameSpread(most, side)
    for frame in frames:
        found.add(frame)
    return found.frames()


def frame_side(classifiers: Sequence[Classifier]) -> int:
    """The side pictures are downsized to before ``classifiers`` score them."""
    return max((c.max_side for c in classifiers), default=512)


def _placed(
    reading: Reading, scored: tuple[int, ...], shape: tuple[int, ...], origin: tuple[int, int]
) -> Reading:
    """``reading`` with its boxes (on a picture of shape ``scored``) in the pixels of the
    picture as decoded (`placed`)."""
    scores = {n: placed(s, scored, shape, origin) for n, s in reading.scores.items()}
    return Reading(scores, dict(reading.errors))


def classify_bytes(
    data: bytes,
    *,
    settings: Settings,
    classifiers: Sequence[Classifier],
    path: str = "-",
    frames: Sequence[Spread] | None = None,
) -> Classified:
    """The readings of ``data`` (a photo or a video) by ``classifiers``. ``frames``: a
    video's frames already spread (`FrameSpread` fed by a decode made for other work, with
    ``classify_video_frames`` and `frame_side`), so that it is not decoded again. Raises the
    `vangnet.errors.MediaError` family when ``data`` cannot be decoded."""
    sniffed = sniff(data)
    side = frame_side(classifiers)
    if sniffed.content_type is ContentType.PHOTO:
        decoded = np.asarray(decode_image(data)[0], dtype=np.uint8)
        shape = decoded.shape[:2]
        picture: Pixels = fit(decoded, side)
        del decoded
        (reading,) = score_pictures([picture], classifiers)
        reading = _placed(reading, picture.shape[:2], shape, (0, 0))
        return Classified(path, sniffed.content_type, (reading,))
    if frames is None:
        frames = spread(
            crop_black_bars(iter_video_frames(data, fps=settings.video_fps)),
            settings.classify_video_frames,
            side,
        )
    readings = score_pictures([f.frame.rgb for f in frames], classifiers)
    placed_readings = tuple(
        _placed(r, f.frame.rgb.shape[:2], f.shape, f.frame.origin)
        for r, f in zip(readings, frames, strict=True)
    )
    return Classified(
        path, sniffed.content_type, placed_readings, tuple(f.frame.timestamp for f in frames)
    )
