"""Conformance kit for report formats: run it on your format plug-in (the built-ins run it).

Usage, in a test of your package::

    from vangnet.reports.conformance import check_report_format

    def test_my_report_conforms() -> None:
        check_report_format(MyReport)  # on the kit's sample case, or pass your own

`check_report_format` raises `AssertionError` naming the first rule broken: the registry
accepts the class (a `ReportFormat` with a name); ``name``, ``media_type``, ``extension``
and ``max_cases`` are well formed; the sample case renders to non-empty bytes; a format of
one case refuses two; something that is not a case document raises `ValidationError` (never
another exception) before any media is read; a format that does not show media
(``reads_media`` off) never calls ``read_item`` (a call is a custody-logged read of evidence),
and one that does asks only for items of the case and still renders when a read fails.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from vangnet.config import Settings
from vangnet.errors import NotFoundError, ValidationError
from vangnet.reports.formats import (
    EXTENSION_RULE,
    MEDIA_TYPE_RULE,
    NAME_RULE,
    CaseDocument,
    RenderOptions,
    ReportFormat,
    as_report_format,
)

AT = "2026-11-29T17:40:01+00:00"

#: A small case document (`vangnet.review.cases.case_document`, ``docs/case-document.md``),
#: of an upload of a drawn test picture: no real media, no real person. Every documented key
#: is present (`vangnet.cases.document.CaseDocument`).
SAMPLE_CASE: CaseDocument = {
    "id": 1,
    "key": "account:example-platform:conformance",
    "kind": "upload",
    "title": "Upload by conformance",
    "status": "confirmed",
    "category": "vics:1",
    "verdict": "illegal",
    "priority": {"score": 40, "reasons": ["bank 'demo' category vics:1 (+40)"]},
    "live": False,
    "pending_by": None,
    "pending_category": None,
    "subject": {"platform": "example-platform", "account": "conformance"},
    "created_at": AT,
    "updated_at": AT,
    "decided_at": AT,
    "items": [
        {
            "id": 3,
            "kind": "upload",
            "media_type": "image/png",
            "filename": "drawn.png",
            "size": 1234,
            "sha256": "b5b0799616df52d475a3968dc7e54f1d0724c912244ffa6175bc786375dd7298",
            "md5": "d35c785545392755e7e4164457657269",
            "sha1": "ea45d7166b30f98aac6af52f952193ce3083cb4c",
            "pdq": None,
            "signals": {
                "md5": "d35c785545392755e7e4164457657269",
                "sha1": "ea45d7166b30f98aac6af52f952193ce3083cb4c",
                "sha256": "b5b0799616df52d475a3968dc7e54f1d0724c912244ffa6175bc786375dd7298",
            },
            "captured_at": AT,
            "stream_time": None,
            "matched": True,
            "alert_id": None,
            "ip": None,
            "viewed_by": [],
        }
    ],
    "matches": [
        {
            "id": 2,
            "item_id": 3,
            "alert_id": None,
            "bank": "demo",
            "content_id": 4,
            "signal_type": "md5",
            "distance": 0,
            "category": "vics:1",
            "stream_time": None,
            "stream_time_end": None,
            "frames": None,
            "at": AT,
            "banked": {},
            "found": {},
        }
    ],
    "timeline": [
        {"at": AT, "kind": "match", "actor": "api", "summary": "md5 match", "details": {}}
    ],
    "decisions": [
        {
            "id": 1,
            "at": AT,
            "actor": "alice",
            "decision": "confirm",
            "category": "vics:1",
            "note": None,
            "details": {},
        }
    ],
    "custody": [{"item_id": 3, "at": AT, "actor": "api", "action": "captured", "detail": None}],
    "reports": [],
}


def _fail(cls: type[ReportFormat], message: str) -> AssertionError:
    return AssertionError(f"report format {getattr(cls, 'name', cls)!r}: {message}")


def check_report_format(
    cls: type[ReportFormat],
    cases: Sequence[CaseDocument] = (SAMPLE_CASE,),
    *,
    settings: Settings | None = None,
) -> None:
    """Check ``cls`` against the report-format contract, rendering ``cases`` (with
    ``settings`` in the render options, for a format that needs the deployment's)."""
    try:
        as_report_format(cls, repr(cls))
    except Exception as error:
        raise _fail(cls, f"the registry refuses it: {error}") from error
    if not NAME_RULE.fullmatch(cls.name):
        raise _fail(cls, "name must be lower-case, at most 40 characters")
    if not MEDIA_TYPE_RULE.fullmatch(cls.media_type):
        raise _fail(cls, f"media_type {cls.media_type!r} is not a media type")
    if not EXTENSION_RULE.fullmatch(cls.extension):
        raise _fail(cls, "extension must be 1-8 lower-case letters or digits, without the dot")
    if not isinstance(cls.max_cases, int) or cls.max_cases < 1:
        raise _fail(cls, "max_cases must be an integer >= 1")
    if not cases:
        raise _fail(cls, "the kit needs at least one case document")
    fmt = cls()
    ids = {item["id"] for case in cases for item in case.get("items", [])}
    asked: list[int] = []

    def read_item(item_id: int) -> bytes:
        asked.append(item_id)
        raise NotFoundError(f"item {item_id} is not held (conformance kit)")

    options = RenderOptions(
        generated_by="conformance",
        read_item=read_item,
        generated_at=datetime.now(UTC),
        settings=settings,
    )
    given = copy.deepcopy(list(cases))
    try:
        data = fmt.render(cases[: cls.max_cases], options)
    except Exception as error:
        raise _fail(cls, f"rendering the sample case failed: {error!r}") from error
    if not isinstance(data, bytes) or not data:
        raise _fail(cls, "render must return the document's bytes")
    if list(cases) != given:
        raise _fail(cls, "render changed the case documents it was given")
    if not cls.reads_media and asked:
        raise _fail(cls, "a format with reads_media off read media")
    if set(asked) - ids:
        raise _fail(cls, f"read_item was asked for items not in the case: {set(asked) - ids}")

    if cls.max_cases == 1 and len(cases) == 1:
        try:
            fmt.render([cases[0], cases[0]], options)
        except ValidationError:
            pass
        else:
            raise _fail(cls, "a format of one case must refuse two (ValidationError)")

    malformed: tuple[Any, ...] = ([], "not a case", {"id": 1, "items": "not a list"})
    for bad in malformed:
        asked.clear()
        try:
            fmt.render([bad], options)
        except ValidationError:
            if asked:
                raise _fail(cls, "media was read for a malformed case document") from None
            continue
        except Exception as error:
            raise _fail(cls, f"{bad!r} raised {error!r}, not ValidationError") from error
        raise _fail(cls, f"{bad!r} rendered, but it is not a case document")
