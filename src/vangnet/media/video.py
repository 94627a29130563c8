"""Safe in-memory video decoding with vPDQ-compatible frame sampling.

Sampling follows Meta's vPDQ reference (``vpdq/cpp/hashing/filehasher.cpp``): frames are
numbered in decode order from 0; the frame rate is the stream's average rate (falling back
to the real base rate); every ``int(frame_rate / fps)``-th frame is kept (at least every
frame); a kept frame's timestamp is ``frame_number / frame_rate``. Frames are converted to
RGB at their full size.

`crop_black_bars` removes letterbox / pillarbox bars: one content box per video, found on
the first few informative sampled frames (rows and columns that are near-black and flat in
every probe frame), so an SD copy with bars and the HD original hash alike.

The container is opened from a `BytesIO` with the demuxer chosen by `vangnet.media.sniff`,
so FFmpeg never probes formats that could reference other files or URLs. FFmpeg's log is
left off (PyAV's default), so nothing is printed.
"""

from __future__ import annotations

import io
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction

import av
import av.error
import numpy as np
import numpy.typing as npt

from vangnet.config import Settings
from vangnet.errors import MediaError, MediaTooLargeError, UnsupportedMediaError
from vangnet.media.limits import check_pixels, media_limits, pixel_limit
from vangnet.media.sniff import ContentType, sniff


@dataclass(frozen=True)
class VideoFrame:
    """One sampled frame: decode-order number, seconds from the start, RGB pixels, and
    where those pixels sit in the frame as decoded (``origin``: x, y of their top-left
    corner; not (0, 0) once `crop_black_bars` cropped bars off)."""

    number: int
    timestamp: float
    rgb: npt.NDArray[np.uint8]
    origin: tuple[int, int] = (0, 0)


#: A bar row/column has a mean luminance below this (0-255) ...
BAR_MAX_LUMA = 24.0
#: ... and a luminance standard deviation along it below this.
BAR_MAX_STD = 10.0
#: Bars thinner than this share of the side are left alone (encoder edge noise).
BAR_MIN_SHARE = 0.01
#: The content box must keep at least this share of each side, or nothing is cropped.
BAR_MIN_CONTENT = 0.4
#: Informative frames looked at to find the bars, and most frames buffered meanwhile.
BAR_PROBE_FRAMES = 5
BAR_PROBE_MAX_BUFFER = 16
_BAR_STRIDE = 4  # row / column statistics use every 4th pixel along the line

#: (top, bottom, left, right): rows top..bottom-1 and columns left..right-1 are content.
Box = tuple[int, int, int, int]


def _luma(rgb: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    luma: npt.NDArray[np.float32] = rgb.astype(np.float32) @ weights
    return luma


def _extent(bar: npt.NDArray[np.bool_]) -> tuple[int, int]:
    """First and one-past-last index that is not bar (0, 0 when all of it is bar)."""
    content = np.flatnonzero(~bar)
    if content.size == 0:
        return 0, 0
    return int(content[0]), int(content[-1]) + 1


def frame_content_box(rgb: npt.NDArray[np.uint8]) -> Box | None:
    """Content box of one frame inside near-black flat bars; None for a blank frame."""
    by_row = _luma(rgb[:, ::_BAR_STRIDE])  # every row, a sample of its pixels
    by_col = _luma(rgb[::_BAR_STRIDE, :])
    rows = (by_row.mean(axis=1) < BAR_MAX_LUMA) & (by_row.std(axis=1) < BAR_MAX_STD)
    cols = (by_col.mean(axis=0) < BAR_MAX_LUMA) & (by_col.std(axis=0) < BAR_MAX_STD)
    top, bottom = _extent(rows)
    left, right = _extent(cols)
    if bottom <= top or right <= left:
        return None
    return top, bottom, left, right


def content_box(frames: Sequence[npt.NDArray[np.uint8]]) -> Box | None:
    """One content box for a video from some of its frames, or None to crop nothing.

    A row or column is cut only when it is bar in every informative (non-blank) frame and
    the bar is at least `BAR_MIN_SHARE` of the side; the box must keep `BAR_MIN_CONTENT`.
    """
    boxes = [b for b in (frame_content_box(f) for f in frames) if b is not None]
    if not boxes:
        return None
    height, width = frames[0].shape[:2]
    top = min(b[0] for b in boxes)
    bottom = max(b[1] for b in boxes)
    left = min(b[2] for b in boxes)
    right = max(b[3] for b in boxes)
    top = top if top >= BAR_MIN_SHARE * height else 0
    bottom = bottom if height - bottom >= BAR_MIN_SHARE * height else height
    left = left if left >= BAR_MIN_SHARE * width else 0
    right = right if width - right >= BAR_MIN_SHARE * width else width
    if bottom - top < BAR_MIN_CONTENT * height or right - left < BAR_MIN_CONTENT * width:
        return None
    if (top, bottom, left, right) == (0, height, 0, width):
        return None
    return top, bottom, left, right


def crop_black_bars(frames: Iterator[VideoFrame]) -> Iterator[VideoFrame]:
    """``frames`` with the video's letterbox / pillarbox bars cropped off (`content_box`).

    The first frames are buffered until `BAR_PROBE_FRAMES` informative ones are seen (at
    most `BAR_PROBE_MAX_BUFFER`); the box found then applies to every frame of the video.
    """
    buffered: list[VideoFrame] = []
    informative = 0
    for frame in frames:
        buffered.append(frame)
        informative += frame_content_box(frame.rgb) is not None
        if informative >= BAR_PROBE_FRAMES or len(buffered) >= BAR_PROBE_MAX_BUFFER:
            break
    if not buffered:
        return
    box = content_box([f.rgb for f in buffered])
    shape = buffered[0].rgb.shape

    def cropped(frame: VideoFrame) -> VideoFrame:
        if box is None or frame.rgb.shape != shape:
            return frame
        top, bottom, left, right = box
        return replace(frame, rgb=frame.rgb[top:bottom, left:right], origin=(left, top))

    for frame in buffered:
        yield cropped(frame)
    buffered.clear()
    for frame in frames:
        yield cropped(frame)


def _frame_rate(stream: av.video.stream.VideoStream) -> float:
    for rate in (stream.average_rate, stream.base_rate, stream.guessed_rate):
        if rate is not None and rate > 0:
            return float(Fraction(rate))
    raise MediaError("video has no usable frame rate")


def _duration_seconds(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def iter_video_frames(
    data: bytes, *, fps: float | None = None, numbers: Collection[int] | None = None
) -> Iterator[VideoFrame]:
    """Decode ``data`` in memory and yield the frames vPDQ samples at ``fps`` per second.

    ``fps`` defaults to the documented default of ``video_fps`` (callers pass the setting);
    0 yields every frame. ``numbers`` instead: only the frames with those decode-order
    numbers (the same numbering), each converted to RGB, decoding stopped after the last of
    them (one pass from the start: a sampled frame got back exactly as it was hashed).
    Refused above the process's caps (`media_limits`). Raises `EmptyInputError`,
    `UnsupportedMediaError`, `MediaTooLargeError` (pixels, seconds) or `MediaError`.
    """
    rate_wanted = float(Settings.model_fields["video_fps"].default) if fps is None else fps
    if not rate_wanted >= 0:
        raise ValueError(f"fps must be 0 (every frame) or positive, got {fps!r}")
    sniffed = sniff(data)
    if sniffed.content_type is not ContentType.VIDEO:
        raise UnsupportedMediaError(f"expected a video, got a {sniffed.format} image")
    try:
        container = av.open(io.BytesIO(data), mode="r", format=sniffed.format)
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise MediaError(f"corrupt or truncated {sniffed.format} video: {exc}") from None
    with container:
        if not container.streams.video:
            raise UnsupportedMediaError("the file has no video stream")
        stream = container.streams.video[0]
        limit = pixel_limit()
        check_pixels(
            stream.codec_context.width, stream.codec_context.height, what="video", limit=limit
        )
        frame_rate = _frame_rate(stream)
        max_seconds = media_limits().max_video_seconds
        if _duration_seconds(container, stream) > max_seconds:
            raise MediaTooLargeError(f"video is longer than max_video_seconds ({max_seconds:g} s)")
        frame_mod = max(1, int(frame_rate / rate_wanted)) if rate_wanted else 1
        stream.thread_type = "AUTO"
        number = 0
        last = max(numbers, default=-1) if numbers is not None else None
        try:
            for frame in container.decode(stream):
                timestamp = number / frame_rate
                if timestamp > max_seconds:
                    raise MediaTooLargeError(
                        f"video runs past max_video_seconds ({max_seconds:g} s)"
                    )
                if (number in numbers) if numbers is not None else (number % frame_mod == 0):
                    check_pixels(frame.width, frame.height, what=f"frame {number}", limit=limit)
                    rgb = np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
                    yield VideoFrame(number, timestamp, rgb)
                number += 1
                if last is not None and number > last:
                    return  # the frames asked for are all out
        except av.error.FFmpegError as exc:
            raise MediaError(
                f"corrupt or truncated {sniffed.format} video at frame {number}: {exc}"
            ) from None
        if number == 0:
            raise MediaError(f"no frame could be decoded from this {sniffed.format} video")
        expected = stream.frames
        if expected and number + max(2, expected // 50) < expected:
            raise MediaError(
                f"truncated {sniffed.format} video: decoded {number} of {expected} frames"
            )


def frames_near(data: bytes, seconds: Sequence[float]) -> dict[float, npt.NDArray[np.uint8]]:
    """RGB (as decoded, bars and all) of the frames shown at the given seconds of an already
    validated video, each found by seeking to the key frame before it and decoding on to the
    first frame at or after it (within half a frame): a few frames decoded per second asked
    for, wherever it is in the video. A second not reached is left out. Raises `MediaError`
    when the container cannot seek or decode."""
    found: dict[float, npt.NDArray[np.uint8]] = {}
    if not seconds:
        return found
    try:
        with av.open(io.BytesIO(data), mode="r", format=sniff(data).format) as container:
            stream = container.streams.video[0]
            limit = pixel_limit()
            check_pixels(stream.codec_context.width, stream.codec_context.height, limit=limit)
            stream.thread_type = "AUTO"
            base = stream.time_base
            if base is None:
                raise MediaError("video stream has no time base")
            start = stream.start_time or 0
            slack = int(0.5 / (_frame_rate(stream) * base))  # half a frame, in stream ticks
            for at in sorted(set(seconds)):
                target = start + int(at / base)
                container.seek(target, stream=stream, backward=True, any_frame=False)
                for frame in container.decode(stream):
                    if frame.pts is not None and frame.pts >= target - slack:
                        check_pixels(frame.width, frame.height, what="frame", limit=limit)
                        found[at] = np.asarray(frame.to_ndarray(format="rgb24"), dtype=np.uint8)
                        break
    except (av.error.FFmpegError, ValueError, OSError, IndexError) as exc:
        raise MediaError(f"cannot seek in the video: {exc}") from None
    return found
