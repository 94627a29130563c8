"""Plain hash lists: one hexadecimal hash per line.

- Blank lines and lines starting with ``#`` are ignored.
- A PDQ line may carry its quality: ``<hex>,<quality>`` (as in ThreatExchange PDQ files).
- The signal type comes from, in order: the caller's ``signal_type``; a directive comment
  ``# signal_type: <name>`` (which the writer emits, so exports round-trip); the length of
  the hex: 32 = md5, 40 = sha1. 64 hex characters is ambiguous (sha256 or pdq), so such a
  list needs ``signal_type`` or the directive; otherwise the line is rejected.
- Only single-token values fit (no commas or spaces); the writer refuses others (e.g. vpdq
  frame lists) with `ValidationError` — use ``hma-csv`` or ``vics2`` for those.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from vangnet.banks.formats.base import (
    BankFormat,
    BankRecord,
    canonical_value,
    iter_lines,
    known_signal_type,
)
from vangnet.errors import ImportFormatError, ValidationError

_DIRECTIVE = re.compile(r"#\s*signal_type\s*:\s*(\S+)\s*$", re.IGNORECASE)
_BY_LENGTH = {32: "md5", 40: "sha1"}
_TOKEN = re.compile(r"[^\s,#]+")


class PlainFormat(BankFormat):
    name = "plain"
    aliases = ("txt",)
    description = (
        "One hex hash per line; '# signal_type: <name>' sets the type; pdq may add ,quality"
    )

    def read(self, stream: BinaryIO, *, signal_type: str | None = None) -> Iterator[BankRecord]:
        if signal_type is not None and not known_signal_type(signal_type):
            raise ImportFormatError(f"unknown signal type {signal_type!r}")
        declared: str | None = None
        for line, raw in iter_lines(stream):
            text = raw.strip()
            if not text:
                continue
            if text.startswith("#"):
                directive = _DIRECTIVE.match(text)
                if directive:
                    declared = directive.group(1).lower()
                    if not known_signal_type(declared):
                        raise ImportFormatError(f"unknown signal type {declared!r}", line=line)
                continue
            value, _, quality_text = (part.strip() for part in text.partition(","))
            kind = signal_type or declared or _BY_LENGTH.get(len(value))
            if kind is None:
                if len(value) == 64:
                    raise ImportFormatError(
                        "64 hex characters may be sha256 or pdq: give signal_type", line=line
                    )
                raise ImportFormatError(
                    f"cannot tell the signal type of a {len(value)}-character value", line=line
                )
            extra: dict[str, str | int | float | bool | None] = {}
            if quality_text:
                if kind != "pdq":
                    raise ImportFormatError(f"a {kind} line has no ',quality' part", line=line)
                if not quality_text.isdigit() or not 0 <= int(quality_text) <= 100:
                    raise ImportFormatError("PDQ quality must be an integer 0-100", line=line)
                extra["quality"] = int(quality_text)
            yield BankRecord(kind, canonical_value(kind, value, line=line), extra=extra)

    def write(self, records: Iterable[BankRecord], out: BinaryIO) -> int:
        count = 0
        current: str | None = None
        for record in records:
            if record.signal_type != current:
                current = record.signal_type
                out.write(f"# signal_type: {current}\n".encode())
            if not _TOKEN.fullmatch(record.value):
                raise ValidationError(
                    f"a {record.signal_type} value with separators cannot go in a plain list;"
                    " use hma-csv or vics2"
                )
            quality = record.extra.get("quality")
            suffix = f",{quality}" if record.signal_type == "pdq" and quality is not None else ""
            out.write(f"{record.value}{suffix}\n".encode())
            count += 1
        return count
