"""Bank import/export formats: VICS JSON, HMA CSV, plain hash lists.

Each format is a `BankFormat` (see `vangnet.banks.formats.base`) registered here by a unique
name: ``vics2``, ``vics1``, ``hma-csv``, ``plain``. `get_format` looks one up, `formats` lists
them and `sniff` guesses one from the first bytes of a file when the user does not say.
"""

from __future__ import annotations

import re
from functools import cache

from vangnet.banks.formats.base import BankFormat, BankRecord
from vangnet.errors import ImportFormatError, NotFoundError

__all__ = ["BankFormat", "BankRecord", "formats", "get_format", "sniff"]

_HEX_LINE = re.compile(rb"[0-9a-fA-F]{16,}\s*(,\s*\d{1,3}\s*)?")
_BOM = b"\xef\xbb\xbf"


@cache
def formats() -> dict[str, BankFormat]:
    """All formats by name (built-ins; names are unique)."""
    from vangnet.banks.formats.hma_csv import HmaCsvFormat
    from vangnet.banks.formats.plain import PlainFormat
    from vangnet.banks.formats.vics import Vics1Format, Vics2Format

    found: dict[str, BankFormat] = {}
    for cls in (Vics2Format, Vics1Format, HmaCsvFormat, PlainFormat):
        if cls.name in found:
            raise RuntimeError(f"two bank formats are named {cls.name!r}")
        found[cls.name] = cls()
    return found


#: Other names people use for a format.
ALIASES = {"vics": "vics2", "csv": "hma-csv", "hma": "hma-csv", "txt": "plain"}


def get_format(name: str) -> BankFormat:
    try:
        return formats()[ALIASES.get(name, name)]
    except KeyError:
        known = ", ".join(formats())
        raise NotFoundError(f"unknown bank format {name!r} (known: {known})") from None


def sniff(head: bytes) -> str:
    """Guess the format name from the first bytes (a few KB) of a file.

    JSON objects are VICS (``vics1`` when they carry ``odata.metadata`` or a 1.x model URL,
    else ``vics2``); a first row starting ``signal_type`` is ``hma-csv``; hex lines (after
    ``#`` comments) are ``plain``. Raises `ImportFormatError` when nothing fits.
    """
    text = head.removeprefix(_BOM).lstrip()
    if text.startswith(b"{"):
        if b'"odata.metadata"' in text or b"/DataModels/1." in text:
            return "vics1"
        return "vics2"
    lines = [line.strip() for line in text.splitlines()]
    content = [line for line in lines if line and not line.startswith(b"#")]
    if content:
        first = content[0]
        if first.lower().startswith(b"signal_type") or first.lower().startswith(b'"signal_type"'):
            return "hma-csv"
        if _HEX_LINE.fullmatch(first):
            return "plain"
        cell = first.split(b",", 1)[0].strip().lower()
        if b"," in first and re.fullmatch(rb"[a-z][a-z0-9_]*", cell):
            return "hma-csv"
    elif lines and any(line.lower().startswith(b"# signal_type") for line in lines):
        return "plain"
    raise ImportFormatError("cannot tell the bank format from the first bytes; name it")
