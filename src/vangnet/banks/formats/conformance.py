"""Conformance kit for bank formats: run it on your format plug-in (the built-ins run it).

Usage, in a test of your package::

    from vangnet.banks.formats.conformance import FormatCases, check_bank_format

    def test_my_format_conforms() -> None:
        check_bank_format(MyFormat, FormatCases(records=[...], bad=[b"not my format"]))

`check_bank_format` raises `AssertionError` naming the first rule broken: the registry
accepts the class (a `BankFormat` with a name and a description); ``write`` returns how many
records it wrote; reading what it wrote gives the same signal types and values in the same
order, and the fields named in ``keeps`` (category, source, series, ...) unchanged; every
``bad`` input raises `ImportFormatError` (never another exception, never a record after the
bad one is reached); an empty input reads as no records or as `ImportFormatError`; when
``sniffed``, `vangnet.banks.formats.sniff` names the format from its own output.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

from vangnet.banks.categories import Category
from vangnet.banks.formats import as_bank_format, sniff
from vangnet.banks.formats.base import BankFormat, BankRecord
from vangnet.errors import ImportFormatError

#: Two benign PDQ values and their MD5s (hashes of drawn test pictures, not of real media).
SAMPLE_RECORDS: tuple[BankRecord, ...] = (
    BankRecord(
        "pdq",
        "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596623e1d33e6339c4e9c9b22",
        category=Category.parse("vics:1"),
        source="conformance",
    ),
    BankRecord(
        "pdq",
        "0000000000000000000000000000000000000000000000000000ffffffffffff",
        category=Category.parse("vics:2"),
        source="conformance",
    ),
)


@dataclass(frozen=True)
class FormatCases:
    """The case table of one format."""

    records: Sequence[BankRecord] = SAMPLE_RECORDS  # at least one; canonical values
    bad: Sequence[bytes] = ()  # inputs that must raise ImportFormatError
    keeps: Sequence[str] = ("category",)  # BankRecord fields that survive a round trip
    read_signal_type: str | None = None  # passed to read (formats of untyped values)
    sniffed: bool = True  # sniff names the format from its own output


def _fail(cls: type[BankFormat], message: str) -> AssertionError:
    return AssertionError(f"bank format {getattr(cls, 'name', cls)!r}: {message}")


def check_bank_format(cls: type[BankFormat], cases: FormatCases | None = None) -> None:
    """Check ``cls`` against the bank-format contract with ``cases``."""
    cases = cases or FormatCases()
    try:
        as_bank_format(cls, repr(cls))
    except Exception as error:
        raise _fail(cls, f"the registry refuses it: {error}") from error
    if not isinstance(getattr(cls, "description", None), str) or not cls.description:
        raise _fail(cls, "the class variable 'description' must be set")
    if not cases.records:
        raise _fail(cls, "the case table needs at least one record")
    fmt = cls()

    out = io.BytesIO()
    written = fmt.write(iter(cases.records), out)
    if written != len(cases.records):
        raise _fail(cls, f"write returned {written} for {len(cases.records)} records")
    data = out.getvalue()
    try:
        back = list(fmt.read(io.BytesIO(data), signal_type=cases.read_signal_type))
    except ImportFormatError as error:
        raise _fail(cls, f"cannot read its own output: {error.message}") from error
    if [(r.signal_type, r.value) for r in back] != [
        (r.signal_type, r.value) for r in cases.records
    ]:
        raise _fail(cls, "reading its own output gave other signal types or values")
    for field in cases.keeps:
        if [getattr(r, field) for r in back] != [getattr(r, field) for r in cases.records]:
            raise _fail(cls, f"the field {field!r} did not survive a round trip")
    if cases.sniffed and sniff(data[:4096]) != cls.name:
        raise _fail(cls, "sniff does not recognise its own output")

    for bad in [*cases.bad, b""]:
        try:
            list(fmt.read(io.BytesIO(bad), signal_type=cases.read_signal_type))
        except ImportFormatError:
            continue
        except Exception as error:
            raise _fail(
                cls, f"input {bad[:40]!r} raised {error!r}, not ImportFormatError"
            ) from error
        if bad:
            raise _fail(cls, f"input {bad[:40]!r} was read without an error")
