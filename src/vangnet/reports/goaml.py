"""Suspicious-transaction reports for financial institutions: the ``str`` report format (UNODC
goAML XML, the reporting schema of FIU-NL, the Philippine AMLC and most FIUs) and
``str_csv`` (the same transactions as CSV), from a context case's document.

A goAML ``report`` names the reporting entity (``rentity_id``, given by the FIU), the
submission (``submission_code`` E: electronic, ``report_code`` STR), our reference
(``entity_reference``: the case), the ``reporting_person``, the ``reason`` (the case's
context reasons, each summary in words) and ``action``, then one ``transaction`` per payment
behind the reasons (``t_from`` / ``t_to``: the sender's and beneficiary's accounts and
countries, as far as the records know them) and ``report_indicators``: the FIU's own codes,
which every FIU publishes for itself, so our indicator names map to them by configuration
(``report_str_indicator_codes``), never by code. The deployment's settings say who reports
(``report_str_*``); a case without context payments, or a deployment without a reporting
entity, is refused with a clear error and nothing is filed.

Payments in another currency than the local one (``report_str_currency_local``) are written
with their foreign amount only when the record carries ``details.amount_local`` (what the
institution booked); otherwise they stay out of the XML and the reason says how many (the
CSV lists every payment). Times are UTC, written without offset as goAML's dateTime expects.
"""

from __future__ import annotations

import csv
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from vangnet.cases.document import CaseDocument, ContextRowDoc
from vangnet.config import Settings
from vangnet.errors import ValidationError
from vangnet.reports.formats import RenderOptions, ReportFormat

_MAX_TEXT = 4000
_PERSON_KEYS = ("title", "first_name", "last_name", "email", "phone", "occupation")
#: Characters XML 1.0 does not allow (ElementTree writes them anyway: the file would not parse).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(parent: ET.Element, tag: str, value: object) -> ET.Element:
    child = ET.SubElement(parent, tag)
    child.text = _NOT_XML.sub("", str(value))[:_MAX_TEXT]
    return child


def _payments(case: CaseDocument) -> list[ContextRowDoc]:
    """The stored payments behind ``case``'s reasons (`ValidationError` for a document that
    is not a context case's, or one without payments)."""
    if not isinstance(case, Mapping) or not isinstance(case.get("id"), int):
        raise ValidationError("an STR is made from a case document (an object with an id)")
    context = case.get("context")
    if context is None:
        raise ValidationError(f"case {case['id']} has no context signals: no STR to make")
    rows = context.get("rows") if isinstance(context, Mapping) else None
    reasons = context.get("reasons") if isinstance(context, Mapping) else None
    if (
        not isinstance(rows, list)
        or not isinstance(reasons, list)
        or not all(isinstance(r, Mapping) and isinstance(r.get("record"), Mapping) for r in rows)
        or not all(isinstance(r, Mapping) for r in reasons)
    ):
        raise ValidationError(f"case {case['id']}: its context is not a context document")
    found = [r for r in rows if r.get("kind") == "payments" and r.get("found")]
    if not found:
        raise ValidationError(
            f"case {case['id']} has no stored payments behind its reasons: no STR to make"
        )
    return found


def _amount(raw: object, ref: str) -> Decimal:
    try:
        value = Decimal(str(raw))
    except (InvalidOperation, ValueError):
        value = Decimal("NaN")
    if not value.is_finite() or value <= 0:
        raise ValidationError(f"payment {ref[:80]!r}: amount {raw!r:.40} is not a positive decimal")
    return value


def _utc(raw: str | None) -> str:
    if not raw:
        return ""
    return datetime.fromisoformat(raw).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _party(
    parent: ET.Element,
    side: str,
    record: Mapping[str, Any],
    *,
    funds: str,
    local: str,
) -> None:
    who = "sender" if side == "from" else "beneficiary"
    _text(parent, f"{side}_funds_code", funds)
    if record.get("currency") != local:
        foreign = ET.SubElement(parent, f"{side}_foreign_currency")
        _text(foreign, "foreign_currency_code", record.get("currency") or "")
        _text(foreign, "foreign_amount", record.get("amount") or "")
    account = ET.SubElement(parent, f"{side}_account")
    details = record.get("details") or {}
    _text(account, "institution_name", details.get(f"{who}_institution") or "unknown")
    _text(account, "account", record.get(who) or "")
    _text(account, "currency_code", record.get("currency") or "")
    country = record.get(f"{who}_country")
    if country:
        _text(parent, f"{side}_country", country)


def goaml_str(case: CaseDocument, *, settings: Settings, generated_at: datetime) -> bytes:
    """The goAML STR XML of ``case`` (a context case with payments)."""
    payments = _payments(case)
    context = case["context"]
    if not settings.report_str_rentity_id:
        raise ValidationError(
            "set report_str_rentity_id (the reporting entity's id at the FIU) first"
        )
    person = settings.report_str_reporting_person
    if not person.get("first_name") or not person.get("last_name"):
        raise ValidationError(
            "set report_str_reporting_person with first_name and last_name (goAML requires them)"
        )
    local = settings.report_str_currency_local
    root = ET.Element("report")
    _text(root, "rentity_id", settings.report_str_rentity_id)
    if settings.report_str_rentity_branch:
        _text(root, "rentity_branch", settings.report_str_rentity_branch)
    _text(root, "submission_code", "E")
    _text(root, "report_code", "STR")
    _text(root, "entity_reference", f"vangnet-case-{case['id']}")
    _text(root, "submission_date", generated_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    _text(root, "currency_code_local", local)
    reporter = ET.SubElement(root, "reporting_person")
    for key in _PERSON_KEYS:
        if person.get(key):
            _text(reporter, key, person[key])
    written: list[tuple[ContextRowDoc, Decimal]] = []
    skipped = 0
    for row in payments:
        rec = row["record"]
        if rec.get("currency") == local:
            written.append((row, _amount(rec.get("amount"), row["ref"])))
        elif (rec.get("details") or {}).get("amount_local") is not None:
            written.append((row, _amount(rec["details"]["amount_local"], row["ref"])))
        else:
            skipped += 1
    lines = [
        f"Account {context['account']} (risk {context['score']:.2f}, looks like a "
        f"{context['role']}) was flagged for review by payment, chat and call indicators:"
    ]
    lines += [f"- {r['indicator']}: {r['summary']}" for r in context["reasons"]]
    if skipped:
        lines.append(
            f"{skipped} payments in other currencies than {local} without a booked local amount "
            "are not listed as transactions (see the CSV export)."
        )
    lines.append("Indicators are grounds for suspicion, not proof; a person reviewed the case.")
    _text(root, "reason", "\n".join(lines))
    _text(root, "action", settings.report_str_action)
    for row, amount_local in written:
        rec = row["record"]
        tx = ET.SubElement(root, "transaction")
        _text(tx, "transactionnumber", row["ref"])
        _text(tx, "internal_ref_number", f"vangnet-case-{case['id']}")
        _text(tx, "transaction_location", rec.get("sender_country") or "unknown")
        if rec.get("narrative"):
            _text(tx, "transaction_description", rec["narrative"])
        _text(tx, "date_transaction", _utc(rec.get("at")))
        channel = str(rec.get("channel") or "other")
        _text(tx, "transmode_code", settings.report_str_transmode_codes.get(channel, channel))
        _text(tx, "amount_local", f"{amount_local:.2f}")
        funds = settings.report_str_funds_codes.get(channel, "K")
        _party(ET.SubElement(tx, "t_from"), "from", rec, funds=funds, local=local)
        _party(ET.SubElement(tx, "t_to"), "to", rec, funds=funds, local=local)
        _text(tx, "comments", "Vangnet indicators: " + ", ".join(row["indicators"]))
    codes = settings.report_str_indicator_codes
    mapped = list(dict.fromkeys(codes[i] for i in context["indicators"] if i in codes))
    if not mapped and settings.report_str_default_indicator:
        mapped = [settings.report_str_default_indicator]
    if mapped:
        indicators = ET.SubElement(root, "report_indicators")
        for code in mapped:
            _text(indicators, "indicator", code)
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data


def _cell(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


CSV_COLUMNS = (
    "case",
    "transactionnumber",
    "date_utc",
    "sender",
    "sender_country",
    "beneficiary",
    "beneficiary_country",
    "amount",
    "currency",
    "channel",
    "narrative",
    "indicators",
)


def str_csv(case: CaseDocument) -> bytes:
    """Every payment behind ``case``'s reasons, one CSV row each."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in _payments(case):
        rec = row["record"]
        writer.writerow(
            [
                _cell(v)
                for v in (
                    case["id"],
                    row["ref"],
                    _utc(rec.get("at")),
                    rec.get("sender"),
                    rec.get("sender_country"),
                    rec.get("beneficiary"),
                    rec.get("beneficiary_country"),
                    rec.get("amount"),
                    rec.get("currency"),
                    rec.get("channel"),
                    rec.get("narrative"),
                    ";".join(row["indicators"]),
                )
            ]
        )
    return out.getvalue().encode("utf-8")


def _one(fmt: ReportFormat, cases: Sequence[CaseDocument]) -> CaseDocument:
    if len(cases) != 1:
        raise ValidationError(f"a {fmt.name} report is of one case, not {len(cases)}")
    return cases[0]


class StrReport(ReportFormat):
    """goAML STR XML of a context case (the deployment's ``report_str_*`` settings, from
    `RenderOptions.settings`)."""

    name: ClassVar[str] = "str"
    description: ClassVar[str] = (
        "Suspicious-transaction report (goAML XML) of a context case's payments"
    )
    media_type: ClassVar[str] = "application/xml"
    extension: ClassVar[str] = "xml"

    def render(self, cases: Sequence[CaseDocument], options: RenderOptions) -> bytes:
        if options.settings is None:
            raise ValidationError("an STR is made with the deployment's settings: none given")
        return goaml_str(
            _one(self, cases),
            settings=options.settings,
            generated_at=options.generated_at or datetime.now(UTC),
        )


class StrCsvReport(ReportFormat):
    """The payments of a context case as CSV (what an analyst or a non-goAML FIU reads)."""

    name: ClassVar[str] = "str_csv"
    description: ClassVar[str] = "The payments behind a context case's reasons, as CSV"
    media_type: ClassVar[str] = "text/csv; charset=utf-8"
    extension: ClassVar[str] = "csv"

    def render(self, cases: Sequence[CaseDocument], options: RenderOptions) -> bytes:
        return str_csv(_one(self, cases))
