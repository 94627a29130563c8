"""Reading a source's frames in a thread of its own (`FrameReader`), so that the stream's
session answers a stop at once even while the source is blocked in a read.

A network read waits inside FFmpeg until data comes or the read times out
(``live_connect_timeout`` to connect, ``live_stall_seconds`` once connected); PyAV has no
call that interrupts it from another thread. The session therefore never reads itself: it
takes decoded frames from a hand-over of one frame, waking at least every `POLL` seconds to
look at the stream's stop. On a stop it closes the source (`Source.close`: a source that can
interrupt its read, e.g. by ending a relay process, does so at once), takes the frames
already decoded, and ends; a reader still blocked in FFmpeg is left to finish on its own
(its read times out, it sees the close and ends, handing nothing more over).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from vangnet.sources.streams import Source, SourceFrame

#: Longest wait of the session before it looks at the stream's stop again (seconds).
POLL = 0.1


@dataclass(frozen=True)
class Decoded:
    """A frame from the reader and the CPU seconds its thread spent decoding it."""

    item: SourceFrame
    cpu: float


@dataclass(frozen=True)
class _Ended:
    """The source's frames ended: normally (``error`` None) or with ``error``."""

    error: BaseException | None


class FrameReader:
    """Iterates ``source.frames()`` in a daemon thread; `next` hands its frames over one at
    a time and raises what the source raised (`StreamEnded`, `StreamStalled`, ...)."""

    def __init__(self, source: Source, *, name: str, stop: threading.Event) -> None:
        self.source = source
        self._stop = stop
        # One frame decoded ahead at most: as before, a session that falls behind holds up
        # the decoding (and FFmpeg's socket buffer absorbs the difference, or overruns).
        self._handover: queue.Queue[Decoded | _Ended] = queue.Queue(maxsize=1)
        #: Set once the session takes no more frames (stopped, failed, or done).
        self._gone = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        frames = self.source.frames()
        try:
            cpu = time.thread_time()
            for item in frames:
                if not self._put(Decoded(item, time.thread_time() - cpu)):
                    return  # the session has gone: nothing more is handed over
                cpu = time.thread_time()
            self._put(_Ended(None))
        except BaseException as error:  # handed to the session, which decides
            self._put(_Ended(error))
        finally:  # a generator's cleanup: the container, the socket, the relay process
            close = getattr(frames, "close", None)
            if close is not None:
                close()

    def _put(self, entry: Decoded | _Ended) -> bool:
        while not self._gone.is_set():
            try:
                self._handover.put(entry, timeout=POLL)
                return True
            except queue.Full:
                continue
        return False

    def frames(self) -> Iterator[Decoded]:
        """The decoded frames until the source ends (raising what it raised) or the stream
        is stopped; on a stop the source is closed and the frames already decoded (at most
        one) still come, then the iteration ends without waiting for the reader. However the
        iteration ends (a stop, an error of the session's own), the source is closed and the
        reader hands nothing more over: it ends as soon as its read returns."""
        try:
            while True:
                if self._stop.is_set():
                    self.source.close()
                    try:
                        entry = self._handover.get_nowait()
                    except queue.Empty:
                        return
                    if isinstance(entry, Decoded):
                        yield entry
                    return
                try:
                    entry = self._handover.get(timeout=POLL)
                except queue.Empty:
                    continue
                if isinstance(entry, _Ended):
                    if entry.error is not None:
                        raise entry.error
                    return
                yield entry
        finally:
            self._gone.set()
            self.source.close()
