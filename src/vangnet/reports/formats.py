"""Report formats: documents rendered from case documents, as plug-ins.

A `ReportFormat` turns one or more case documents (`vangnet.review.cases.case_document`) into
the bytes of one document; it never touches the database, and the media it shows come from
the caller's audited ``read_item``. Formats register by a unique name under the entry-point
group ``vangnet.report_formats``; the built-ins do too (``pyproject.toml``):

- ``html``, ``pdf``: the case report for prosecutors (`vangnet.reports.document`), one case.
- ``vics``: the Project VIC VICS 2.0 ``#Cases`` export (`vangnet.reports.vics_cases`).

The report flow (`vangnet.reports.service`) renders through this registry and records what
happened (report row, timeline, audit, custody). The NCMEC CyberTipline report is not a
format: it is a workflow (confirmation, the reporting person, schema validation, submission)
and stays in `vangnet.reports.ncmec`. Conformance kit: `vangnet.reports.conformance`.
"""

from __future__ import annotations

import io
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from vangnet.cases.document import CaseDocument as CaseDocument  # the plain, JSON-able dict
from vangnet.config import Settings
from vangnet.errors import NotFoundError, ValidationError
from vangnet.plugins import PluginError, Registry, subclass_check
from vangnet.reports import document, vics_cases
from vangnet.reports.document import ReadItem

GROUP = "vangnet.report_formats"
#: A format's name: it is the ``kind`` of the reports it files (64 characters in the table)
#: and part of the audit actions ``report.format.NAME[.failed]`` (64 characters): at most 40.
NAME_RULE = re.compile(r"[a-z][a-z0-9_-]{0,39}")
#: A format's ``media_type`` (sent as the HTTP Content-Type) and ``extension`` (file names).
MEDIA_TYPE_RULE = re.compile(r"[a-z]+/[a-z0-9.+-]+(; ?charset=[a-z0-9-]+)?")
EXTENSION_RULE = re.compile(r"[a-z0-9]{1,8}")
#: Names that are not formats: ``ncmec`` is the CyberTipline workflow, ``view`` (audit
#: ``report.view``) is opening a report page.
RESERVED = frozenset({"ncmec", "view"})
#: The formats that ship with Vangnet; they keep their audit actions ``report.NAME``.
BUILT_IN = frozenset({"html", "pdf", "vics"})
#: Where a plug-in format's audit actions live: ``report.format.NAME`` (and ``.failed``), so
#: they never mix with the built-ins' or each other's under ``audit list --action``'s prefix.
PLUG_IN_ACTIONS = "report.format."


def audit_action(name: str) -> str:
    """The audit action of a report filed with the format ``name``: ``report.html``,
    ``report.pdf`` and ``report.vics`` for the built-ins, ``report.format.NAME`` otherwise."""
    return f"report.{name}" if name in BUILT_IN else f"{PLUG_IN_ACTIONS}{name}"


class UnknownReportFormatError(NotFoundError):
    """No report format of that name is installed (nothing is rendered or recorded)."""

    code = "unknown_report_format"


@dataclass(frozen=True)
class RenderOptions:
    """What a report is rendered with besides the cases."""

    generated_by: str  # the user or process making the report (shown in documents)
    #: item id -> media (for a plug-in: the blurred preview, the original only with
    #: include_clear); each read is logged in the item's custody and the report's audit entry
    read_item: ReadItem | None = None
    include_clear: bool = False  # clear previews instead of blurred greyscale ones
    generated_at: datetime | None = None  # timezone-aware; now when None
    profile: str = "US"  # the VICS profile (US, UK, CUSTOM, Default)
    #: the deployment's settings, for formats that need them (the STR's reporting entity);
    #: None when the caller gave none (such a format then refuses)
    settings: Settings | None = None


class ReportFormat(ABC):
    """One kind of report document. Subclasses set the class variables and `render`."""

    name: ClassVar[str]  # unique, lower-case: the registry name
    description: ClassVar[str]
    media_type: ClassVar[str]  # HTTP Content-Type of the document
    extension: ClassVar[str]  # file name extension, without the dot
    #: At most this many cases in one document (1: a per-case report).
    max_cases: ClassVar[int] = 1
    #: Whether it shows media (previews): the caller passes ``read_item`` and records reads.
    reads_media: ClassVar[bool] = False

    @abstractmethod
    def render(self, cases: Sequence[CaseDocument], options: RenderOptions) -> bytes:
        """The document of ``cases`` (1 to `max_cases`). A malformed case document raises
        `ValidationError`; a ``read_item`` that fails gives a document without that preview."""


def _case_report(fmt: ReportFormat, cases: Sequence[CaseDocument], options: RenderOptions) -> Any:
    """The arguments of `document.render_html` / `render_pdf` for the one case."""
    if len(cases) != 1:
        raise ValidationError(f"a {fmt.name} report is of one case, not {len(cases)}")
    return {
        "case": cases[0],
        "read_item": options.read_item,
        "include_clear": options.include_clear,
        "generated_by": options.generated_by,
        "generated_at": options.generated_at,
    }


class HtmlReport(ReportFormat):
    name = "html"
    description = "Case report for prosecutors: one self-contained HTML file"
    media_type = "text/html; charset=utf-8"
    extension = "html"
    reads_media = True

    def render(self, cases: Sequence[CaseDocument], options: RenderOptions) -> bytes:
        return document.render_html(**_case_report(self, cases, options)).encode("utf-8")


class PdfReport(ReportFormat):
    name = "pdf"
    description = "The case report laid out as a PDF (A4), offline"
    media_type = "application/pdf"
    extension = "pdf"
    reads_media = True

    def render(self, cases: Sequence[CaseDocument], options: RenderOptions) -> bytes:
        return document.render_pdf(**_case_report(self, cases, options))


class VicsReport(ReportFormat):
    name = "vics"
    description = "Project VIC VICS 2.0 #Cases export: hashes and metadata, no media"
    media_type = "application/json"
    extension = "json"
    max_cases = 1000

    def render(self, cases: Sequence[CaseDocument], options: RenderOptions) -> bytes:
        out = io.BytesIO()
        vics_cases.write_cases(cases, out, profile=options.profile)
        return out.getvalue()


_subclass: Callable[[object, str], type[ReportFormat]] = subclass_check(ReportFormat)


def as_report_format(obj: object, label: str) -> type[ReportFormat]:
    """``obj`` as a report format class, or `PluginError` saying why it is not one: a
    `ReportFormat` subclass whose name follows `NAME_RULE` and is not reserved."""
    cls = _subclass(obj, label)
    if not NAME_RULE.fullmatch(cls.name):
        raise PluginError(
            f"{label}: report format name {cls.name[:80]!r} must be lower-case letters, digits, "
            "'-' or '_', starting with a letter, at most 40 characters"
        )
    if cls.name in RESERVED:
        raise PluginError(f"{label}: {cls.name!r} is reserved, not a format name")
    max_cases = getattr(cls, "max_cases", None)
    if isinstance(max_cases, bool) or not isinstance(max_cases, int) or max_cases < 1:
        raise PluginError(f"{label}: max_cases must be a positive integer, not {max_cases!r:.40}")
    if not isinstance(getattr(cls, "reads_media", None), bool):
        raise PluginError(f"{label}: reads_media must be True or False")
    if not isinstance(getattr(cls, "description", None), str):
        raise PluginError(f"{label}: description must be a string")
    media_type, extension = getattr(cls, "media_type", None), getattr(cls, "extension", None)
    if not isinstance(media_type, str) or not MEDIA_TYPE_RULE.fullmatch(media_type):
        raise PluginError(f"{label}: media_type {str(media_type)[:80]!r} is not a media type")
    if not isinstance(extension, str) or not EXTENSION_RULE.fullmatch(extension):
        raise PluginError(
            f"{label}: extension must be 1-8 lower-case letters or digits, without the dot"
        )
    return cls


REGISTRY: Registry[type[ReportFormat]] = Registry(
    GROUP, what="report format", check=as_report_format
)


def report_formats() -> dict[str, type[ReportFormat]]:
    """Every installed report format by name (those that loaded)."""
    return REGISTRY.loaded()


def failed_report_formats() -> dict[str, str]:
    """Report-format plug-ins that failed to load: entry-point name -> why."""
    return REGISTRY.failed()


def get_report_format(name: str) -> ReportFormat:
    """An instance of the format called ``name`` (`UnknownReportFormatError` when none is;
    `PluginError` when it is installed but failed to load)."""
    try:
        return REGISTRY.get(name)()
    except UnknownReportFormatError:
        raise
    except NotFoundError as error:
        raise UnknownReportFormatError(error.message) from None


def register_report_format(cls: type[ReportFormat]) -> type[ReportFormat]:
    """Register a format at run time, as an entry point would; its name must be new."""
    return REGISTRY.register(cls)


def unregister_report_format(name: str) -> None:
    """Undo `register_report_format` (entry-point formats stay)."""
    REGISTRY.unregister(name)
