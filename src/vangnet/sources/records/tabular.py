"""The documented schema as CSV and as JSON Lines, for all four record kinds.

CSV: a header row of field names (any order; the required ones present), then one record a
row; list fields are ``;``-separated; columns that are not fields go into ``details`` (as
text, empty cells left out). JSON Lines: one object a line with the field names as keys,
lists as arrays, ``details`` an object; a key that is not a field is a bad row (a typo must
not vanish). Blank lines are ignored in both. See ``docs/context-records.md``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any, BinaryIO, ClassVar

from vangnet.sources.records import fields
from vangnet.sources.records.base import (
    InputEnded,
    Parsed,
    ParseOptions,
    RecordFormat,
    Row,
    RowError,
    check_kind,
    text_lines,
)
from vangnet.sources.records.model import RecordKind

ALL_KINDS = frozenset(RecordKind)
#: Longest CSV cell (Python's csv module refuses longer ones with an error, reported).
MAX_CELL = 1 << 20


class CsvFormat(RecordFormat):
    """Comma-separated values with a header row of field names."""

    name: ClassVar[str] = "csv"
    kinds: ClassVar[frozenset[RecordKind]] = ALL_KINDS
    description: ClassVar[str] = (
        "CSV with a header row of field names; lists ';'-separated, other columns kept as details"
    )

    @classmethod
    def recognises(cls, head: bytes, kind: RecordKind) -> bool:
        first = head.removeprefix(b"\xef\xbb\xbf").lstrip().split(b"\n", 1)[0]
        cells = {c.strip().strip(b'"').decode("utf-8", "replace") for c in first.split(b",")}
        # a header naming ``ref`` and another column: a header that lacks a required column
        # is still this format, so the user hears which column is missing
        return "ref" in cells and len(cells) > 1

    def parse(
        self, stream: BinaryIO, *, kind: RecordKind, options: ParseOptions
    ) -> Iterator[Parsed]:
        check_kind(self, kind)
        csv.field_size_limit(MAX_CELL)
        lines = text_lines(stream)
        reader = csv.reader(lines, strict=True)
        try:
            try:
                header = [h.strip() for h in next(reader)]
            except StopIteration:
                return
            problem = _header_problem(kind, header)
            if problem:
                yield RowError(1, problem)
                return
            known = set(fields.FIELDS[kind])
            done = reader.line_num
            for cells in reader:
                line, done = done + 1, reader.line_num
                if not any(c.strip() for c in cells):
                    continue
                if len(cells) != len(header):
                    yield RowError(line, f"{len(cells)} cells, the header has {len(header)}")
                    continue
                values: dict[str, Any] = {}
                extra: dict[str, Any] = {}
                for name, cell in zip(header, cells, strict=True):
                    if name in known:
                        values[name] = cell
                    elif cell != "":
                        extra[name] = cell
                if "details" in values:
                    yield RowError(line, "details: not a CSV column (other columns are details)")
                    continue
                values["details"] = extra
                try:
                    record = fields.record(kind, values, zone=options.timezone, separated=True)
                except fields.FieldError as error:
                    yield RowError(line, error.reason)
                    continue
                yield Row(line, record)
        except InputEnded as ended:
            yield RowError(ended.line, ended.reason)
        except csv.Error as error:
            yield RowError(reader.line_num, f"malformed CSV: {error}")


def _header_problem(kind: RecordKind, header: list[str]) -> str | None:
    seen: set[str] = set()
    for name in header:
        if not name:
            return "header: an empty column name"
        if name in seen:
            return f"header: column {name!r} twice"
        seen.add(name)
    missing = [f for f in fields.REQUIRED[kind] if f not in seen]
    if missing:
        return (
            f"header: missing required column{'s' if len(missing) > 1 else ''} "
            + ", ".join(missing)
            + f" for {kind}"
        )
    return None


class JsonLinesFormat(RecordFormat):
    """JSON Lines: one object a line, keys the record's field names."""

    name: ClassVar[str] = "jsonl"
    kinds: ClassVar[frozenset[RecordKind]] = ALL_KINDS
    description: ClassVar[str] = "JSON Lines, one object a line with the record's field names"

    @classmethod
    def recognises(cls, head: bytes, kind: RecordKind) -> bool:
        return head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"{")

    def parse(
        self, stream: BinaryIO, *, kind: RecordKind, options: ParseOptions
    ) -> Iterator[Parsed]:
        check_kind(self, kind)
        line = 0
        try:
            for line, raw in enumerate(text_lines(stream), 1):
                if not raw.strip():
                    continue
                yield _json_row(kind, line, raw, options)
        except InputEnded as ended:
            yield RowError(ended.line, ended.reason)


def _json_row(kind: RecordKind, line: int, raw: str, options: ParseOptions) -> Parsed:
    try:
        value = json.loads(raw, parse_float=Decimal)
    except (ValueError, RecursionError) as error:
        return RowError(line, f"not JSON: {error}")
    if not isinstance(value, dict):
        return RowError(line, f"expected a JSON object, got {type(value).__name__}")
    strange = fields.unknown(kind, list(value))
    if strange:
        return RowError(
            line,
            f"unknown field{'s' if len(strange) > 1 else ''} for {kind}: "
            + ", ".join(repr(s) for s in strange),
        )
    try:
        return Row(line, fields.record(kind, value, zone=options.timezone, separated=False))
    except fields.FieldError as error:
        return RowError(line, error.reason)
