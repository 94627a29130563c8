"""The XMP packet: parsed with lxml without entities, DTDs or network; simple values by
``prefix:Name`` and the ``xmpMM:History`` edit events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lxml import etree

from vangnet.triage.metadata.models import HistoryEvent, Timestamp
from vangnet.triage.metadata.values import (
    MAX_TAG_CHARS,
    Problems,
    make_timestamp,
    parse_datetime,
)

#: Largest XMP packet parsed, in bytes.
MAX_XMP_BYTES = 4 * 1024 * 1024

#: XMP history events kept (Photoshop can log thousands).
MAX_HISTORY = 100


_XMP_NS = {
    "adobe:ns:meta/": "x",
    "http://www.w3.org/1999/02/22-rdf-syntax-ns#": "rdf",
    "http://ns.adobe.com/xap/1.0/": "xmp",
    "http://ns.adobe.com/xap/1.0/mm/": "xmpMM",
    "http://ns.adobe.com/xap/1.0/sType/ResourceEvent#": "stEvt",
    "http://ns.adobe.com/exif/1.0/": "exif",
    "http://cipa.jp/exif/1.0/": "exifEX",
    "http://ns.adobe.com/tiff/1.0/": "tiff",
    "http://ns.adobe.com/exif/1.0/aux/": "aux",
    "http://ns.adobe.com/photoshop/1.0/": "photoshop",
    "http://purl.org/dc/elements/1.1/": "dc",
    "http://ns.google.com/photos/1.0/camera/": "GCamera",
}
_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
_STEVT = "{http://ns.adobe.com/xap/1.0/sType/ResourceEvent#}"


def _xmp_name(tag: Any) -> str | None:
    """``{uri}Local`` as ``prefix:Local`` for the namespaces we read, else None."""
    if not isinstance(tag, str) or not tag.startswith("{"):
        return None
    uri, _, local = tag[1:].partition("}")
    prefix = _XMP_NS.get(uri)
    return f"{prefix}:{local}" if prefix else None


def _find_xmp(data: bytes) -> bytes | None:
    start = data.find(b"<x:xmpmeta")
    if start < 0:
        return None
    end = data.find(b"</x:xmpmeta>", start, start + MAX_XMP_BYTES)
    if end < 0:
        raise ValueError("packet is unterminated or larger than the limit")
    return data[start : end + len(b"</x:xmpmeta>")]


def _parse_xmp(packet: bytes) -> etree._Element:
    if b"<!DOCTYPE" in packet or b"<!ENTITY" in packet:
        raise ValueError("packet declares a DTD or entities; refused")
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    return etree.fromstring(packet, parser=parser)


def _xmp_value(element: etree._Element) -> str | None:
    """Text of a simple property, or of the first item of an rdf:Alt/Seq/Bag."""
    items = element.findall(f"{_RDF}Alt/{_RDF}li") or element.findall(f"{_RDF}Seq/{_RDF}li")
    items = items or element.findall(f"{_RDF}Bag/{_RDF}li")
    target = items[0] if items else element
    if len(target) and not items:
        return None  # a structure, not a simple value
    text = " ".join((target.text or "").split())
    return text or None


def _xmp_history(root: etree._Element) -> tuple[HistoryEvent, ...]:
    events: list[HistoryEvent] = []
    for li in root.iter(f"{_RDF}li"):
        parent = li.getparent()
        holder = parent.getparent() if parent is not None else None
        if holder is None or _xmp_name(holder.tag) != "xmpMM:History":
            continue
        fields: dict[str, str] = {}
        nodes = [li, *li.findall(f"{_RDF}Description")]
        for node in nodes:
            for key, value in node.attrib.items():
                if isinstance(key, str) and key.startswith(_STEVT):
                    fields[key[len(_STEVT) :]] = " ".join(str(value).split())
            for child in node:
                if isinstance(child.tag, str) and child.tag.startswith(_STEVT):
                    fields[child.tag[len(_STEVT) :]] = " ".join((child.text or "").split())
        events.append(
            HistoryEvent(
                action=fields.get("action") or None,
                when=fields.get("when") or None,
                software=fields.get("softwareAgent") or None,
            )
        )
        if len(events) >= MAX_HISTORY:
            break
    return tuple(events)


@dataclass(frozen=True)
class Xmp:
    values: dict[str, str]
    history: tuple[HistoryEvent, ...]


def read_xmp(data: bytes, problems: Problems) -> Xmp | None:
    with problems.guard("XMP"):
        packet = _find_xmp(data)
        if packet is None:
            return None
        root = _parse_xmp(packet)
        values: dict[str, str] = {}
        for desc in root.iter(f"{_RDF}Description"):
            for key, raw in desc.attrib.items():
                name = _xmp_name(key)
                if name and not name.startswith("rdf:"):
                    values.setdefault(name, " ".join(str(raw).split()))
            for child in desc:
                name = _xmp_name(child.tag)
                if name and not name.startswith("rdf:"):
                    text = _xmp_value(child)
                    if text:
                        values.setdefault(name, text)
        return Xmp({k: v[:MAX_TAG_CHARS] for k, v in values.items()}, _xmp_history(root))
    return None


def xmp_time(xmp: Xmp | None, name: str, problems: Problems) -> Timestamp | None:
    text = xmp.values.get(name) if xmp is not None else None
    if not text:
        return None
    try:
        parsed = parse_datetime(text)
    except ValueError as exc:
        problems.add(f"XMP {name} dropped: {exc}")
        return None
    return None if parsed is None else make_timestamp(f"xmp:{name}", *parsed)
