"""Conformance kit for stream sources: run it on your source plug-in (the built-ins run it).

Usage, in a test of your package::

    from vangnet.sources.stream_conformance import SourceCases, check_stream_source

    def test_my_source_conforms(my_server_url: str) -> None:
        check_stream_source(MySource, SourceCases(playable=my_server_url))

`check_stream_source` raises `AssertionError` naming the first rule broken:

- the registry accepts the class (`vangnet.sources.streams.as_source`): a concrete `Source`
  with lower-case ``schemes``, and one serving any scheme but ``file`` and plain paths is a
  `PolicedSource` that keeps `PolicedSource.frames`;
- a network source refuses a destination the egress policy denies (the default policy, a
  loopback address) with the generic `StreamUnavailable` **before** `connected_frames` runs,
  and otherwise hands `connected_frames` the checked destination (an address the policy
  allowed); a destination that does not answer fails with the generic reason within the
  connect timeout, it does not hang;
- ``playable`` (a URL of a stream the test serves itself on loopback, or a file) yields
  `SourceFrame`s: decoded video frames within ``max_pixels``, stream times that start near
  0 and never go back, and `Source.close` stops the iteration;
- ``rejected`` URLs (unusable content) raise `StreamRejected` or `StreamUnavailable`.

Network in this kit is loopback only: 127.0.0.1, on ports the test chooses.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import av

from vangnet.egress.policy import GENERIC_REASON, CheckedUrl, EgressPolicy
from vangnet.sources.streams import (
    LOCAL_SCHEMES,
    PolicedSource,
    Source,
    SourceFrame,
    StreamEnded,
    StreamRejected,
    StreamUnavailable,
    as_source,
)

LOOPBACK = EgressPolicy(allow=(ipaddress.ip_network("127.0.0.0/8"),))
DEFAULT_MAX_PIXELS = 1920 * 1080


@dataclass(frozen=True)
class SourceCases:
    """The case table of one source."""

    #: A URL the source can play (served by the test on loopback, or a file); None: skip.
    playable: str | None = None
    #: How many frames of ``playable`` to read (then `close`).
    frames: int = 3
    #: URLs whose content is unusable: each must fail with StreamRejected/StreamUnavailable.
    rejected: Sequence[str] = ()
    #: The policy ``playable`` and ``rejected`` are opened under (loopback allowed).
    egress: EgressPolicy = LOOPBACK
    connect_timeout: float = 2.0
    stall_timeout: float = 5.0


def _fail(cls: type[Source], message: str) -> AssertionError:
    return AssertionError(f"stream source {getattr(cls, '__qualname__', cls)!r}: {message}")


def _open(cls: type[Source], url: str, cases: SourceCases, egress: EgressPolicy) -> Source:
    return cls(
        url,
        connect_timeout=cases.connect_timeout,
        stall_timeout=cases.stall_timeout,
        egress=egress,
        max_pixels=DEFAULT_MAX_PIXELS,
        rtsp_transport="auto",
    )


def _closed_port() -> int:
    """A loopback TCP port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def _spy(cls: type[PolicedSource], seen: list[CheckedUrl]) -> type[PolicedSource]:
    class Spy(cls):  # type: ignore[valid-type,misc]
        def connected_frames(self, checked: CheckedUrl) -> Iterator[SourceFrame]:
            seen.append(checked)
            yield from super().connected_frames(checked)

    return Spy


def _fails_generic(cls: type[Source], source: Source, what: str) -> None:
    """``source`` fails before its first frame with the generic `StreamUnavailable`."""
    try:
        next(iter(source.frames()))
    except StreamUnavailable as error:
        if error.message != GENERIC_REASON:
            raise _fail(cls, f"{what} must read {GENERIC_REASON!r}") from None
    except Exception as error:
        raise _fail(cls, f"{what} raised {error!r}") from error
    else:
        raise _fail(cls, f"{what} yielded a frame")


def _check_policed(cls: type[PolicedSource], cases: SourceCases) -> None:
    scheme = next(s for s in cls.schemes if s not in LOCAL_SCHEMES)
    port = _closed_port()
    url = f"{scheme}://127.0.0.1:{port}/vangnet-conformance"
    seen: list[CheckedUrl] = []
    denied = EgressPolicy()  # the default policy: loopback is denied
    _fails_generic(cls, _open(_spy(cls, seen), url, cases, denied), "a denied destination")
    if seen:
        raise _fail(cls, "connected_frames ran for a destination the policy denies")

    started = time.monotonic()
    _fails_generic(cls, _open(_spy(cls, seen), url, cases, LOOPBACK), "a closed port")
    if time.monotonic() - started > cases.connect_timeout + cases.stall_timeout + 5:
        raise _fail(cls, "an unreachable destination took longer than its timeouts")
    if len(seen) != 1 or seen[0].port != port:
        raise _fail(cls, "connected_frames must get the checked destination, once per connect")
    if not all(LOOPBACK.denied(a) is None for a in seen[0].addresses):
        raise _fail(cls, "connected_frames got an address the policy did not allow")


def _check_playable(cls: type[Source], cases: SourceCases, url: str) -> None:
    source = _open(cls, url, cases, cases.egress)
    got: list[SourceFrame] = []
    try:
        for item in source.frames():
            if not isinstance(item, SourceFrame) or not isinstance(item.frame, av.VideoFrame):
                raise _fail(cls, f"frames yielded {item!r}, not a SourceFrame of a video frame")
            if item.frame.width * item.frame.height > DEFAULT_MAX_PIXELS:
                raise _fail(cls, "a frame is larger than max_pixels")
            if got and item.stream_time < got[-1].stream_time:
                raise _fail(cls, "stream times went back")
            got.append(item)
            if len(got) >= cases.frames:
                source.close()
                break
    except (StreamEnded, StreamUnavailable, StreamRejected) as error:
        if len(got) < cases.frames:
            raise _fail(cls, f"{url!r} gave {len(got)} frames, then {error!r}") from error
    if len(got) < cases.frames:
        raise _fail(cls, f"{url!r} gave {len(got)} of {cases.frames} frames")
    if not 0 <= got[0].stream_time < 60:
        raise _fail(cls, "the first frame's stream time must start near 0")
    if not source.closed:
        raise _fail(cls, "close() must mark the source closed")


def check_stream_source(cls: type[Source], cases: SourceCases | None = None) -> None:
    """Check ``cls`` against the stream-source contract with ``cases``."""
    cases = cases or SourceCases()
    try:
        as_source(cls, repr(cls))
    except Exception as error:
        raise _fail(cls, f"the registry refuses it: {error}") from error
    if issubclass(cls, PolicedSource):
        _check_policed(cls, cases)
    if cases.playable is not None:
        _check_playable(cls, cases, cases.playable)
    for url in cases.rejected:
        source = _open(cls, url, cases, cases.egress)
        try:
            next(iter(source.frames()))
        except (StreamRejected, StreamUnavailable):
            continue
        except Exception as error:
            raise _fail(cls, f"{url!r} raised {error!r}, not StreamRejected") from error
        raise _fail(cls, f"{url!r} yielded a frame but should be rejected")
