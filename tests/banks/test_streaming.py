"""Readers stream: a file larger than the memory bound is read through a generator.

The record count is modest and the records padded, so the file is well over the bound while
the test stays quick under tracemalloc on a loaded CI box; memory does not depend on count.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from vangnet.banks.formats import get_format

COUNT = 8_000
PAD = "x" * 3200
LIMIT = 20 * 1024 * 1024


def _vics_lines() -> Iterator[bytes]:
    yield b'{"@odata.context": "x/2.0.xml/US/$metadata#Media",\n "value": [\n'
    for i in range(COUNT):
        sep = b",\n" if i else b""
        yield (
            sep
            + (
                f'{{"MediaID": {i}, "Category": {i % 5}, "MD5": "{i:032X}", '
                f'"SHA1": "{i:040x}", "IsPrecategorized": "false", "Series": "series {i % 97}", '
                f'"Comments": "synthetic record number {i} {PAD}"}}'
            ).encode()
        )
    yield b"\n]}\n"


def _csv_lines() -> Iterator[bytes]:
    yield b"signal_type,signal_value,category,source,series,note\n"
    for i in range(COUNT):
        yield f"md5,{i:032x},vics:{i % 5},test,series {i % 97},synthetic {i} {PAD}\n".encode()


@pytest.mark.parametrize(
    ("name", "lines", "per_item"), [("vics2", _vics_lines, 2), ("hma-csv", _csv_lines, 1)]
)
def test_bounded_memory(
    tmp_path: Path, name: str, lines: type[Iterator[bytes]], per_item: int
) -> None:
    path = tmp_path / "big"
    with path.open("wb") as out:
        out.writelines(lines())
    assert path.stat().st_size > LIMIT

    count = 0
    tracemalloc.start()
    try:
        with path.open("rb") as stream:
            for record in get_format(name).read(stream):
                count += 1
                assert record.value
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == COUNT * per_item
    assert peak < LIMIT
