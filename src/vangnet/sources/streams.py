"""Where live frames come from: one small interface, one registry keyed by URL scheme.

A `Source` yields decoded frames with their stream time. Built-ins:

- `NetworkSource` (``rtmp``, ``rtmps``, ``rtsp``, ``udp``/``rtp``/``tcp`` MPEG-TS): FFmpeg's
  own protocols through PyAV, with a protocol whitelist per scheme and timeouts on connecting
  and on every read (a server that stalls raises instead of hanging).
- `HttpSource` (``http``/``https``: HLS ``.m3u8`` and progressive HTTP-FLV or MPEG-TS):
  playlists and segments fetched in Python (`vangnet.sources.hls`), the bytes decoded by PyAV.
- `RelaySource` (``srt``): PyAV's bundled FFmpeg has no SRT, so the system ``ffmpeg`` relays
  the stream as MPEG-TS into a pipe and PyAV decodes it in memory.

Network sources connect only where the egress policy (`vangnet.egress.policy`) allows, to the
address that was checked, checked again on every (re)connect; until a stream's first frame
every failure reads the same (`GENERIC_REASON`, the detail in the server log), so that a
stream's reason cannot be used to probe the internal network.
- `FileSource` (``file://`` or a plain path): a local file played at real-time speed, for
  demos and tests; with ``?loop=1`` it starts again at the end.

Nothing is written to disk; frames stay in memory. A new source is a subclass with
``schemes`` and `frames` (a network source: a `PolicedSource` with `connected_frames`),
registered by URL scheme through the entry-point group ``vangnet.sources`` (the built-ins
too, see ``pyproject.toml``), or at run time with `register_source`. The registry refuses a
source that serves a scheme other than ``file`` and plain paths unless it is a
`PolicedSource` that keeps its `PolicedSource.frames`: the egress check of every (re)connect
is not the plug-in's to skip. Conformance kit: `vangnet.sources.stream_conformance`.
"""

from __future__ import annotations

import inspect
import logging
import shutil
import subprocess
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar, Literal, final
from urllib.parse import parse_qs, urlsplit, urlunsplit

import av
import av.error
import httpx

from vangnet.egress.client import egress_client
from vangnet.egress.policy import GENERIC_REASON, CheckedUrl, DestinationRefused, EgressPolicy
from vangnet.egress.relay import Relay
from vangnet.errors import MediaError, UnavailableError, ValidationError
from vangnet.net import display_url
from vangnet.plugins import PluginError, Registry
from vangnet.sources.hls import ChunkReader, HlsStalled, HlsUnsupported, HttpStatusError, HttpStream

log = logging.getLogger(__name__)


class StreamEnded(Exception):
    """The source ended cleanly (end of file, publisher finished)."""


class StreamUnavailable(UnavailableError):
    """Could not connect, or the connection broke: worth reconnecting."""

    code = "stream_unavailable"


class StreamStalled(StreamUnavailable):
    """Connected, but no data arrived within the stall timeout."""

    code = "stream_stalled"


class StreamRejected(MediaError):
    """The stream is unusable as it is (no video, unknown codec, absurd size): do not retry."""

    code = "stream_rejected"


@dataclass(frozen=True)
class SourceFrame:
    """A decoded frame and its time in seconds from the start of the stream."""

    stream_time: float
    frame: av.VideoFrame
    key_frame: bool
    corrupt: bool = False  # the decoder flagged it (data lost or damaged on the way)


#: How RTSP is carried (setting ``live_rtsp_transport``): UDP falling back to TCP, or one.
RtspTransport = Literal["auto", "tcp", "udp"]


class Source(ABC):
    """One connection to one stream. `frames` raises `StreamEnded` at a clean end,
    `StreamUnavailable` / `StreamStalled` when the connection fails, `StreamRejected` when
    the content is unusable."""

    schemes: ClassVar[tuple[str, ...]]

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float,
        stall_timeout: float,
        egress: EgressPolicy,
        max_pixels: int,
        rtsp_transport: RtspTransport,
    ) -> None:
        self.url = url
        self.connect_timeout = connect_timeout
        self.stall_timeout = stall_timeout
        #: Where this source may connect (network sources): ``EgressPolicy.from_settings``.
        self.egress = egress
        #: Largest frame accepted (``live_max_pixels``); larger fails the stream.
        self.max_pixels = max_pixels
        #: RTSP transport (``live_rtsp_transport``): auto, tcp or udp.
        self.rtsp_transport = rtsp_transport
        self.closed = False
        #: Decode key frames only (set by the reader when the sample rate allows it).
        self.keyframes_only = False

    @abstractmethod
    def frames(self) -> Iterator[SourceFrame]: ...

    def close(self) -> None:
        """Ask a running `frames` to stop soon (from another thread)."""
        self.closed = True


def _error(exc: BaseException) -> str:
    """What went wrong, without the URL or path FFmpeg names in its errors (stream keys and
    passwords must not reach stream reasons, events and logs)."""
    strerror = getattr(exc, "strerror", None)
    return strerror if isinstance(strerror, str) and strerror else type(exc).__name__


def decode(
    container: av.container.InputContainer,
    *,
    max_pixels: int,
    pace: bool = False,
    stall_timeout: float | None = None,
    source: Source | None = None,
) -> Iterator[SourceFrame]:
    """Frames of the first video stream of an open container, with checks shared by all
    sources; ``pace`` sleeps so frames come out at real-time speed. While
    ``source.keyframes_only`` is set, FFmpeg skips decoding every frame but key frames."""
    if not container.streams.video:
        raise StreamRejected("the stream has no video")
    stream = container.streams.video[0]
    ctx = stream.codec_context
    if ctx.width * ctx.height > max_pixels:
        raise StreamRejected(f"frames are {ctx.width}x{ctx.height}, more than live_max_pixels")
    stream.thread_type = "SLICE"
    stream.codec_context.thread_count = 1
    start_pts: int | None = None
    started = time.monotonic()
    skipping = False
    try:
        for frame in container.decode(stream):
            if source is not None and source.keyframes_only != skipping:
                skipping = source.keyframes_only
                ctx.skip_frame = "NONKEY" if skipping else "DEFAULT"
            if frame.width * frame.height > max_pixels or frame.width < 1 or frame.height < 1:
                raise StreamRejected(f"a frame is {frame.width}x{frame.height}")
            if frame.pts is None or frame.time_base is None:
                continue
            if start_pts is None:
                start_pts = frame.pts
            seconds = float((frame.pts - start_pts) * frame.time_base)
            if pace:
                ahead = seconds - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
            yield SourceFrame(
                max(seconds, 0.0), frame, bool(frame.key_frame), bool(frame.is_corrupt)
            )
    except av.error.ExitError:  # PyAV's timeout (interrupt callback)
        within = f" for {stall_timeout:g} s" if stall_timeout is not None else ""
        raise StreamStalled(f"no data{within}") from None
    except (av.error.EOFError, EOFError):
        pass
    except av.error.InvalidDataError as exc:
        raise StreamRejected(f"undecodable stream data: {_error(exc)}") from None
    except av.error.FFmpegError as exc:
        raise StreamUnavailable(f"stream read failed: {_error(exc)}") from None
    raise StreamEnded


class StreamRedirectRefused(StreamRejected):
    """The server redirected the stream elsewhere; redirects are not followed (egress)."""

    code = "stream_redirect_refused"


def via_relay(url: str, port: int) -> str:
    """``url`` with its host and port replaced by the loopback relay's (credentials, path and
    query stay: the server sees the request URL with the relay's address)."""
    parts = urlsplit(url)
    userinfo, at, _hostport = parts.netloc.rpartition("@")
    netloc = f"{userinfo}{at}127.0.0.1:{port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def rtmp_tc_url(url: str) -> str:
    """The ``tcUrl`` FFmpeg would send for ``url``: scheme, host, port and application (the
    first path segment), without credentials, stream key or query."""
    parts = urlsplit(url)
    app = parts.path.lstrip("/").split("/", 1)[0]
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, f"/{app}", "", ""))


class PolicedSource(Source):
    """A network source: `frames` checks the destination with the egress policy on every
    (re)connect and hands the checked destination to `connected_frames`, and until the first
    frame every failure (refused, unreachable, silent, not a stream, ended at once) is the
    same `StreamUnavailable` with `GENERIC_REASON`, the detail logged on the server only.
    Subclasses implement `connected_frames` only; `frames` is final (the registry refuses a
    source that overrides it)."""

    @final
    def frames(self) -> Iterator[SourceFrame]:
        started = False
        try:
            checked = self.egress.check_url(self.url)  # DestinationRefused
            for item in self.connected_frames(checked):
                started = True
                yield item
        except (StreamEnded, StreamUnavailable, StreamRejected, DestinationRefused) as exc:
            if started and not isinstance(exc, DestinationRefused):
                raise
            if self.closed:  # stopped while connecting: nothing to report
                raise StreamUnavailable(GENERIC_REASON) from None
            if isinstance(exc, StreamRedirectRefused):
                # Clear, and no probe: only a server at an allowed address can send it, and
                # its target is neither contacted nor named.
                log.warning("stream %s: %s", display_url(self.url), exc.message)
                raise
            detail = exc.message if isinstance(exc, (MediaError, UnavailableError)) else ""
            if isinstance(exc, DestinationRefused):
                detail = f"refused: {exc.message}"
            log.warning(
                "stream %s could not be opened: %s: %s",
                display_url(self.url),
                type(exc).__name__,
                detail or "no frame",
            )
            raise StreamUnavailable(GENERIC_REASON) from None

    @abstractmethod
    def connected_frames(self, checked: CheckedUrl) -> Iterator[SourceFrame]:
        """Connect to ``checked`` (the URL as the policy allowed it, with the addresses it
        resolved to: connect to those, `CheckedUrl.pinned`, not to the name again) and yield
        frames. HTTP goes through `vangnet.egress.client.egress_client` with ``self.egress``."""


#: FFmpeg protocols each scheme may use.
_WHITELISTS = {
    "rtmp": "rtmp,tcp",
    "rtmps": "rtmp,tcp",  # plain RTMP to the relay, which speaks TLS to the server
    "rtsp": "rtsp,rtp,tcp,udp",
    "udp": "udp",
    "rtp": "rtp,udp",
    "tcp": "tcp",
}


class NetworkSource(PolicedSource):
    schemes = tuple(_WHITELISTS)
    #: The loopback relay FFmpeg reads RTSP and RTMPS through, while connected.
    _relay: Relay | None = None

    def close(self) -> None:
        """Also end the relay's connections, if any: FFmpeg's read through it returns at
        once (a direct FFmpeg connection notices the close only when its read times out)."""
        super().close()
        relay = self._relay
        if relay is not None:
            relay.close()

    def _options(self, scheme: str) -> dict[str, str]:
        # Probe briefly: FFmpeg's default (5 s of data) delays the first frames of a live
        # stream by that much; one video stream is all the monitor needs to find.
        options = {
            "protocol_whitelist": _WHITELISTS[scheme],
            "analyzeduration": "1000000",
            "probesize": "1000000",
        }
        if scheme == "rtsp":
            transport = self.rtsp_transport
            if transport != "auto":  # auto: FFmpeg tries UDP, then falls back to TCP
                options["rtsp_transport"] = transport
        if scheme in ("udp", "rtp"):
            options["overrun_nonfatal"] = "1"
            options["fifo_size"] = "1000000"
        return options

    def connected_frames(self, checked: CheckedUrl) -> Iterator[SourceFrame]:
        scheme = checked.scheme
        options = self._options(scheme)
        address = checked.addresses[0]
        if scheme in ("udp", "rtp") and not address.is_multicast:
            options["localaddr"] = str(address)  # receive on that address, not on all
        if scheme not in ("rtsp", "rtmps"):
            yield from self._play(checked.pinned(address), options)
            return
        # Through the relay: FFmpeg would follow an RTSP server's 3xx to an unchecked place,
        # and its TLS sends no SNI to a pinned address (the relay does TLS for rtmps).
        relay = Relay(
            address,
            checked.port,
            connect_timeout=self.connect_timeout,
            rtsp=scheme == "rtsp",
            tls=self.egress.ssl_context() if scheme == "rtmps" else None,
            server_hostname=checked.host if scheme == "rtmps" else None,
        )
        url = via_relay(checked.url, relay.port)
        if scheme == "rtmps":  # plain RTMP to the relay; the server still sees its own tcUrl
            url = "rtmp" + url.removeprefix("rtmps")
            options["rtmp_tcurl"] = rtmp_tc_url(checked.url)
        with relay:
            self._relay = relay
            if self.closed:  # closed while the relay was made: close() did not see it
                relay.close()
            try:
                yield from self._play(url, options)
            except (StreamEnded, StreamUnavailable, StreamRejected):
                if relay.refused is not None:
                    raise StreamRedirectRefused(relay.refused) from None
                if relay.detail is not None:
                    log.info("RTSP relay for %s: %s", display_url(self.url), relay.detail)
                raise

    def _play(self, url: str, options: dict[str, str]) -> Iterator[SourceFrame]:

        try:
            container = av.open(
                url,
                options=options,
                timeout=(self.connect_timeout, self.stall_timeout),
            )
        except av.error.ExitError:
            raise StreamUnavailable(f"no answer within {self.connect_timeout:g} s") from None
        except av.error.InvalidDataError as exc:
            raise StreamRejected(f"not a stream FFmpeg can read: {_error(exc)}") from None
        except (av.error.FFmpegError, OSError) as exc:
            raise StreamUnavailable(f"cannot connect: {_error(exc)}") from None
        pixels = self.max_pixels
        with container:
            for item in decode(
                container, max_pixels=pixels, stall_timeout=self.stall_timeout, source=self
            ):
                yield item
                if self.closed:
                    return


class RelaySource(PolicedSource):
    """SRT through the system ffmpeg (``apt install ffmpeg``), relayed as MPEG-TS in a pipe."""

    schemes = ("srt",)
    #: The ffmpeg process relaying the stream, while it runs.
    _process: subprocess.Popen[bytes] | None = None

    def close(self) -> None:
        """Also end the relay process: the read of its pipe returns at once."""
        super().close()
        process = self._process
        if process is not None:
            process.kill()

    def connected_frames(self, checked: CheckedUrl) -> Iterator[SourceFrame]:
        ffmpeg = shutil.which("ffmpeg")
        if ffmpeg is None:
            raise StreamRejected("SRT needs the ffmpeg program (e.g. apt install ffmpeg)")
        timeout_us = str(int(self.connect_timeout * 1_000_000))
        command = [ffmpeg, "-nostdin", "-loglevel", "error", "-timeout", timeout_us]
        command += ["-protocol_whitelist", "srt"]
        # Low delay: brief probing, no muxer delay, every packet flushed at once.
        command += ["-probesize", "1000000", "-analyzeduration", "1000000"]
        command += ["-i", checked.pinned(), "-map", "0:v:0", "-c", "copy"]
        command += ["-muxdelay", "0", "-muxpreload", "0", "-flush_packets", "1"]
        command += ["-f", "mpegts", "pipe:1"]
        # Unbuffered: a buffered pipe would wait for whole 32 KB reads (most of a second of a
        # low-bitrate stream); the raw pipe hands PyAV whatever has arrived.
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0
        )
        self._process = process
        if self.closed:  # closed while it started: close() did not see it
            process.kill()
        try:
            assert process.stdout is not None
            yield from self._decode_pipe(process.stdout, self.max_pixels)
        finally:
            process.kill()
            process.wait()
            if process.stdout is not None:
                process.stdout.close()

    def _decode_pipe(self, pipe: IO[bytes], max_pixels: int) -> Iterator[SourceFrame]:
        try:
            container = av.open(
                pipe,
                mode="r",
                format="mpegts",
                options={"analyzeduration": "1000000", "probesize": "1000000"},
                timeout=(self.connect_timeout, self.stall_timeout),
            )
        except (av.error.FFmpegError, OSError) as exc:
            raise StreamUnavailable(f"SRT relay: {_error(exc)}") from None
        with container:
            for item in decode(
                container, max_pixels=max_pixels, stall_timeout=self.stall_timeout, source=self
            ):
                yield item
                if self.closed:
                    return


class HttpSource(PolicedSource):
    """HLS playlists and progressive streams over HTTP(S), fetched under the egress policy
    (`vangnet.sources.hls`): every playlist, segment and redirect is checked and pinned, and
    certificates are verified."""

    schemes = ("http", "https")

    def connected_frames(self, checked: CheckedUrl) -> Iterator[SourceFrame]:
        # every request (playlist, segment, redirect) is checked again on connect
        pixels = self.max_pixels
        timeout = httpx.Timeout(self.stall_timeout, connect=self.connect_timeout)
        with egress_client(self.egress, timeout=timeout, follow_redirects=True) as client:
            stream = HttpStream(
                client,
                self.url,
                max_pixels=pixels,
                stall_timeout=self.stall_timeout,
                closed=lambda: self.closed,
            )
            try:
                container = av.open(
                    ChunkReader(stream.chunks()),
                    mode="r",
                    options={"analyzeduration": "1000000", "probesize": "1000000"},
                    timeout=(self.connect_timeout, self.stall_timeout),
                )
                with container:
                    for item in decode(
                        container,
                        max_pixels=pixels,
                        stall_timeout=self.stall_timeout,
                        source=self,
                    ):
                        yield item
                        if self.closed:
                            return
            except HlsUnsupported as exc:
                raise StreamRejected(str(exc)) from None
            except HlsStalled as exc:
                raise StreamStalled(str(exc)) from None
            except httpx.ReadTimeout:
                raise StreamStalled(f"no data for {self.stall_timeout:g} s") from None
            except (httpx.HTTPError, HttpStatusError, OSError) as exc:
                raise StreamUnavailable(f"HTTP stream failed: {type(exc).__name__}") from None
            except av.error.InvalidDataError as exc:
                raise StreamRejected(f"not a stream FFmpeg can read: {_error(exc)}") from None
            except av.error.FFmpegError as exc:
                raise StreamUnavailable(f"cannot read the stream: {_error(exc)}") from None


class FileSource(Source):
    """A local video file, played at real-time speed (``?loop=1`` to repeat it)."""

    schemes = ("file", "")

    def frames(self) -> Iterator[SourceFrame]:
        parts = urlsplit(self.url)
        path = Path(parts.path if parts.scheme == "file" else self.url.split("?", 1)[0])
        loop = parse_qs(parts.query).get("loop", ["0"])[0] not in ("0", "", "false")
        offset = 0.0
        while True:
            last = 0.0
            try:
                container = av.open(str(path), mode="r", options={"protocol_whitelist": "file"})
            except FileNotFoundError:
                raise StreamRejected(f"no such file: {path}") from None
            except (av.error.FFmpegError, OSError) as exc:
                raise StreamRejected(f"cannot read {path}: {_error(exc)}") from None
            if not isinstance(container, av.container.InputContainer):
                raise StreamRejected(f"cannot read {path}")
            try:
                with container:
                    pixels = self.max_pixels
                    for item in decode(container, max_pixels=pixels, pace=True, source=self):
                        last = item.stream_time
                        yield SourceFrame(
                            offset + item.stream_time, item.frame, item.key_frame, item.corrupt
                        )
                        if self.closed:
                            return
            except StreamEnded:
                if not loop or self.closed:
                    raise
                offset += last + 1 / 30  # the next pass starts where this one ended


GROUP = "vangnet.sources"

#: Schemes a source that is not a `PolicedSource` may serve: local files (no network).
LOCAL_SCHEMES = frozenset({"file", ""})


def as_source(cls: object, label: str) -> type[Source]:
    """``cls`` as a stream source, or `PluginError` saying why it is not one: a concrete
    `Source` with lower-case ``schemes``; one serving any scheme but ``file`` and plain paths
    is a `PolicedSource` that keeps `PolicedSource.frames` (the egress check)."""
    if not (isinstance(cls, type) and issubclass(cls, Source)) or inspect.isabstract(cls):
        raise PluginError(f"{label} is not a concrete Source")
    schemes = getattr(cls, "schemes", None)
    if (
        not isinstance(schemes, tuple)
        or not schemes
        or not all(isinstance(s, str) and s == s.lower() and ":" not in s for s in schemes)
    ):
        raise PluginError(f"{label}: schemes must be a non-empty tuple of lower-case schemes")
    network = sorted(s for s in schemes if s not in LOCAL_SCHEMES)
    if network and not issubclass(cls, PolicedSource):
        raise PluginError(
            f"{label} serves {', '.join(network)} but is not a PolicedSource: every network "
            "source connects through the egress policy"
        )
    if issubclass(cls, PolicedSource) and cls.frames is not PolicedSource.frames:
        raise PluginError(f"{label} overrides PolicedSource.frames, the egress check")
    return cls


def _schemes(cls: type[Source]) -> tuple[str, ...]:
    return cls.schemes


REGISTRY: Registry[type[Source]] = Registry(
    GROUP, what="stream source", check=as_source, keys=_schemes
)


def stream_sources() -> dict[str, type[Source]]:
    """Every installed source by URL scheme (``""``: a plain path)."""
    return REGISTRY.loaded()


def failed_stream_sources() -> dict[str, str]:
    """Source plug-ins that failed to load (or were refused): entry-point name -> why."""
    return REGISTRY.failed()


def register_source(cls: type[Source]) -> type[Source]:
    """Register a source at run time for its schemes, which must be new (usable as a class
    decorator)."""
    return REGISTRY.register(cls)


def unregister_source(scheme: str) -> None:
    """Undo `register_source` for the source serving ``scheme`` (entry points stay)."""
    REGISTRY.unregister(scheme)


def source_for(url: str, **kwargs: Any) -> Source:
    """The source for ``url``; `ValidationError` for an unknown scheme or an empty URL."""
    if not url or not url.strip():
        raise ValidationError("empty stream URL")
    scheme = urlsplit(url).scheme.lower()
    if len(scheme) == 1:  # a Windows drive letter, not a scheme
        scheme = ""
    sources = stream_sources()
    cls = sources.get(scheme)
    if cls is None:
        known = ", ".join(sorted(s for s in sources if s))
        raise ValidationError(f"unsupported stream URL scheme {scheme!r} (supported: {known})")
    return cls(url, **kwargs)
