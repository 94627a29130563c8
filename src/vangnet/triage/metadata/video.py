"""A video's metadata (PyAV): container and stream tags, QuickTime / MP4 keys
(``creation_time``, ``com.apple.quicktime.*``, ISO 6709 ``location``), duration, codecs."""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from datetime import timedelta
from fractions import Fraction
from typing import Any

import av
import av.error

from vangnet.errors import MediaError
from vangnet.signals.base import ContentType
from vangnet.triage import geo
from vangnet.triage.metadata.gps import checked_gps, parse_iso6709, rational_text
from vangnet.triage.metadata.models import Device, Document, Gps, Metadata, Timestamp
from vangnet.triage.metadata.values import (
    MAX_TAG_CHARS,
    MAX_TAGS,
    Problems,
    dedupe,
    make_timestamp,
    parse_datetime,
)
from vangnet.triage.metadata.xmp import read_xmp


def _tag_map(container: av.container.InputContainer) -> dict[str, str]:
    tags: dict[str, str] = {}
    for key, value in container.metadata.items():
        tags[str(key)] = str(value)
    for stream in container.streams:
        for key, value in stream.metadata.items():
            tags[f"stream{stream.index}:{key}"] = str(value)
    return {k[:100]: " ".join(v.split())[:MAX_TAG_CHARS] for k, v in list(tags.items())[:MAX_TAGS]}


def _lookup(tags: Mapping[str, str], *keys: str) -> tuple[str, str] | None:
    """The first present key, case-insensitively: ``(key, value)``."""
    lowered = {k.lower(): (k, v) for k, v in tags.items() if v}
    for key in keys:
        hit = lowered.get(key.lower())
        if hit is not None:
            return hit
    return None


def _video_times(
    tags: Mapping[str, str], problems: Problems
) -> tuple[Timestamp | None, tuple[Timestamp, ...]]:
    times: list[Timestamp] = []
    for key in ("com.apple.quicktime.creationdate", "date", "creation_time"):
        hit = _lookup(tags, key)
        if hit is None:
            continue
        name, text = hit
        if re.fullmatch(r"\s*\d{4}\s*", text):
            continue  # a year alone ("date" = ©day often is)
        try:
            parsed = parse_datetime(text)
        except ValueError as exc:
            problems.add(f"QuickTime {name} dropped: {exc}")
            continue
        if parsed is None:
            continue
        local, offset = parsed
        if key == "creation_time":
            # UTC by definition (MP4 / QuickTime mvhd); 1904-01-01 or 1970-01-01 = unset.
            utc = make_timestamp(name, local, offset or timedelta(0)).utc
            if utc is None or utc.year in (1904, 1970):
                continue
            times.append(Timestamp(source=f"quicktime:{name}", local=None, utc=utc))
        else:
            times.append(make_timestamp(f"quicktime:{name}", local, offset))
    return (times[0] if times else None), tuple(times)


def _video_gps(tags: Mapping[str, str], problems: Problems) -> Gps | None:
    hit = _lookup(tags, "com.apple.quicktime.location.ISO6709", "location", "location-eng")
    if hit is None:
        return None
    name, text = hit
    try:
        lat, lon, altitude = parse_iso6709(text)
    except ValueError as exc:
        problems.add(f"QuickTime {name} dropped: {exc}")
        return None
    accuracy_hit = _lookup(tags, "com.apple.quicktime.location.accuracy.horizontal")
    accuracy = rational_text(accuracy_hit[1]) if accuracy_hit else None
    return checked_gps(
        Gps(
            source="quicktime",
            latitude=lat,
            longitude=lon,
            altitude_m=altitude,
            accuracy_m=accuracy,
        ),
        problems,
    )


def _rate(stream: Any) -> float | None:
    for rate in (stream.average_rate, stream.base_rate, stream.guessed_rate):
        if rate is not None and rate > 0:
            return round(float(Fraction(rate)), 3)
    return None


def read_video(data: bytes, fmt: str) -> Metadata:
    problems = Problems()
    try:
        container = av.open(io.BytesIO(data), mode="r", format=fmt)
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise MediaError(f"corrupt or truncated {fmt} video: {exc}") from None
    with container:
        tags: dict[str, str] = problems.attempt("tags", lambda: _tag_map(container), {})
        duration = container.duration / av.time_base if container.duration else None
        video = container.streams.video[0] if container.streams.video else None
        audio = container.streams.audio[0] if container.streams.audio else None
        # A stream whose codec FFmpeg does not know has no codec context.
        video_ctx = video.codec_context if video is not None else None
        audio_ctx = audio.codec_context if audio is not None else None
        width = (video_ctx.width or None) if video_ctx is not None else None
        height = (video_ctx.height or None) if video_ctx is not None else None
        if duration is None and video is not None and video.duration and video.time_base:
            duration = float(video.duration * video.time_base)
        video_codec = video_ctx.name if video_ctx is not None else None
        audio_codec = audio_ctx.name if audio_ctx is not None else None
        frame_rate = _rate(video) if video is not None else None
    if video is None:
        problems.add("the file has no video stream")
    no_times: tuple[Timestamp | None, tuple[Timestamp, ...]] = (None, ())
    captured, times = problems.attempt("times", lambda: _video_times(tags, problems), no_times)
    gps = problems.attempt("location", lambda: _video_gps(tags, problems), None)

    def tag(*keys: str) -> str | None:
        hit = _lookup(tags, *keys)
        return hit[1] if hit else None

    software = [
        tag("com.apple.quicktime.software"),
        tag("software"),
        tag("com.android.version") and f"Android {tag('com.android.version')}",
        tag("encoder"),
    ]
    device = Device(
        make=tag("com.apple.quicktime.make", "com.android.manufacturer", "make"),
        model=tag("com.apple.quicktime.model", "com.android.model", "model"),
        artist=tag("artist", "com.apple.quicktime.author", "author"),
        copyright=tag("copyright", "com.apple.quicktime.copyright"),
    )
    xmp = read_xmp(data, problems)
    document = None
    if xmp is not None:
        document = Document(
            creator_tool=xmp.values.get("xmp:CreatorTool"),
            document_id=xmp.values.get("xmpMM:DocumentID"),
            original_document_id=xmp.values.get("xmpMM:OriginalDocumentID"),
            instance_id=xmp.values.get("xmpMM:InstanceID"),
            history=xmp.history,
        )
    return Metadata(
        kind=ContentType.VIDEO,
        format=fmt,
        width=width,
        height=height,
        duration_s=None if duration is None else round(duration, 3),
        video_codec=video_codec,
        audio_codec=audio_codec,
        frame_rate=frame_rate,
        captured=captured,
        times=times,
        gps=gps,
        place=None if gps is None else geo.place(gps.latitude, gps.longitude),
        device=device,
        software=dedupe([s for s in software if s]),
        document=document,
        tags=tuple(sorted(tags.items())),
        problems=tuple(problems.items),
    )
