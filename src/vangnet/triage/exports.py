"""Exports of an investigation case: Project VIC VICS 2.0 ``#Cases`` JSON, CSV, and an HTML
report. All three are built from the case document (`vangnet.review.cases.case_document`,
whose ``triage_items`` hold what triage recorded); none contains media.

VICS: one ``Media`` per distinct file content (by SHA-256), with ``MD5``/``SHA1``, the
category when an item is categorised (a known item's bank category, or an analyst's), the
``Series``, ``AlternativeHashes`` (SHA256, PDQ, then every other single-value signal type the
triage kept, a plug-in's included, by name: ``HashName`` is the signal type's name in upper
case, as `vangnet.banks.formats.vics` writes a bank's), a ``PhotoDNA`` field for a signal type
named ``photodna`` (the field VICS tools read it from), and one ``MediaFiles`` entry per place
the content was found (``FilePath`` = the whole chain joined with `` > ``, ``FileName``,
``FileSize``, the file-system times, deleted or not) plus an ``Exifs`` summary of the
metadata (capture time, camera, GPS). Vangnet's own bank importer reads it back unchanged:
each hash, a plug-in's too when that plug-in is installed, as a record of its signal type.

CSV: one row per item, the columns of `CSV_FIELDS` with, after ``pdq``, one column per other
single-value signal type present in the case, by name (`signal_columns`); the last four are
the triage ``classify`` step's priority signal (``classifier_priority`` 0-1,
``classifier_likely``, ``classifier_summary``, ``classifier_scores`` as ``name=value``), empty
for an item it did not score: an order for people, never a category. HTML: a row per
hash value of each item, and the number of frames of each per-frame video signal.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from vangnet import __version__
from vangnet.cases.document import CaseDocument

CONTEXT = "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/US/$metadata#Cases"

CSV_FIELDS = (
    "id",
    "source_path",
    "name",
    "kind",
    "status",
    "reason",
    "deleted",
    "size",
    "md5",
    "sha1",
    "sha256",
    "pdq",
    "category",
    "series",
    "series_id",
    "matches",
    "captured_at",
    "latitude",
    "longitude",
    "place",
    "device",
    "language",
    "text",
    "modified",
    "classifier_priority",
    "classifier_likely",
    "classifier_summary",
    "classifier_scores",
)


#: the signal types with a column (CSV) or a field (VICS) of their own; any other in an item's
#: ``signals`` is written after them, by name
BUILT_IN = ("md5", "sha1", "sha256", "pdq")
#: VICS hash names of the standard types written in ``AlternativeHashes``
_VICS_ALTERNATIVES = (("sha256", "SHA256"), ("pdq", "PDQ"))
#: signal types VICS has a media field of its own for
_VICS_FIELDS = {"photodna": "PhotoDNA"}


def other_signals(item: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The item's single-value hashes beyond `BUILT_IN` (a plug-in's), by signal type name."""
    signals = item.get("signals") or {}
    return sorted((str(n), str(v)) for n, v in signals.items() if n not in BUILT_IN and v)


def signal_columns(items: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """The CSV column of each signal type beyond `BUILT_IN` present in ``items``, by name: the
    type's name, or ``signal:NAME`` when a column of `CSV_FIELDS` has that name."""
    names = sorted({n for item in items for n, _ in other_signals(item)})
    return {n: f"signal:{n}" if n in CSV_FIELDS else n for n in names}


def csv_fields(columns: Mapping[str, str]) -> tuple[str, ...]:
    """`CSV_FIELDS` with the ``columns`` of `signal_columns` after ``pdq``."""
    at = CSV_FIELDS.index("pdq") + 1
    return (*CSV_FIELDS[:at], *columns.values(), *CSV_FIELDS[at:])


def _meta(item: Mapping[str, Any]) -> dict[str, Any]:
    meta = item.get("metadata") or {}
    return meta if isinstance(meta, dict) else {}


def _gps(meta: Mapping[str, Any]) -> tuple[float | None, float | None]:
    gps = meta.get("gps") or {}
    if not isinstance(gps, dict) or gps.get("null_island"):
        return None, None
    lat, lon = gps.get("latitude"), gps.get("longitude")
    ok = isinstance(lat, int | float) and isinstance(lon, int | float)
    return (lat, lon) if ok else (None, None)


def _place(meta: Mapping[str, Any]) -> str | None:
    place = meta.get("place")
    if isinstance(place, dict):
        parts = [place.get("city"), place.get("region"), place.get("country")]
        return ", ".join(str(p) for p in parts if p) or None
    return None


def _device(meta: Mapping[str, Any]) -> str | None:
    device = meta.get("device")
    if not isinstance(device, dict):
        return None
    text = " ".join(str(p) for p in (device.get("make"), device.get("model")) if p)
    serials = [s.get("value") for s in device.get("serials") or [] if isinstance(s, dict)]
    if serials:
        text += f" (serial {', '.join(str(s) for s in serials)})"
    return text.strip() or None


def _captured(meta: Mapping[str, Any]) -> str | None:
    value = meta.get("captured")
    if isinstance(value, dict):
        local, offset = value.get("local"), value.get("offset")
        if local:
            return f"{local}{offset or ''}"
        return str(value.get("utc") or "") or None
    return None


def _vics_category(category: str | None) -> int | None:
    if category and category.startswith("vics:"):
        code = category.split(":", 1)[1]
        return int(code) if code.isdigit() else None
    return None


def vics(case: CaseDocument) -> dict[str, Any]:
    """The VICS 2.0 #Cases document of an investigation case."""
    by_content: dict[str, list[Mapping[str, Any]]] = {}
    for item in case.get("triage_items", []):
        hashes = item.get("hashes") or {}
        if item.get("status") != "ok" or item.get("kind") not in ("photo", "video"):
            continue
        if not hashes.get("md5") or not hashes.get("sha1"):
            continue
        by_content.setdefault(hashes.get("sha256") or hashes["md5"] or "", []).append(item)
    media = []
    for items in by_content.values():
        first = items[0]
        hashes = first["hashes"]
        entry: dict[str, Any] = {
            "MediaID": first["id"],
            "MD5": hashes["md5"].upper(),
            "SHA1": hashes["sha1"].upper(),
            "MediaSize": first.get("size"),
        }
        alternatives = [
            {"HashName": name, "HashValue": hashes[key]}
            for key, name in _VICS_ALTERNATIVES
            if hashes.get(key)
        ]
        for signal_type, value in other_signals(first):
            if signal_type in _VICS_FIELDS:
                entry[_VICS_FIELDS[signal_type]] = value
            else:
                alternatives.append({"HashName": signal_type.upper(), "HashValue": value})
        if alternatives:
            entry["AlternativeHashes"] = alternatives
        category = next((i.get("category") for i in items if i.get("category")), None)
        code = _vics_category(category)
        if code is not None:
            entry["Category"] = code
        elif category:
            entry["Tags"] = category
        series = next((i.get("series") for i in items if i.get("series")), None)
        if series:
            entry["Series"] = series
        entry["MediaFiles"] = [_media_file(i) for i in items]
        exifs = _exifs(_meta(first))
        if exifs:
            entry["Exifs"] = exifs
        media.append(entry)
    return {
        "@odata.context": CONTEXT,
        "value": [
            {
                "CaseID": str(case.get("title") or case.get("id")),
                "SourceApplicationName": "Vangnet",
                "SourceApplicationVersion": __version__,
                "Media": media,
            }
        ],
    }


def _media_file(item: Mapping[str, Any]) -> dict[str, Any]:
    times = item.get("times") or {}
    out: dict[str, Any] = {
        "FileName": item.get("name"),
        "FilePath": item.get("source_path"),
        "FileSize": item.get("size"),
        "MD5": (item.get("hashes") or {}).get("md5", "").upper(),
        "SHA1": (item.get("hashes") or {}).get("sha1", "").upper(),
        "IsDeleted": bool(item.get("deleted")),
    }
    for key, name in (("created", "Created"), ("modified", "Written"), ("accessed", "Accessed")):
        if times.get(key):
            out[name] = times[key]
    return out


def _exifs(meta: Mapping[str, Any]) -> list[dict[str, str]]:
    """Metadata as VICS-style property/value pairs."""
    pairs: list[tuple[str, Any]] = [
        ("DateTimeOriginal", _captured(meta)),
        ("Device", _device(meta)),
        ("Software", ", ".join(str(x) for x in meta.get("software") or []) or None),
    ]
    lat, lon = _gps(meta)
    if lat is not None and lon is not None:
        pairs += [("GPSLatitude", f"{lat:.6f}"), ("GPSLongitude", f"{lon:.6f}")]
    place = _place(meta)
    if place:
        pairs.append(("Place", place))
    return [{"PropertyName": k, "PropertyValue": str(v)} for k, v in pairs if v]


def vics_bytes(case: CaseDocument) -> bytes:
    return json.dumps(vics(case), ensure_ascii=False, indent=1).encode("utf-8")


def csv_bytes(case: CaseDocument) -> bytes:
    items = case.get("triage_items", [])
    columns = signal_columns(items)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=csv_fields(columns), extrasaction="ignore")
    writer.writeheader()
    for item in items:
        writer.writerow(csv_row(item, columns))
    return out.getvalue().encode("utf-8")


def _cell(value: Any) -> Any:
    """Neutralise spreadsheet formulas in text cells (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _classifier_cells(item: Mapping[str, Any]) -> dict[str, Any]:
    """The ``classify`` step's columns: the priority signal (0-1), whether it was likely,
    its summary, and each classifier's score (``name=value``, ``; ``-separated); empty
    when the step did not score the item."""
    findings = item.get("findings") or {}
    found = findings.get("classifiers") if isinstance(findings, Mapping) else None
    if not isinstance(found, Mapping) or not found.get("scores"):
        return dict.fromkeys(CSV_FIELDS[-4:])
    priority = found.get("priority") or {}
    scores = found.get("scores") or {}
    return {
        "classifier_priority": priority.get("value"),
        "classifier_likely": priority.get("likely"),
        "classifier_summary": priority.get("summary"),
        "classifier_scores": "; ".join(f"{n}={v}" for n, v in sorted(scores.items())),
    }


def csv_row(item: Mapping[str, Any], columns: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The CSV row of an item; ``columns``: those of `signal_columns` (none: the built-in
    hashes only)."""
    meta = _meta(item)
    hashes = item.get("hashes") or {}
    lat, lon = _gps(meta)
    row = {
        "id": item.get("id"),
        "source_path": item.get("source_path"),
        "name": item.get("name"),
        "kind": item.get("kind"),
        "status": item.get("status"),
        "reason": item.get("reason"),
        "deleted": item.get("deleted"),
        "size": item.get("size"),
        "md5": hashes.get("md5"),
        "sha1": hashes.get("sha1"),
        "sha256": hashes.get("sha256"),
        "pdq": hashes.get("pdq"),
        "category": item.get("category"),
        "series": item.get("series"),
        "series_id": item.get("series_id"),
        "matches": "; ".join(
            f"{m.get('bank')}/{m.get('content_id')} {m.get('signal_type')} d={m.get('distance')}"
            for m in item.get("matches") or []
        ),
        "captured_at": _captured(meta),
        "latitude": lat,
        "longitude": lon,
        "place": _place(meta),
        "device": _device(meta),
        "language": item.get("language"),
        "text": (item.get("text") or "")[:2000],
        "modified": (item.get("times") or {}).get("modified"),
        **_classifier_cells(item),
    }
    signals = item.get("signals") or {}
    for name, column in (columns or {}).items():
        row[column] = signals.get(name)
    return {k: _cell(v) for k, v in row.items()}


def html_bytes(case: CaseDocument, *, generated_by: str) -> bytes:
    env = Environment(
        loader=PackageLoader("vangnet.triage", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
    )
    items = list(case.get("triage_items", []))
    kinds: dict[str, int] = {}
    categories: dict[str, int] = {}
    for i in items:
        kinds[i.get("kind", "other")] = kinds.get(i.get("kind", "other"), 0) + 1
        if i.get("matches"):
            cat = i.get("category") or "uncategorised"
            categories[cat] = categories.get(cat, 0) + 1
    page = env.get_template("investigation.html").render(
        case=case,
        items=items,
        kinds=dict(sorted(kinds.items())),
        categories=dict(sorted(categories.items())),
        known=sum(categories.values()),
        series=len({i.get("series_id") for i in items if i.get("series_id")}),
        deleted=sum(1 for i in items if i.get("deleted")),
        failed=sum(1 for i in items if i.get("status") != "ok"),
        version=__version__,
        generated_by=generated_by,
        row=csv_row,
        other_signals=other_signals,
    )
    return page.encode("utf-8")
