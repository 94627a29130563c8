"""HMA-style CSV: one hash per row, named by signal type, as HMA / OpenMediaMatch tools use.

Columns (header row recommended; a BOM is tolerated)::

    signal_type,signal_value[,category,source,series,note,enabled,external_id]

``signal_type`` and ``signal_value`` are required; the others are optional and may come in
any order when a header is present. Without a header the row is read in the order above.
Unknown header columns are kept in ``BankRecord.extra`` as strings. ``category`` is written
``profile:code`` (e.g. ``vics:1``); ``enabled`` is ``true``/``false`` (default true). The
writer emits all eight columns.

CSV injection: a text cell (category, source, series, note, external_id) that starts with
``=``, ``+``, ``-``, ``@``, a tab or a carriage return is written with a leading ``'`` (as
OWASP recommends), so a spreadsheet shows it as text instead of running it as a formula; a
cell that starts with ``'`` followed by one of those (or another ``'``) gets one more. The
reader removes that one ``'``, so an export imports back unchanged. Hash columns are never
changed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from vangnet.banks.formats.base import (
    BankFormat,
    BankRecord,
    JsonScalar,
    canonical_value,
    category_from,
    iter_lines,
)
from vangnet.errors import ImportFormatError

COLUMNS = (
    "signal_type",
    "signal_value",
    "category",
    "source",
    "series",
    "note",
    "enabled",
    "external_id",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_TRUE = {"true", "1", "yes"}


def escape_cell(text: str) -> str:
    """``text`` safe to open in a spreadsheet (see the module docstring)."""
    if text.startswith(_FORMULA_START) or (
        text.startswith("'") and text[1:].startswith((*_FORMULA_START, "'"))
    ):
        return "'" + text
    return text


def unescape_cell(text: str) -> str:
    """The inverse of `escape_cell` for cells it escaped; other cells are unchanged."""
    if text.startswith("'") and text[1:].startswith((*_FORMULA_START, "'")):
        return text[1:]
    return text


_FALSE = {"false", "0", "no"}


class HmaCsvFormat(BankFormat):
    name = "hma-csv"
    aliases = ("csv", "hma")
    description = "CSV with signal_type,signal_value[,category,source,series,note,...] rows"

    def read(self, stream: BinaryIO, *, signal_type: str | None = None) -> Iterator[BankRecord]:
        lines = iter_lines(stream)
        current = 0

        def texts() -> Iterator[str]:
            nonlocal current
            for number, text in lines:
                current = number
                yield text

        reader = csv.reader(texts(), strict=True)
        header: tuple[str, ...] | None = None
        while True:
            start = current + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                raise ImportFormatError(
                    f"bad CSV in the row starting here: {exc}", line=start
                ) from None
            if not row or all(not cell.strip() for cell in row):
                continue
            if header is None:
                first = row[0].strip().lower()
                if first == "signal_type":
                    header = _header(row, start)
                    continue
                header = COLUMNS
            yield _record(header, row, start)

    def write(self, records: Iterable[BankRecord], out: BinaryIO) -> int:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(COLUMNS)
        count = 0
        for record in records:
            writer.writerow(
                (
                    record.signal_type,
                    record.value,
                    escape_cell("" if record.category is None else str(record.category)),
                    escape_cell(record.source or ""),
                    escape_cell(record.series or ""),
                    escape_cell(record.note or ""),
                    "true" if record.enabled else "false",
                    escape_cell(record.external_id or ""),
                )
            )
            count += 1
            out.write(buffer.getvalue().encode())
            buffer.seek(0)
            buffer.truncate()
        out.write(buffer.getvalue().encode())
        return count


def _header(row: list[str], line: int) -> tuple[str, ...]:
    names = tuple(cell.strip().lower() for cell in row)
    for required in ("signal_type", "signal_value"):
        if required not in names:
            raise ImportFormatError(f"header has no {required!r} column", line=line)
    if len(set(names)) != len(names) or "" in names:
        raise ImportFormatError("header has an empty or repeated column name", line=line)
    return names


def _record(header: tuple[str, ...], row: list[str], line: int) -> BankRecord:
    if len(row) > len(header):
        raise ImportFormatError(
            f"{len(row)} fields, but only {len(header)} columns are defined", line=line
        )
    cells = dict(zip(header, (cell.strip() for cell in row), strict=False))
    for name in ("category", "source", "series", "note", "external_id"):
        if name in cells:
            cells[name] = unescape_cell(cells[name])
    kind = cells.get("signal_type", "").lower()
    if not kind:
        raise ImportFormatError("empty signal_type", line=line)
    value = canonical_value(kind, cells.get("signal_value", ""), line=line)
    enabled_text = cells.get("enabled", "").lower()
    if enabled_text and enabled_text not in _TRUE | _FALSE:
        raise ImportFormatError(f"enabled must be true or false, not {enabled_text!r}", line=line)
    extra: dict[str, JsonScalar] = {k: v for k, v in cells.items() if k not in COLUMNS and v}
    return BankRecord(
        signal_type=kind,
        value=value,
        category=category_from(cells.get("category"), profile="none", line=line),
        source=cells.get("source") or None,
        series=cells.get("series") or None,
        note=cells.get("note") or None,
        enabled=enabled_text not in _FALSE,
        external_id=cells.get("external_id") or None,
        extra=extra,
    )
