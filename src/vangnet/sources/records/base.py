"""The record-format interface: what a parser yields (`Row`, `RowError`, `Skipped`), the
options a user gives (`ParseOptions`), and `RecordFormat`, the plug-in every format is.

A parser is a generator over a byte stream: it holds one record (or one message of an XML
or MT103 file) at a time, so a file of any size is read in bounded memory. It never raises
on bad input: a row it cannot turn into a record is a `RowError` with its 1-based line and
the reason, and reading goes on with the next row (a file that cannot be read further, such
as broken XML, ends with one last `RowError`). Lines a format deliberately ignores (the
system lines of a chat export) are `Skipped`, so the import counts them instead of losing
them silently. The import (`vangnet.context.ingest`) decides what to store.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, ClassVar
from zoneinfo import ZoneInfo

from vangnet.sources.records.model import Record, RecordKind

#: Longest line a line-based parser accepts; a longer one is a bad row, not buffered whole.
MAX_LINE_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Row:
    """A parsed, validated record and the line of the file it starts on."""

    line: int
    record: Record


@dataclass(frozen=True, slots=True)
class RowError:
    """A row that is not a valid record: its line (1-based; for formats without lines, the
    position the format documents) and why, in words a user can act on."""

    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class Skipped:
    """A line the format ignores on purpose (a chat export's "X joined" system line)."""

    line: int
    reason: str


Parsed = Row | RowError | Skipped


@dataclass(frozen=True, slots=True)
class ParseOptions:
    """What the user tells a parser beyond the bytes.

    ``timezone``: the zone of times written without an offset (WhatsApp exports, MT103
    dates); without it such a time is a bad row. ``conversation``: the conversation name of
    a chat export that does not carry one (WhatsApp); by default the file name's stem.
    ``filename``: the uploaded or opened file's name."""

    timezone: ZoneInfo | None = None
    conversation: str | None = None
    filename: str | None = None


class RecordFormat(ABC):
    """A file format that yields context records of one or more kinds.

    Subclasses set ``name`` (unique, what ``--format`` takes), ``kinds`` (the record kinds it
    reads) and ``description``, implement `parse`, and register under the entry-point group
    ``vangnet.record_formats`` (the built-ins too; `vangnet.sources.records.registry`).
    Conformance kit: `vangnet.sources.records.conformance`."""

    name: ClassVar[str]
    kinds: ClassVar[frozenset[RecordKind]]
    description: ClassVar[str]

    @classmethod
    def recognises(cls, head: bytes, kind: RecordKind) -> bool:
        """Whether the first bytes (a few KB) of a file of ``kind`` are this format, for
        `sniff`. By default a format is never guessed."""
        return False

    @abstractmethod
    def parse(
        self, stream: BinaryIO, *, kind: RecordKind, options: ParseOptions
    ) -> Iterator[Parsed]:
        """Yield a `Row`, `RowError` or `Skipped` for every row of ``stream``, in file order.
        Never raises on bad input (only on a ``kind`` outside ``kinds``: a caller's bug)."""


class InputEnded(Exception):
    """Raised by `text_lines` when the input cannot be read further (not UTF-8, a NUL byte,
    a line too long): the parser turns it into its last `RowError`."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


def text_lines(stream: BinaryIO) -> Iterator[str]:
    """The lines of ``stream`` as text (UTF-8, a BOM dropped, line endings kept), one at a
    time; `InputEnded` with the line number on input that is not text."""
    number = 0
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        if len(raw) > MAX_LINE_BYTES:
            raise InputEnded(number, f"line longer than {MAX_LINE_BYTES} bytes")
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InputEnded(number, f"not UTF-8 text (byte {exc.start + 1} of the line)") from None
        if "\x00" in text:
            raise InputEnded(number, "NUL byte in text input")
        yield text


def check_kind(fmt: RecordFormat, kind: RecordKind) -> None:
    """Refuse a kind the format does not read (the registry's callers check first)."""
    if kind not in fmt.kinds:
        known = ", ".join(sorted(fmt.kinds))
        raise ValueError(f"record format {fmt.name!r} reads {known}, not {kind}")
