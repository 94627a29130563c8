"""Bank formats are plug-ins (entry-point group ``vangnet.bank_formats``): the built-ins
register there and pass the conformance kit; a plug-in format is found by name and alias
and sniffed when the built-in rules recognise nothing; a broken one is reported."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from importlib.metadata import entry_points
from typing import BinaryIO

import pytest

from vangnet.banks import formats as registry
from vangnet.banks.formats import get_format, register_format, sniff, unregister_format
from vangnet.banks.formats.base import BankFormat, BankRecord, canonical_value, iter_lines
from vangnet.banks.formats.conformance import FormatCases, check_bank_format
from vangnet.errors import ImportFormatError
from vangnet.plugins import PluginError

CASES = {
    "vics2": FormatCases(bad=[b'{"value": [1]', b"[1, 2]"]),
    "vics1": FormatCases(bad=[b'{"value": "x"}']),
    "hma-csv": FormatCases(bad=[b"signal_type,signal_value\npdq,zz\n"]),
    "plain": FormatCases(keeps=(), read_signal_type="pdq", bad=[b"not hex\n"]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_built_ins_conform(name: str) -> None:
    check_bank_format(type(get_format(name)), CASES[name])


def test_built_ins_register_through_entry_points() -> None:
    assert {ep.name for ep in entry_points(group=registry.GROUP)} == set(CASES)
    assert registry.aliases() == {
        "vics": "vics2",
        "csv": "hma-csv",
        "hma": "hma-csv",
        "txt": "plain",
    }


class PipeFormat(BankFormat):
    """``signal_type|value`` lines after a ``#pipe`` header."""

    name = "test-pipe"
    description = "signal_type|value lines (test plug-in)"
    aliases = ("pipe",)

    @classmethod
    def recognises(cls, head: bytes) -> bool:
        return head.startswith(b"#pipe\n")

    def read(self, stream: BinaryIO, *, signal_type: str | None = None) -> Iterator[BankRecord]:
        for number, text in iter_lines(stream):
            line = text.strip()
            if number == 1:
                if line != "#pipe":
                    raise ImportFormatError("not a pipe list", line=number)
                continue
            kind, bar, value = line.partition("|")
            if not bar:
                raise ImportFormatError("expected signal_type|value", line=number)
            yield BankRecord(kind, canonical_value(kind, value, line=number))

    def write(self, records: Iterable[BankRecord], out: BinaryIO) -> int:
        out.write(b"#pipe\n")
        n = 0
        for record in records:
            out.write(f"{record.signal_type}|{record.value}\n".encode())
            n += 1
        return n


@pytest.fixture
def pipe() -> Iterator[type[PipeFormat]]:
    register_format(PipeFormat)
    yield PipeFormat
    unregister_format(PipeFormat.name)


def test_a_plug_in_format_conforms_and_is_found(pipe: type[PipeFormat]) -> None:
    check_bank_format(pipe, FormatCases(keeps=(), bad=[b"#pipe\npdq\n", b"nope\n"]))
    assert isinstance(get_format("pipe"), pipe) and isinstance(get_format("test-pipe"), pipe)
    assert sniff(b"#pipe\npdq|00\n") == "test-pipe"
    assert sniff(b'{"value": []}') == "vics2"  # the built-in rules come first
    records = list(get_format("pipe").read(io.BytesIO(b"#pipe\nmd5|" + b"a" * 32 + b"\n")))
    assert records == [BankRecord("md5", "a" * 32)]


def test_a_format_cannot_take_a_name_or_alias() -> None:
    class Clash(PipeFormat):
        name = "plain"

    with pytest.raises(PluginError, match="two bank formats are named 'plain'"):
        register_format(Clash)

    class AliasClash(PipeFormat):
        name = "test-alias"
        aliases = ("csv",)

    register_format(AliasClash)
    try:
        with pytest.raises(PluginError, match="named 'csv'"):
            get_format("csv")
    finally:
        unregister_format(AliasClash.name)
    assert get_format("csv").name == "hma-csv"


def test_a_broken_format_fails_the_kit() -> None:
    class Lossy(PipeFormat):
        name = "test-lossy"

        def write(self, records: Iterable[BankRecord], out: BinaryIO) -> int:
            return super().write(list(records)[:1], out)

    with pytest.raises(AssertionError, match="write returned 1 for 2 records"):
        check_bank_format(Lossy)
