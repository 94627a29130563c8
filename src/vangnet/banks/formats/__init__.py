"""Bank import/export formats: VICS JSON, HMA CSV, plain hash lists, and plug-ins.

Each format is a `BankFormat` (see `vangnet.banks.formats.base`) registered by a unique name
under the entry-point group ``vangnet.bank_formats``: the built-ins ``vics2``, ``vics1``,
``hma-csv`` and ``plain`` register there too (``pyproject.toml``), `register_format` adds one
at run time. `get_format` looks one up (by name or alias), `formats` lists them and `sniff`
guesses one from the first bytes of a file when the user does not say. A plug-in that fails
to load is reported by `failed_formats` (and `vangnet plugins`); the others keep working.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from vangnet.banks.formats.base import BankFormat, BankRecord
from vangnet.errors import ImportFormatError, NotFoundError
from vangnet.plugins import PluginError, Registry, subclass_check

__all__ = [
    "GROUP",
    "BankFormat",
    "BankRecord",
    "aliases",
    "failed_formats",
    "formats",
    "get_format",
    "register_format",
    "sniff",
    "unregister_format",
]

GROUP = "vangnet.bank_formats"

_HEX_LINE = re.compile(rb"[0-9a-fA-F]{16,}\s*(,\s*\d{1,3}\s*)?")
_BOM = b"\xef\xbb\xbf"
_BUILT_IN = ("vics2", "vics1", "hma-csv", "plain")


#: ``cls`` as a bank format class, or `PluginError` saying why it is not one.
as_bank_format: Callable[[object, str], type[BankFormat]] = subclass_check(BankFormat)


REGISTRY: Registry[type[BankFormat]] = Registry(GROUP, what="bank format", check=as_bank_format)


def formats() -> dict[str, BankFormat]:
    """All formats by name (names are unique): the built-ins first, in their usual order,
    then plug-ins by name."""
    found = REGISTRY.loaded()
    order = [n for n in _BUILT_IN if n in found] + sorted(n for n in found if n not in _BUILT_IN)
    return {name: found[name]() for name in order}


def failed_formats() -> dict[str, str]:
    """Format plug-ins that failed to load: entry-point name -> why."""
    return REGISTRY.failed()


def aliases() -> dict[str, str]:
    """Other names of the formats: alias -> format name (`PluginError` on a clash)."""
    names = REGISTRY.loaded()
    out: dict[str, str] = {}
    for name, cls in names.items():
        for alias in cls.aliases:
            if alias in names or alias in out:
                raise PluginError(f"two bank formats are named {alias!r}")
            out[alias] = name
    return out


def get_format(name: str) -> BankFormat:
    try:
        return formats()[aliases().get(name, name)]
    except KeyError:
        why = failed_formats().get(name)
        if why:
            raise PluginError(f"bank format {name!r} failed to load ({why})") from None
        known = ", ".join(formats())
        raise NotFoundError(f"unknown bank format {name!r} (known: {known})") from None


def register_format(cls: type[BankFormat]) -> type[BankFormat]:
    """Register a format at run time, as an entry point would; its name must be new."""
    return REGISTRY.register(cls)


def unregister_format(name: str) -> None:
    """Undo `register_format` (entry-point formats stay)."""
    REGISTRY.unregister(name)


def sniff(head: bytes) -> str:
    """Guess the format name from the first bytes (a few KB) of a file.

    JSON objects are VICS (``vics1`` when they carry ``odata.metadata`` or a 1.x model URL,
    else ``vics2``); a first row starting ``signal_type`` is ``hma-csv``; hex lines (after
    ``#`` comments) are ``plain``. When none of these fits, the first plug-in format (by
    name) whose `BankFormat.recognises` says yes. Raises `ImportFormatError` when nothing fits.
    """
    try:
        return _sniff_built_in(head)
    except ImportFormatError:
        for name, fmt in formats().items():
            if name not in _BUILT_IN and type(fmt).recognises(head):
                return name
        raise


def _sniff_built_in(head: bytes) -> str:
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
