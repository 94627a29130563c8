"""Streaming JSON with line numbers: ijson events over a reader that hands out one line at a time.

ijson (yajl2 C backend) parses whatever one ``read()`` returns and then yields the events of
that chunk. `LineReader` never returns bytes from more than one line, so every event comes
from the line in `LineReader.line`. For a value this is the line where its token ends; for a
whole object the line of its closing brace. Minified JSON on one line therefore reports line 1
for everything; errors also name the media index to stay useful there.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, BinaryIO

import ijson

from vangnet.errors import ImportFormatError

#: Deepest JSON nesting accepted; VICS needs about 5. Deeper input is rejected as hostile.
MAX_DEPTH = 32
#: Most bytes handed to ijson at once. Small, because yajl builds every event's prefix
#: before we can check the depth, which is quadratic in hostile deep nesting.
MAX_READ = 16384
_BOM = b"\xef\xbb\xbf"
_OPEN = frozenset({"start_map", "start_array"})
_CLOSE = frozenset({"end_map", "end_array"})


class LineReader:
    """A read-only binary stream that returns at most one line per `read` and counts lines."""

    def __init__(self, raw: BinaryIO, *, block: int = 1 << 16) -> None:
        self._raw = raw
        self._block = block
        self._buf = b""
        self._pos = 0
        self._next_line = 1
        self._started = False
        self.line = 1  # 1-based line of the bytes most recently returned

    def read(self, size: int = -1) -> bytes:
        if self._pos >= len(self._buf):
            self._buf = self._raw.read(self._block)
            self._pos = 0
            if not self._started:
                self._started = True
                if self._buf.startswith(_BOM):
                    self._pos = len(_BOM)
            if self._pos >= len(self._buf):
                return b""
        size = MAX_READ if size < 0 else min(size, MAX_READ)
        limit = min(len(self._buf), self._pos + size)
        newline = self._buf.find(b"\n", self._pos, limit)
        end = limit if newline < 0 else newline + 1
        chunk = self._buf[self._pos : end]
        self._pos = end
        self.line = self._next_line
        if newline >= 0:
            self._next_line += 1
        return chunk


def events(reader: LineReader) -> Iterator[tuple[str, str, Any]]:
    """ijson ``(prefix, event, value)`` events; syntax errors and excessive nesting raise
    `ImportFormatError` with the current line. Numbers are ``int`` or ``float``."""
    depth = 0
    parser = ijson.parse(reader, use_float=True)
    while True:
        try:
            item = next(parser)
        except StopIteration:
            return
        except ijson.JSONError as exc:
            raise ImportFormatError(f"invalid JSON: {_reason(exc)}", line=reader.line) from None
        event = item[1]
        if event in _OPEN:
            depth += 1
            if depth > MAX_DEPTH:
                raise ImportFormatError(
                    f"JSON nested deeper than {MAX_DEPTH} levels", line=reader.line
                )
        elif event in _CLOSE:
            depth -= 1
        yield item


def _reason(exc: Exception) -> str:
    arg = exc.args[0] if exc.args else ""
    message = arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
    text = message.strip().splitlines()
    reason = text[0] if text else type(exc).__name__
    if "premature EOF" in reason or "Incomplete" in reason or "incomplete" in reason:
        return f"the file ends too early (truncated?): {reason}"
    return reason
