"""The bank-format interface: `BankRecord` and `BankFormat`, plus the shared line reader.

A format turns a byte stream into `BankRecord`s and back. Readers are generators: they hold
one record (or one JSON object) at a time, so a multi-gigabyte list is read in bounded memory.
Every value is validated through the signal registry while reading, so a malformed line raises
`ImportFormatError` (with its 1-based line number) before the caller commits anything.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, ClassVar

from vangnet.banks.categories import Category
from vangnet.errors import ImportFormatError, NotFoundError, VangnetError
from vangnet.signals import registry

JsonScalar = str | int | float | bool | None

#: Longest line a line-based reader accepts; longer input is rejected, not buffered.
MAX_LINE_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class BankRecord:
    """One hash in a bank, with its category and provenance. ``value`` is canonical."""

    signal_type: str
    value: str
    category: Category | None = None
    source: str | None = None  # provenance: who supplied the hash
    series: str | None = None
    note: str | None = None
    enabled: bool = True
    external_id: str | None = None  # identifier in the source system, e.g. VICS MediaID
    extra: dict[str, JsonScalar] = field(default_factory=dict, hash=False)


class BankFormat(ABC):
    """An import/export format. Subclasses set ``name``/``description`` and implement two
    methods, and register under the entry-point group ``vangnet.bank_formats`` (the
    built-ins too; `vangnet.banks.formats`). Conformance kit:
    `vangnet.banks.formats.conformance`."""

    name: ClassVar[str]
    description: ClassVar[str]
    #: Other names people use for the format (``vics`` for ``vics2``); unique like names.
    aliases: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def recognises(cls, head: bytes) -> bool:
        """Whether the first bytes (a few KB) of a file are this format, for `sniff` when
        the built-in rules recognise nothing. By default a format is never guessed."""
        return False

    @abstractmethod
    def read(self, stream: BinaryIO, *, signal_type: str | None = None) -> Iterator[BankRecord]:
        """Yield validated records; raise `ImportFormatError` with the line of bad input.

        ``signal_type`` names the type of values that do not carry their own (plain lists);
        formats whose rows name their type ignore it.
        """

    @abstractmethod
    def write(self, records: Iterable[BankRecord], out: BinaryIO) -> int:
        """Write ``records`` to ``out`` as they come; return how many were written."""


def canonical_value(signal_type: str, value: object, *, line: int | None) -> str:
    """Validate ``value`` as ``signal_type`` via the registry; raise `ImportFormatError`."""
    try:
        cls = registry.get_signal_type(signal_type)
    except NotFoundError as exc:
        raise ImportFormatError(exc.message, line=line) from None
    if not isinstance(value, str):
        raise ImportFormatError(f"{signal_type} value must be a string", line=line)
    try:
        return cls.validate(value)
    except VangnetError as exc:
        raise ImportFormatError(exc.message, line=line) from None


def known_signal_type(name: str) -> bool:
    try:
        registry.get_signal_type(name)
    except NotFoundError:
        return False
    return True


def category_from(value: object, *, profile: str, line: int | None) -> Category | None:
    """A category from an import field: ``None``/``""`` -> ``None``; else validated."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ImportFormatError(f"category must be a string or integer, not {value!r}", line=line)
    try:
        if isinstance(value, str) and ":" in value:
            return Category.parse(value)
        return Category.of(profile, value)
    except VangnetError as exc:
        raise ImportFormatError(exc.message, line=line) from None


def iter_lines(stream: BinaryIO) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for each line, decoded as UTF-8 (a BOM is dropped).

    Line endings are kept. A line longer than `MAX_LINE_BYTES` or not valid UTF-8 raises
    `ImportFormatError` naming that line.
    """
    number = 0
    while True:
        raw = stream.readline(MAX_LINE_BYTES + 1)
        if not raw:
            return
        number += 1
        if len(raw) > MAX_LINE_BYTES:
            raise ImportFormatError(f"line longer than {MAX_LINE_BYTES} bytes", line=number)
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ImportFormatError(
                f"not UTF-8 text (byte {exc.start + 1} of the line)", line=number
            ) from None
        if "\x00" in text:
            raise ImportFormatError("NUL byte in text input", line=number)
        yield number, text
