"""Project VIC VICS 2.0 ``#Cases`` export of case documents (for Griffeye and other VICS tools).

One JSON document ``{"@odata.context": ".../DataModels/2.0.xml/<profile>/$metadata#Cases",
"value": [case, ...]}``; each case is ``{"CaseID", "SourceApplicationName",
"SourceApplicationVersion", "ContactOrganization"?, "CaseNumber"?, "Media": [media, ...]}``
and each preserved item of the case becomes one media object:

=============================  ===========================================================
``MediaID``                    the item id (int)
``MD5`` ``SHA1``               upper-case hex, as VICS writes them
``AlternativeHashes``          ``[{"HashName": "SHA256", ...}, {"HashName": "PDQ", ...}]``
                               (the VICS place for hashes without a field of their own),
                               then every other single-value hash of the item (a plug-in's,
                               by name: ``HashName`` is the signal type's name in upper case,
                               as bank exports and triage exports write it); a type named
                               ``photodna`` goes to VICS's ``PhotoDNA`` field. Per-frame
                               video hashes and types not installed here are left out.
``MediaSize``                  bytes
``MediaFiles``                 ``[{"FileName", "FilePath", "MD5", "SHA1", "FileSize",
                               "Created"}]``: ``FilePath`` is the logical path
                               ``vangnet/case-<id>/item-<id>/<file name>``, ``Created`` the
                               capture time (UTC, ``...Z``)
``Category``                   see below
``Tags``                       the category text when it cannot go in ``Category``
``Series``                     the banked series when every match of the item names one
``Comments``                   ``Vangnet case <id>: <title> [<key>]``
``DateUpdated``                when the case was decided
=============================  ===========================================================

Category: a VICS ``Category`` (int 0-4) says what the material *is*, so it is written only
for a **confirmed** case whose category is in the ``vics`` profile, and not under the ``UK``
context (whose tools read ``Category`` with the CAID scale). A confirmed ``uk:A``/``B``/``C``
case (or a ``vics`` one under ``UK``) carries its category as text in ``Tags`` (e.g.
``"uk:A"``), which Vangnet's reader keeps as ``extra["tags"]``; unconfirmed and
false-positive cases carry no category at all. ``IsDistributed``, ``VictimIdentified`` and the
other flags are never written: the case document does not know them.

Vangnet's own reader (`vangnet.banks.formats.vics.read_vics`, format ``vics2``) reads this
output unchanged: every MD5, SHA-1, SHA-256 and PDQ comes back as a record of the item with
its category, so a confirmed case can be imported as a bank (``vangnet bank import``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, BinaryIO

from vangnet import __version__
from vangnet.banks.categories import Category
from vangnet.cases.document import CaseDocument
from vangnet.errors import ValidationError, VangnetError
from vangnet.reports.context_summary import context_comment
from vangnet.signals import registry
from vangnet.signals.base import FrameHashes

#: The VICS 2.0 profiles of the OData context URL, by lower-case name.
PROFILES = {"us": "US", "uk": "UK", "custom": "CUSTOM", "default": "Default"}
CONTEXT = "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/{profile}/$metadata#Cases"
SOURCE_APPLICATION = "Vangnet"

#: (case document field, VICS hash name) written in ``AlternativeHashes``.
_ALTERNATIVE_HASHES = (("sha256", "SHA256"), ("pdq", "PDQ"))
#: signal types with a field of their own in a media object (not in ``AlternativeHashes``)
_BUILT_IN = ("md5", "sha1", "sha256", "pdq")
#: signal types VICS has a media field of its own for
_VICS_FIELDS = {"photodna": "PhotoDNA"}


def _other_hashes(item: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The item's single-value hashes beyond the built-in ones, by signal type name: those of
    an installed type that is not per-frame (a video's frame lists are no VICS hash)."""
    signals = item.get("signals") or {}
    if not isinstance(signals, Mapping):
        return []
    installed = registry.signal_types()
    out = []
    for name, value in sorted(signals.items()):
        cls = installed.get(name)
        if name in _BUILT_IN or cls is None or not value or issubclass(cls, FrameHashes):
            continue
        out.append((str(name), str(value)))
    return out


def write_cases(
    cases: Iterable[CaseDocument],
    out: BinaryIO,
    *,
    profile: str = "US",
    contact_organization: str | None = None,
) -> int:
    """Write ``cases`` (case documents) to ``out`` as one VICS 2.0 ``#Cases`` JSON document.

    Returns the number of media objects written (one per item). Raises `ValidationError`
    before writing anything when a case or item is malformed (e.g. an item without a valid
    MD5, the key of a VICS media object) or ``profile`` is not US, UK, CUSTOM or Default.
    """
    context_profile = PROFILES.get(str(profile).strip().lower())
    if context_profile is None:
        known = ", ".join(PROFILES.values())
        raise ValidationError(f"unknown VICS profile {profile!r} (known: {known})")
    entries = [
        vics_case(case, profile=context_profile, contact_organization=contact_organization)
        for case in cases
    ]
    document = {"@odata.context": CONTEXT.format(profile=context_profile), "value": entries}
    out.write(json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8"))
    out.write(b"\n")
    return sum(len(entry["Media"]) for entry in entries)


def vics_case(
    case: CaseDocument, *, profile: str = "US", contact_organization: str | None = None
) -> dict[str, Any]:
    """One VICS case object (with its ``Media``) for a case document."""
    if not isinstance(case, Mapping):
        raise ValidationError(f"a case document must be an object, not {type(case).__name__}")
    case_id = _int_id(case.get("id"), "case")
    where = f"case {case_id}"
    items = case.get("items") or []
    if not isinstance(items, list) or not all(isinstance(i, Mapping) for i in items):
        raise ValidationError(f"{where}: 'items' must be a list of objects")
    category, tags = _category_fields(case, profile=profile)
    comments = f"Vangnet case {case_id}: {_text(case.get('title'))} [{_text(case.get('key'))}]"
    context = case.get("context")
    if isinstance(context, Mapping):  # the account's payment, chat and call indicators
        comments += "; " + context_comment(context)
    decided = _vics_time(case.get("decided_at"), f"{where} decided_at")
    series = _series_by_item(case)

    entry: dict[str, Any] = {"CaseID": str(case_id)}
    if case.get("case_number") not in (None, ""):
        entry["CaseNumber"] = str(case["case_number"])
    if contact_organization:
        entry["ContactOrganization"] = contact_organization
    entry["SourceApplicationName"] = SOURCE_APPLICATION
    entry["SourceApplicationVersion"] = __version__
    shared = {"Category": category, "Tags": tags, "Comments": comments, "DateUpdated": decided}
    entry["Media"] = [_media(item, case_id=case_id, shared=shared, series=series) for item in items]
    return entry


def _media(
    item: Mapping[str, Any], *, case_id: int, shared: Mapping[str, Any], series: Mapping[int, str]
) -> dict[str, Any]:
    """One media object; ``shared`` holds the case-wide fields (None = left out)."""
    item_id = _int_id(item.get("id"), f"case {case_id} item")
    where = f"case {case_id} item {item_id}"
    md5 = _hash("md5", item.get("md5"), where)
    if md5 is None:
        raise ValidationError(f"{where}: no md5 (VICS keys media by MD5)")
    sha1 = _hash("sha1", item.get("sha1"), where)
    media: dict[str, Any] = {"MediaID": item_id}
    if shared["Category"] is not None:
        media["Category"] = shared["Category"]
    media["MD5"] = md5.upper()
    if sha1 is not None:
        media["SHA1"] = sha1.upper()
    alternatives = []
    for field, hash_name in _ALTERNATIVE_HASHES:
        value = _hash(field, item.get(field), where)
        if value is not None:
            shown = value.upper() if field == "sha256" else value
            alternatives.append({"HashName": hash_name, "HashValue": shown})
    for signal_type, value in _other_hashes(item):
        if signal_type in _VICS_FIELDS:
            media[_VICS_FIELDS[signal_type]] = value
        else:
            alternatives.append({"HashName": signal_type.upper(), "HashValue": value})
    if alternatives:
        media["AlternativeHashes"] = alternatives
    size = item.get("size")
    if size is not None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise ValidationError(f"{where}: size must be a non-negative integer")
        media["MediaSize"] = size
    filename = _text(item.get("filename")) or f"item-{item_id}"
    file: dict[str, Any] = {
        "FileName": filename,
        "FilePath": f"vangnet/case-{case_id}/item-{item_id}/{filename}",
        "MD5": md5.upper(),
    }
    if sha1 is not None:
        file["SHA1"] = sha1.upper()
    if size is not None:
        file["FileSize"] = size
    created = _vics_time(item.get("captured_at"), f"{where} captured_at")
    if created is not None:
        file["Created"] = created
    media["MediaFiles"] = [file]
    if item_id in series:
        media["Series"] = series[item_id]
    for field in ("Tags", "Comments", "DateUpdated"):
        if shared[field] is not None:
            media[field] = shared[field]
    return media


def _category_fields(case: CaseDocument, *, profile: str) -> tuple[int | None, str | None]:
    """(``Category``, ``Tags``) of the case's media; see the module docstring."""
    raw = case.get("category")
    if case.get("status") != "confirmed" or raw in (None, ""):
        return None, None
    try:
        category = Category.parse(raw)
    except VangnetError as exc:
        raise ValidationError(f"case {case.get('id')}: {exc.message}") from None
    if category.profile == "vics" and profile != "UK":
        return int(category.code), None
    if category.profile == "none":
        return None, None
    return None, str(category)


def _series_by_item(case: CaseDocument) -> dict[int, str]:
    """Item id -> banked series, for items whose matches all name the same one series."""
    found: dict[int, set[str]] = {}
    unnamed: set[int] = set()
    for match in case.get("matches") or []:
        item_id = match.get("item_id") if isinstance(match, Mapping) else None
        if not isinstance(item_id, int):
            continue
        banked = match.get("banked")
        series = banked.get("series") if isinstance(banked, Mapping) else None
        if isinstance(series, str) and series:
            found.setdefault(item_id, set()).add(series)
        else:
            unnamed.add(item_id)
    return {
        item: next(iter(names))
        for item, names in found.items()
        if len(names) == 1 and item not in unnamed
    }


def _hash(kind: str, raw: object, where: str) -> str | None:
    """The canonical value of an optional hash field; `ValidationError` when malformed."""
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str):
        raise ValidationError(f"{where}: {kind} must be a string")
    try:
        return registry.get_signal_type(kind).validate(raw)
    except VangnetError as exc:
        raise ValidationError(f"{where}: {exc.message}") from None


def _int_id(raw: object, what: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise ValidationError(f"{what} id must be an integer, not {raw!r}")
    return raw


def _vics_time(raw: object, where: str) -> str | None:
    """ISO-8601 with offset -> VICS style UTC ``2026-11-29T17:40:01.123Z``."""
    if raw is None or raw == "":
        return None
    try:
        moment = datetime.fromisoformat(str(raw))
    except ValueError:
        raise ValidationError(f"{where}: not an ISO-8601 time: {raw!r}") from None
    if moment.tzinfo is None:
        raise ValidationError(f"{where}: time {raw!r} has no UTC offset")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _text(raw: object) -> str:
    return "" if raw is None else str(raw)
