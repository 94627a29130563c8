"""Case report for prosecutors and police: one self-contained HTML file, or a PDF of it.

Input is the case document (`vangnet.review.cases.case_document`: a plain JSON-able dict, see
``docs/case-document.md``); this module never touches the database. Item bytes
come from ``read_item`` (item id -> decrypted bytes, audited by the caller) and are shown only
as wellness previews (`vangnet.evidence.previews`): blurred and greyscale, or -- when the
person generating the report asks for it -- clear thumbnails with a visible note saying who
asked; the regions of an item that matched (``matches[].found.region``) are outlined on it,
and the matches table says how each match was found. An item that cannot be read or decoded
shows "preview unavailable"; the report is still produced.

The HTML comes from ``templates/case_report.html`` (Jinja2, autoescaping on: every string of
the case document is text, never markup) with ``case_report.css`` inlined and previews as
``data:`` URIs, so the file opens anywhere without network access. `render_pdf` lays the same
HTML out with WeasyPrint behind a URL fetcher that refuses everything but ``data:`` URIs.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import jinja2

from vangnet.banks.categories import Category, get_profile
from vangnet.cases.document import CaseDocument
from vangnet.cases.found import describe, region_of
from vangnet.errors import ValidationError, VangnetError
from vangnet.evidence.previews import Region, preview
from vangnet.reports.context_summary import context_lines

log = logging.getLogger(__name__)

#: Item id -> decrypted bytes of the preserved media (the caller audits each call).
ReadItem = Callable[[int], bytes]

#: Longest side of the previews embedded in a report.
REPORT_PREVIEW_SIDE = 320

#: Human labels for the subject fields the platform reports (others are shown as they come).
SUBJECT_LABELS = {
    "platform": "Platform",
    "account": "Account",
    "uploader": "Uploader",
    "content_id": "Content id",
    "ip": "IP address",
    "email": "E-mail",
    "stream_id": "Stream (Vangnet id)",
    "stream_external_id": "Stream id",
    "stream_url_display": "Stream URL",
    "viewers": "Viewers",
    "live": "Stream still live",
}


@dataclass(frozen=True)
class ItemPreview:
    """What the report shows for one item: a JPEG data URI, or why there is none."""

    data_uri: str | None
    clear: bool
    reason: str | None = None
    outlined: bool = False  # the regions of it that matched are outlined


def render_html(
    case: CaseDocument,
    *,
    read_item: ReadItem | None,
    include_clear: bool = False,
    generated_by: str,
    generated_at: datetime | None = None,
) -> str:
    """The case report as one self-contained HTML document.

    Previews are blurred greyscale unless ``include_clear``, which embeds clear thumbnails
    and states that ``generated_by`` asked for them. Raises `ValidationError` when ``case``
    is not a case document.
    """
    if not isinstance(case, Mapping):
        raise ValidationError(f"a case document must be an object, not {type(case).__name__}")
    if not isinstance(generated_by, str) or not generated_by.strip():
        raise ValidationError("generated_by must name the user or process making the report")
    when = generated_at or datetime.now(UTC)
    if when.tzinfo is None:
        raise ValidationError("generated_at must be timezone-aware")
    # validate the whole document before any item is read (each read is audited)
    rows = {
        key: _rows(case, key) for key in ("matches", "timeline", "decisions", "custody", "reports")
    }
    subject = _subject(case.get("subject"))
    items = _rows(case, "items")
    category = _category(case.get("category"))
    raw_priority = case.get("priority")
    priority: Mapping[str, Any] = raw_priority if isinstance(raw_priority, Mapping) else {}
    context = {
        "case": case,
        "case_id": case.get("id"),
        "category": category,
        "category_profile": get_profile(category.profile).title if category else None,
        "priority": priority,
        "subject": subject,
        "items": [
            (
                item,
                _preview(
                    item,
                    read_item=read_item,
                    clear=include_clear,
                    outline=_regions(rows["matches"], item.get("id")),
                ),
            )
            for item in items
        ],
        "found_text": [_found_text(m) for m in rows["matches"]],
        "context_lines": [line.removeprefix("- ") for line in context_lines(_context(case))],
        "context_rows": _context(case).get("rows") or [],
        **rows,
        "include_clear": include_clear,
        "generated_by": generated_by,
        "generated_at": _when(when),
    }
    return _environment().get_template("case_report.html").render(context)


def _context(case: Mapping[str, Any]) -> Mapping[str, Any]:
    """The case's context signals (``{}`` when none, or not an object)."""
    raw = case.get("context")
    return raw if isinstance(raw, Mapping) else {}


def render_pdf(
    case: CaseDocument,
    *,
    read_item: ReadItem | None,
    include_clear: bool = False,
    generated_by: str,
    generated_at: datetime | None = None,
) -> bytes:
    """The same report as `render_html`, laid out as a PDF (A4) with WeasyPrint, offline."""
    html = render_html(
        case,
        read_item=read_item,
        include_clear=include_clear,
        generated_by=generated_by,
        generated_at=generated_at,
    )
    weasyprint = _import_weasyprint()
    fetcher = _data_only_fetcher()
    pdf = weasyprint.HTML(string=html, base_url=None, url_fetcher=fetcher).write_pdf()
    assert isinstance(pdf, bytes)  # write_pdf without a target returns the bytes
    return pdf


# --- template environment -----------------------------------------------------------------


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("vangnet.reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["category"] = _category_text
    env.filters["seconds"] = _seconds
    env.filters["text"] = _text
    return env


def _import_weasyprint() -> Any:
    """The `weasyprint` module (heavy: imported only when a PDF is wanted), minus a side effect.

    Importing WeasyPrint sets Pillow's process-wide ``ImageFile.LOAD_TRUNCATED_IMAGES`` to
    True, which would make `vangnet.media.image` accept truncated images everywhere in the
    process afterwards. The flag is put back; WeasyPrint only ever sees our complete JPEGs.
    """
    from PIL import ImageFile

    before = ImageFile.LOAD_TRUNCATED_IMAGES
    try:
        import weasyprint
        import weasyprint.images  # the module that sets the flag
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = before
    return weasyprint


def _data_only_fetcher() -> Any:
    """A WeasyPrint URL fetcher that serves ``data:`` URIs and refuses every other URL."""
    _import_weasyprint()
    from weasyprint.urls import URLFetcher

    class DataOnlyFetcher(URLFetcher):  # type: ignore[misc]  # untyped third-party base
        def fetch(self, url: str, headers: Any = None) -> Any:
            if not url.lower().startswith("data:"):
                raise ValueError(f"the case report fetches nothing but data: URIs, not {url!r}")
            return super().fetch(url, headers)

    return DataOnlyFetcher(allowed_protocols=("data",), allow_redirects=False)


# --- view helpers ------------------------------------------------------------------------


def _rows(case: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    raw = case.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(row, Mapping) for row in raw):
        raise ValidationError(f"case document field {key!r} must be a list of objects")
    return raw


def _subject(raw: object) -> list[tuple[str, str]]:
    if raw is None:
        return []
    if not isinstance(raw, Mapping):
        raise ValidationError("case document field 'subject' must be an object")
    known = [(SUBJECT_LABELS[k], raw[k]) for k in SUBJECT_LABELS if raw.get(k) is not None]
    others = [(str(k), v) for k, v in sorted(raw.items(), key=lambda kv: str(kv[0]))]
    others = [(k, v) for k, v in others if k not in SUBJECT_LABELS and v is not None]
    return [(label, _text(value)) for label, value in (*known, *others)]


def _category(raw: object) -> Category | None:
    if not isinstance(raw, str) or not raw:
        return None
    try:
        return Category.parse(raw)
    except VangnetError:
        return None


def _category_text(raw: object) -> str:
    """``vics:1`` -> ``vics:1 -- Child abuse material``; unknown text is shown as given."""
    if raw is None or raw == "":
        return "—"
    category = _category(raw)
    if category is None:
        return f"{_text(raw)} (unknown category)"
    return f"{category} — {category.label}"


def _when(raw: object) -> str:
    """An ISO-8601 time as ``2026-11-29 17:40:01.123 UTC``; anything else as text."""
    if raw is None or raw == "":
        return "—"
    if isinstance(raw, datetime):
        moment = raw
    else:
        try:
            moment = datetime.fromisoformat(str(raw))
        except ValueError:
            return _text(raw)
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M:%S") + " (no time zone)"
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond // 1000:03d}"
    return text + " UTC"


def _seconds(raw: object) -> str:
    """Stream time in seconds as ``0:00:12.400``."""
    if raw is None or raw == "" or isinstance(raw, bool):
        return "—"
    try:
        total = float(str(raw))
    except ValueError:
        return _text(raw)
    if total != total or total in (float("inf"), float("-inf")):  # NaN / infinite
        return _text(raw)
    sign = "-" if total < 0 else ""
    millis = round(abs(total) * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{sign}{hours}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def _text(raw: object) -> str:
    """Any JSON value as display text (objects as sorted JSON); autoescaping does the rest."""
    if raw is None:
        return "—"
    if isinstance(raw, bool):
        return "yes" if raw else "no"
    if isinstance(raw, str | int | float):
        return str(raw)
    try:
        return json.dumps(raw, sort_keys=True, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        return repr(raw)


def _found(match: Mapping[str, Any]) -> Mapping[str, Any]:
    found = match.get("found")
    return found if isinstance(found, Mapping) else {}


def _found_text(match: Mapping[str, Any]) -> str:
    """How a match was found, in words; "" for the whole picture as given (or a document
    made before matches said how)."""
    found = _found(match)
    return describe(found) if found else ""


def _regions(matches: list[Mapping[str, Any]], item_id: object) -> list[Region]:
    """The regions of item ``item_id`` that matched (outlined on its preview)."""
    out: list[Region] = []
    for m in matches:
        region = region_of(_found(m)) if m.get("item_id") == item_id else None
        if region is not None and region not in out:
            out.append(region)
    return out


def _preview(
    item: Mapping[str, Any],
    *,
    read_item: ReadItem | None,
    clear: bool,
    outline: list[Region] | None = None,
) -> ItemPreview:
    item_id = item.get("id")
    if read_item is None:
        return ItemPreview(None, clear, "media not supplied to the report")
    if isinstance(item_id, bool) or not isinstance(item_id, int):
        return ItemPreview(None, clear, "item has no id")
    try:
        data = read_item(item_id)
    except Exception:  # any failure of the caller's reader must not stop the report
        log.warning("case report: item %s could not be read", item_id, exc_info=True)
        return ItemPreview(None, clear, "media could not be read")
    try:
        if clear:
            jpeg = preview(
                data, blur=0, greyscale=False, max_side=REPORT_PREVIEW_SIDE, outline=outline or ()
            )
        else:
            jpeg = preview(data, max_side=REPORT_PREVIEW_SIDE, outline=outline or ())
    except VangnetError as exc:
        log.warning("case report: no preview of item %s: %s", item_id, exc.message)
        return ItemPreview(None, clear, "media could not be decoded")
    uri = "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")
    return ItemPreview(uri, clear, outlined=bool(outline))
