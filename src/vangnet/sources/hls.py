"""Streams over HTTP(S), fetched in Python under the egress policy: HLS and progressive.

FFmpeg's own HLS reader would open every playlist and segment URL it is given, wherever it
points. Here the playlists and segments are fetched with an `vangnet.egress.client` HTTP
client (each connection resolved, checked and pinned; TLS verified) and only the bytes reach
the decoder, through `ChunkReader`. A URL whose answer is not a playlist is read as one
progressive stream (HTTP-FLV, MPEG-TS over HTTP).

Supported: master playlists (the highest-bandwidth variant within the pixel limit), media
playlists live or ended, ``EXT-X-MAP`` initialisation sections. Refused as unsupported:
encrypted segments (``EXT-X-KEY`` other than NONE) and byte ranges.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import httpx

from vangnet.egress.policy import DestinationRefused

MAX_PLAYLIST_BYTES = 1_000_000
CHUNK_BYTES = 64 * 1024
#: Segments a live playlist is joined at before its end (RFC 8216: not closer than three).
LIVE_EDGE_SEGMENTS = 3


class HlsUnsupported(Exception):
    """The playlist uses a feature this reader does not support (do not retry)."""


class HlsStalled(Exception):
    """A live playlist announced no new segment for too long."""


class HttpStatusError(Exception):
    """The server answered with a status other than 200."""

    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


@dataclass(frozen=True)
class Segment:
    sequence: int
    url: str
    init: str | None  # the EXT-X-MAP section it needs first


@dataclass(frozen=True)
class Variant:
    bandwidth: int
    pixels: int | None
    url: str


@dataclass
class Playlist:
    variants: list[Variant] = field(default_factory=list)
    segments: list[Segment] = field(default_factory=list)
    target_duration: float = 2.0
    ended: bool = False


def _attributes(text: str) -> dict[str, str]:
    """``KEY=VALUE,KEY="VALUE, with commas"`` attribute lists."""
    out: dict[str, str] = {}
    key, value, quoted, reading_key = "", "", False, True
    for ch in text + ",":
        if reading_key:
            if ch == "=":
                reading_key = False
            elif ch != ",":
                key += ch
        elif ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            out[key.strip().upper()] = value
            key, value, reading_key = "", "", True
        else:
            value += ch
    return out


def _uri(base: str, uri: str) -> str:
    url = urljoin(base, uri.strip())
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        raise DestinationRefused("HLS playlists may only name http(s) URLs")
    return url


def parse(text: str, base: str) -> Playlist:
    """A playlist's variants or segments, their URLs resolved against ``base``."""
    playlist = Playlist()
    sequence = 0
    pending_variant: dict[str, str] | None = None
    in_segment = False
    init: str | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            tag, _, value = line.partition(":")
            if tag == "#EXT-X-STREAM-INF":
                pending_variant = _attributes(value)
            elif tag == "#EXT-X-MEDIA-SEQUENCE":
                sequence = int(value.strip() or 0)
            elif tag == "#EXT-X-TARGETDURATION":
                playlist.target_duration = max(0.5, min(float(value.strip() or 2), 30.0))
            elif tag == "#EXTINF":
                in_segment = True
            elif tag == "#EXT-X-ENDLIST":
                playlist.ended = True
            elif tag == "#EXT-X-KEY":
                if _attributes(value).get("METHOD", "NONE").upper() != "NONE":
                    raise HlsUnsupported("encrypted HLS segments are not supported")
            elif tag == "#EXT-X-BYTERANGE":
                raise HlsUnsupported("HLS byte ranges are not supported")
            elif tag == "#EXT-X-MAP":
                attributes = _attributes(value)
                if "BYTERANGE" in attributes:
                    raise HlsUnsupported("HLS byte ranges are not supported")
                init = _uri(base, attributes.get("URI", ""))
            continue
        if pending_variant is not None:
            width, _, height = pending_variant.get("RESOLUTION", "").partition("x")
            pixels = int(width) * int(height) if width.isdigit() and height.isdigit() else None
            bandwidth = int(pending_variant.get("BANDWIDTH", "0") or 0)
            playlist.variants.append(Variant(bandwidth, pixels, _uri(base, line)))
            pending_variant = None
        elif in_segment:
            playlist.segments.append(Segment(sequence, _uri(base, line), init))
            sequence += 1
            in_segment = False
    return playlist


def choose_variant(variants: list[Variant], max_pixels: int) -> Variant:
    """The highest bandwidth within ``max_pixels`` (else the smallest picture)."""
    fitting = [v for v in variants if v.pixels is None or v.pixels <= max_pixels]
    if fitting:
        return max(fitting, key=lambda v: v.bandwidth)
    return min(variants, key=lambda v: v.pixels or 0)


class HttpStream:
    """The bytes of one HTTP(S) stream URL: a progressive body, or HLS segments in order."""

    def __init__(
        self,
        client: httpx.Client,
        url: str,
        *,
        max_pixels: int,
        stall_timeout: float,
        closed: Callable[[], bool],
    ) -> None:
        self.client = client
        self.url = url
        self.max_pixels = max_pixels
        self.stall_timeout = stall_timeout
        self.closed = closed

    def chunks(self) -> Iterator[bytes]:
        with self.client.stream("GET", self.url) as response:
            if response.status_code != 200:
                raise HttpStatusError(response.status_code)
            body = response.iter_bytes(CHUNK_BYTES)
            head = b""
            for chunk in body:
                head += chunk
                if len(head.lstrip(b"\xef\xbb\xbf \t\r\n")) >= 7:
                    break
            if not head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"#EXTM3U"):
                yield head  # a progressive stream: pass it through
                for chunk in body:
                    yield chunk
                    if self.closed():
                        return
                return
            text = self._rest(head, body)
        yield from self._hls(str(response.url), text)

    @staticmethod
    def _rest(head: bytes, body: Iterator[bytes]) -> str:
        data = bytearray(head)
        for chunk in body:
            data += chunk
            if len(data) > MAX_PLAYLIST_BYTES:
                raise HlsUnsupported(f"playlist larger than {MAX_PLAYLIST_BYTES} bytes")
        return data.decode("utf-8", errors="replace")

    def _text(self, url: str) -> tuple[str, str]:
        with self.client.stream("GET", url) as response:
            if response.status_code != 200:
                raise HttpStatusError(response.status_code)
            return self._rest(b"", response.iter_bytes(CHUNK_BYTES)), str(response.url)

    def _bytes(self, url: str) -> Iterator[bytes]:
        with self.client.stream("GET", url) as response:
            if response.status_code != 200:
                raise HttpStatusError(response.status_code)
            for chunk in response.iter_bytes(CHUNK_BYTES):
                yield chunk
                if self.closed():
                    return

    def _hls(self, url: str, text: str) -> Iterator[bytes]:
        playlist = parse(text, url)
        if playlist.variants:
            url = choose_variant(playlist.variants, self.max_pixels).url
            text, url = self._text(url)
            playlist = parse(text, url)
            if playlist.variants:
                raise HlsUnsupported("a variant playlist names further variants")
        last: int | None = None
        init: str | None = None
        fresh = time.monotonic()
        while not self.closed():
            segments = playlist.segments
            if last is None and not playlist.ended:
                segments = segments[-LIVE_EDGE_SEGMENTS:]
            for segment in segments:
                if last is not None and segment.sequence <= last:
                    continue
                if segment.init is not None and segment.init != init:
                    yield from self._bytes(segment.init)
                    init = segment.init
                yield from self._bytes(segment.url)
                last, fresh = segment.sequence, time.monotonic()
                if self.closed():
                    return
            if playlist.ended:
                return
            if time.monotonic() - fresh > self.stall_timeout:
                raise HlsStalled(f"no new HLS segment for {self.stall_timeout:g} s")
            self._pause(playlist.target_duration / 2)
            text, url = self._text(url)
            playlist = parse(text, url)

    def _pause(self, seconds: float) -> None:
        until = time.monotonic() + seconds
        while not self.closed() and time.monotonic() < until:
            time.sleep(min(0.1, max(0.0, until - time.monotonic())))


class ChunkReader(io.RawIOBase):
    """A read-only, unseekable file over an iterator of byte chunks (for `av.open`)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        super().__init__()
        self._chunks = chunks
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buffer:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._buffer = chunk
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size
