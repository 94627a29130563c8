"""Project VIC VICS JSON (OData): 2.0 and the older 1.x, read as a stream.

Shapes read (by either format; the name only chooses what `write` produces):

- 2.0 hash set: ``{"@odata.context": ".../2.0.xml/<US|UK|CUSTOM|Default>/$metadata#Media",
  "value": [media, ...]}``
- 2.0 case: ``{"@odata.context": "...#Cases", "value": [{"CaseID": ..., "Media": [media]}]}``
- 1.x: ``{"odata.metadata": ".../ProjectVic/DataModels/1.3.xml#Cases", "value": [...]}``
  with the same two inner shapes.

Media field mapping (one media object yields one record per distinct hash):

==========================  ==========================================================
``MD5`` ``SHA1`` ``SHA256``  md5 / sha1 / sha256 records (VICS writes them upper-case)
``PDQ``                      pdq record
``PhotoDNA``                 a ``photodna`` record if that signal plug-in is installed,
                             else ``extra["photodna"]`` (PhotoDNA is licensed, not built in)
``AlternativeHashes``        ``[{"HashName", "HashValue"}]``: a record when the name is an
                             installed signal type, else ``extra["hash:<name>"]``
``MediaFiles``/``MediaFile`` further MD5/SHA1/SHA256 of the files of the media
``MediaID``                  ``external_id`` (as text)
``Category``                 ``Category("vics", "0".."4")``; int or string; null = none
``Series`` / ``Comments``    ``series`` / ``note``
``PrecategorizationSource``  ``source``
``Is*``/``*Identified``      ``extra`` booleans (``"true"``/``"false"`` strings accepted)
``Tags`` ``MediaSize``       ``extra["tags"]``, ``extra["media_size"]``,
``DateUpdated``              ``extra["date_updated"]``
==========================  ==========================================================

A media object with no usable hash yields nothing. Line numbers: see `jsonstream`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, BinaryIO, ClassVar

import ijson

from vangnet.banks.categories import Category
from vangnet.banks.formats.base import (
    BankFormat,
    BankRecord,
    JsonScalar,
    canonical_value,
    category_from,
    known_signal_type,
)
from vangnet.banks.formats.jsonstream import LineReader, events
from vangnet.errors import ImportFormatError

_DIRECT = (("md5", "md5"), ("sha1", "sha1"), ("sha256", "sha256"), ("pdq", "pdq"))
_FILE_HASHES = (("md5", "md5"), ("sha1", "sha1"), ("sha256", "sha256"))
_FLAGS = {
    "isprecategorized": ("is_precategorized", "IsPrecategorized"),
    "isdistributed": ("is_distributed", "IsDistributed"),
    "victimidentified": ("victim_identified", "VictimIdentified"),
    "offenderidentified": ("offender_identified", "OffenderIdentified"),
    "issuspected": ("is_suspected", "IsSuspected"),
}
_SCALARS = {
    "tags": ("tags", "Tags"),
    "mediasize": ("media_size", "MediaSize"),
    "dateupdated": ("date_updated", "DateUpdated"),
}
_TOP_LEVEL_HASHES = {"md5": "MD5", "sha1": "SHA1", "sha256": "SHA256"}
_JSON_KIND = {
    "start_map": "an object",
    "start_array": "an array",
    "string": "a string",
    "number": "a number",
    "boolean": "a boolean",
    "null": "null",
}


class Vics2Format(BankFormat):
    name = "vics2"
    aliases = ("vics",)
    description = "Project VIC VICS JSON 2.0 (reads #Media and #Cases, and 1.x); writes #Media"
    context: ClassVar[str] = (
        "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/CUSTOM/$metadata#Media"
    )

    def read(self, stream: BinaryIO, *, signal_type: str | None = None) -> Iterator[BankRecord]:
        return read_vics(stream)

    def write(self, records: Iterable[BankRecord], out: BinaryIO) -> int:
        head = '{"@odata.context":' + json.dumps(self.context) + ',"value":[\n'
        return _write(records, out, head=head, tail="]}\n")


class Vics1Format(BankFormat):
    name = "vics1"
    description = "Project VIC VICS JSON 1.x (odata.metadata, #Cases); reads 2.0 as well"
    context: ClassVar[str] = "http://github.com/ICMEC/ProjectVic/DataModels/1.3.xml#Cases"

    def read(self, stream: BinaryIO, *, signal_type: str | None = None) -> Iterator[BankRecord]:
        return read_vics(stream)

    def write(self, records: Iterable[BankRecord], out: BinaryIO) -> int:
        head = '{"odata.metadata":' + json.dumps(self.context) + ',"value":[{"Media":[\n'
        return _write(records, out, head=head, tail="]}]}\n")


# --- reading ---------------------------------------------------------------------------


def read_vics(stream: BinaryIO) -> Iterator[BankRecord]:
    """Yield the records of a VICS JSON document, one media object in memory at a time."""
    reader = LineReader(stream)
    stream_events = events(reader)
    first = next(stream_events, None)
    if first is None:
        raise ImportFormatError("empty input: expected a VICS JSON object", line=reader.line)
    if first[1] != "start_map":
        found = _JSON_KIND.get(first[1], first[1])
        raise ImportFormatError(
            f"expected a JSON object at the top level, found {found}", line=reader.line
        )
    seen_value = False
    index = 0  # media objects seen, for messages
    builder: ijson.ObjectBuilder | None = None
    prefix_of_item = ""
    key_lines: dict[str, int] = {}
    in_case = False
    for prefix, event, value in stream_events:
        if builder is not None:
            if prefix == prefix_of_item and event == "end_map":
                index += 1
                media = builder.value
                builder = None
                yield from media_records(media, index=index, key_lines=key_lines, end=reader.line)
                continue
            if prefix == prefix_of_item and event == "map_key":
                if value == "Media" and prefix_of_item == "value.item":
                    builder = None  # a case: stream its Media array instead
                    in_case = True
                    continue
                key_lines[value] = reader.line
            builder.event(event, value)
            continue
        if prefix == "value":
            if event == "start_array":
                seen_value = True
            elif event != "end_array":
                raise ImportFormatError(
                    f'"value" must be an array, not {_JSON_KIND.get(event, event)}',
                    line=reader.line,
                )
        elif in_case and prefix == "value.item":
            in_case = event != "end_map"  # skip the case's own fields
        elif prefix in ("value.item", "value.item.Media.item"):
            if event != "start_map":
                raise ImportFormatError(
                    f"each entry of {prefix.removesuffix('.item')} must be an object, "
                    f"not {_JSON_KIND.get(event, event)}",
                    line=reader.line,
                )
            builder = ijson.ObjectBuilder()
            builder.event(event, value)
            prefix_of_item = prefix
            key_lines = {}
        elif prefix == "value.item.Media" and event not in ("start_array", "end_array", "null"):
            raise ImportFormatError(
                f'"Media" must be an array, not {_JSON_KIND.get(event, event)}', line=reader.line
            )
    if not seen_value:
        raise ImportFormatError('not VICS JSON: no "value" array', line=reader.line)


def media_records(
    media: dict[str, Any], *, index: int, key_lines: dict[str, int], end: int
) -> Iterator[BankRecord]:
    """The records of one VICS media object (see the module docstring for the mapping)."""
    fields = {key.lower(): key for key in media}

    def get(name: str) -> Any:
        key = fields.get(name)
        return None if key is None else media[key]

    def line_of(name: str) -> int:
        key = fields.get(name)
        return key_lines.get(key, end) if key is not None else end

    media_id = get("mediaid")
    where = f"media #{index}" + ("" if media_id is None else f" (MediaID {media_id})")

    def fail(message: str, name: str) -> ImportFormatError:
        return ImportFormatError(f"{where}: {message}", line=line_of(name))

    if media_id is not None and (isinstance(media_id, bool) or not isinstance(media_id, str | int)):
        raise fail("MediaID must be a number or a string", "mediaid")
    extra: dict[str, JsonScalar] = {}
    for name, (key, _) in _FLAGS.items():
        raw = get(name)
        if raw is not None and raw != "":
            extra[key] = _flag(raw, lambda m, n=name: fail(m, n))
    for name, (key, _) in _SCALARS.items():
        raw = get(name)
        if isinstance(raw, str | int | float) and not isinstance(raw, bool) and raw != "":
            extra[key] = raw

    found: list[tuple[str, object, str]] = []  # (signal type, raw value, field name)
    for name, kind in _DIRECT:
        found.append((kind, get(name), name))
    photodna = get("photodna")
    if photodna not in (None, ""):
        if known_signal_type("photodna"):
            found.append(("photodna", photodna, "photodna"))
        else:
            extra["photodna"] = str(photodna)
    for alt in _objects(get("alternativehashes"), lambda m: fail(m, "alternativehashes")):
        alt_fields = {k.lower(): v for k, v in alt.items()}
        name = str(alt_fields.get("hashname") or "").strip()
        kind = name.lower().replace("-", "")
        raw_value = alt_fields.get("hashvalue")
        if not name or raw_value in (None, ""):
            continue
        if known_signal_type(kind):
            found.append((kind, raw_value, "alternativehashes"))
        elif kind == "photodna":
            extra["photodna"] = str(raw_value)
        else:
            extra[f"hash:{name}"] = str(raw_value)
    for files_key in ("mediafiles", "mediafile"):
        for item in _objects(get(files_key), lambda m, k=files_key: fail(m, k)):
            item_fields = {k.lower(): v for k, v in item.items()}
            for name, kind in _FILE_HASHES:
                found.append((kind, item_fields.get(name), files_key))

    category = category_from(get("category"), profile="vics", line=line_of("category"))
    source = _text(get("precategorizationsource"))
    series = _text(get("series"))
    note = _text(get("comments"))
    external_id = None if media_id is None else str(media_id)
    seen: set[tuple[str, str]] = set()
    for kind, raw_value, name in found:
        if raw_value is None or raw_value == "":
            continue
        try:
            value = canonical_value(kind, raw_value, line=line_of(name))
        except ImportFormatError as exc:
            raise fail(f"{name}: {exc.message.partition(': ')[2]}", name) from None
        if (kind, value) in seen:
            continue
        seen.add((kind, value))
        yield BankRecord(
            kind,
            value,
            category=category,
            source=source,
            series=series,
            note=note,
            external_id=external_id,
            extra=dict(extra),
        )


def _flag(raw: object, fail: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
        return raw.strip().lower() == "true"
    if isinstance(raw, int) and raw in (0, 1):
        return raw == 1
    raise fail(f"expected true or false, not {raw!r}")


def _objects(raw: object, fail: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    items = [raw] if isinstance(raw, dict) else raw
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise fail("expected an array of objects")
    return items


def _text(raw: object) -> str | None:
    if raw is None or raw == "":
        return None
    if isinstance(raw, str | int | float) and not isinstance(raw, bool):
        return str(raw)
    return json.dumps(raw, sort_keys=True)


# --- writing ---------------------------------------------------------------------------


def _group_key(record: BankRecord) -> tuple[object, ...]:
    return (
        record.external_id,
        record.category,
        record.source,
        record.series,
        record.note,
        tuple(sorted((k, repr(v)) for k, v in record.extra.items())),
    )


def _media(group: list[BankRecord]) -> dict[str, Any]:
    first = group[0]
    media: dict[str, Any] = {}
    if first.external_id is not None:
        ident = first.external_id
        media["MediaID"] = int(ident) if ident.isdigit() and len(ident) < 19 else ident
    category: Category | None = first.category
    if category is not None and category.profile == "vics":
        media["Category"] = int(category.code)
    alternatives: list[dict[str, str]] = []
    for record in group:
        top = _TOP_LEVEL_HASHES.get(record.signal_type)
        if top is not None:
            media[top] = record.value.upper()
        else:
            alternatives.append({"HashName": record.signal_type.upper(), "HashValue": record.value})
    extra = first.extra
    if "photodna" in extra:
        media["PhotoDNA"] = extra["photodna"]
    for key, value in extra.items():
        if key.startswith("hash:"):
            alternatives.append({"HashName": key[5:], "HashValue": str(value)})
    if alternatives:
        media["AlternativeHashes"] = alternatives
    for key, field in (*_FLAGS.values(), *_SCALARS.values()):
        if key in extra:
            media[field] = extra[key]
    for field, value in (
        ("Series", first.series),
        ("Comments", first.note),
        ("PrecategorizationSource", first.source),
    ):
        if value is not None:
            media[field] = value
    return media


def _write(records: Iterable[BankRecord], out: BinaryIO, *, head: str, tail: str) -> int:
    out.write(head.encode())
    count = 0
    written = 0
    group: list[BankRecord] = []
    types: set[str] = set()

    def flush() -> None:
        nonlocal written
        if group:
            sep = ",\n" if written else ""
            out.write((sep + json.dumps(_media(group), ensure_ascii=False)).encode())
            written += 1

    for record in records:
        if group and (
            _group_key(record) != _group_key(group[0])
            or record.signal_type in types
            or record.external_id is None
        ):
            flush()
            group, types = [], set()
        group.append(record)
        types.add(record.signal_type)
        count += 1
    flush()
    out.write(("\n" + tail).encode())
    return count
