"""Record formats by name: the built-ins and plug-ins of the entry-point group
``vangnet.record_formats``, and `sniff`, which guesses a file's format from its first bytes.

Built-ins (``csv``, ``jsonl``, ``pacs008``, ``pain001``, ``mt103``, ``whatsapp``,
``telegram``) register through the same entry points as plug-ins (``pyproject.toml``);
`register_format` adds one at run time. A plug-in that fails to load is reported by
`failed_formats` (and ``vangnet plugins``); the others keep working.
"""

from __future__ import annotations

from collections.abc import Callable

from vangnet.errors import NotFoundError, ValidationError
from vangnet.plugins import Registry, subclass_check
from vangnet.sources.records.base import RecordFormat
from vangnet.sources.records.model import RecordKind

GROUP = "vangnet.record_formats"
#: The built-ins, in the order `sniff` tries them (the most particular first).
BUILT_IN = ("pacs008", "pain001", "mt103", "whatsapp", "telegram", "jsonl", "csv")
#: Bytes of a file's start that `sniff` looks at.
HEAD_BYTES = 8192


class UnknownRecordFormat(ValidationError):
    """A format name nobody registered, or one that does not read the kind asked for."""

    code = "unknown_record_format"


#: ``cls`` as a record format class, or `PluginError` saying why it is not one.
as_record_format: Callable[[object, str], type[RecordFormat]] = subclass_check(RecordFormat)

REGISTRY: Registry[type[RecordFormat]] = Registry(
    GROUP, what="record format", check=as_record_format
)


def formats() -> dict[str, RecordFormat]:
    """Every format by name: the built-ins in `BUILT_IN` order, then plug-ins by name."""
    found = REGISTRY.loaded()
    order = [n for n in BUILT_IN if n in found] + sorted(n for n in found if n not in BUILT_IN)
    return {name: found[name]() for name in order}


def failed_formats() -> dict[str, str]:
    """Record-format plug-ins that failed to load: entry-point name -> why."""
    return REGISTRY.failed()


def formats_for(kind: RecordKind) -> dict[str, RecordFormat]:
    """The formats that read ``kind``."""
    return {name: fmt for name, fmt in formats().items() if kind in fmt.kinds}


def get_format(name: str, *, kind: RecordKind) -> RecordFormat:
    """The format called ``name`` that reads ``kind``; `UnknownRecordFormat` naming the
    known ones (exit 2 / HTTP 400) otherwise, `PluginError` when it failed to load."""
    try:
        found = REGISTRY.get(name)
    except NotFoundError:
        known = ", ".join(formats_for(kind))
        raise UnknownRecordFormat(
            f"unknown record format {name!r} for {kind} (known: auto, {known})"
        ) from None
    if kind not in found.kinds:
        known = ", ".join(formats_for(kind))
        raise UnknownRecordFormat(
            f"record format {name!r} does not read {kind} (for {kind}: auto, {known})"
        )
    return found()


def sniff(head: bytes, *, kind: RecordKind) -> str:
    """The name of the first format (in `formats` order) that reading ``kind`` recognises
    ``head``, the first bytes of a file; `UnknownRecordFormat` when none does."""
    for name, fmt in formats_for(kind).items():
        if type(fmt).recognises(head, kind):
            return name
    known = ", ".join(formats_for(kind))
    raise UnknownRecordFormat(
        f"cannot tell the format of this {kind} file from its first bytes; name it ({known})"
    )


def register_format(cls: type[RecordFormat]) -> type[RecordFormat]:
    """Register a format at run time, as an entry point would; its name must be new."""
    return REGISTRY.register(cls)


def unregister_format(name: str) -> None:
    """Undo `register_format` (entry-point formats stay)."""
    REGISTRY.unregister(name)
