"""Report formats are plug-ins (entry-point group ``vangnet.report_formats``): the built-in
HTML, PDF and VICS formats register there and pass the conformance kit, and the kit catches
a format that reads media it does not show."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from importlib.metadata import entry_points
from typing import cast

import pytest

from vangnet.config import Settings
from vangnet.reports import formats as registry
from vangnet.reports.conformance import SAMPLE_CASE, check_report_format
from vangnet.reports.formats import (
    CaseDocument,
    RenderOptions,
    ReportFormat,
    get_report_format,
    register_report_format,
    report_formats,
    unregister_report_format,
)


@pytest.mark.parametrize("name", ["html", "pdf", "vics"])
def test_built_ins_conform(name: str) -> None:
    check_report_format(report_formats()[name])


@pytest.mark.parametrize("name", ["str", "str_csv"])
def test_the_str_formats_conform_on_a_context_case(name: str) -> None:
    payment = {
        "ref": "P-1",
        "at": "2026-11-01T10:00:00+00:00",
        "sender": "a",
        "beneficiary": "b",
        "amount": "25.00",
        "currency": "EUR",
        "channel": "remittance",
        "sender_country": "NL",
        "beneficiary_country": "PH",
        "narrative": "",
        "details": {},
    }
    context = {
        "account": "a",
        "platform": None,
        "score": 0.9,
        "role": "viewer",
        "indicators": ["x"],
        "assessment": None,
        "scored_at": None,
        "reasons": [
            {"indicator": "x", "summary": "s", "weight": 0.9, "role": "viewer", "at": None}
        ],
        "rows": [
            {
                "kind": "payments",
                "ref": "P-1",
                "indicators": ["x"],
                "at": payment["at"],
                "found": True,
                "record": payment,
            }
        ],
    }
    settings = Settings(
        report_str_rentity_id="1",
        report_str_reporting_person={"first_name": "A", "last_name": "B"},
    )
    case = cast(CaseDocument, {**SAMPLE_CASE, "context": context})
    check_report_format(report_formats()[name], [case], settings=settings)
    with pytest.raises(AssertionError, match="no context signals"):
        check_report_format(report_formats()[name], settings=settings)  # a media-only case


def test_built_ins_register_through_entry_points() -> None:
    assert {ep.name for ep in entry_points(group=registry.GROUP)} == {
        "html",
        "pdf",
        "vics",
        "str",
        "str_csv",
    }
    assert get_report_format("vics").media_type == "application/json"


class CsvSummary(ReportFormat):
    """One line per item: case id, item id, MD5 (a test plug-in)."""

    name = "testcsv"
    description = "Item summary as CSV (test plug-in)"
    media_type = "text/csv; charset=utf-8"
    extension = "csv"
    max_cases = 100

    def render(self, cases: Sequence[CaseDocument], options: RenderOptions) -> bytes:
        from vangnet.errors import ValidationError

        lines = ["case,item,md5"]
        for case in cases:
            if not isinstance(case, dict) or not isinstance(case.get("items", []), list):
                raise ValidationError("not a case document")
            lines += [f"{case.get('id')},{i.get('id')},{i.get('md5', '')}" for i in case["items"]]
        return ("\n".join(lines) + "\n").encode()


@pytest.fixture
def csv_format() -> Iterator[type[CsvSummary]]:
    register_report_format(CsvSummary)
    yield CsvSummary
    unregister_report_format(CsvSummary.name)


def test_a_plug_in_format_conforms(csv_format: type[CsvSummary]) -> None:
    check_report_format(csv_format)
    data = get_report_format("testcsv").render([SAMPLE_CASE], RenderOptions(generated_by="t"))
    assert data.decode().splitlines()[1] == "1,3,d35c785545392755e7e4164457657269"


def test_a_format_that_reads_media_it_does_not_show_fails() -> None:
    class Peeking(CsvSummary):
        name = "testpeek"

        def render(self, cases: Sequence[CaseDocument], options: RenderOptions) -> bytes:
            if options.read_item is not None:
                with contextlib.suppress(Exception):
                    options.read_item(3)
            return super().render(cases, options)

    with pytest.raises(AssertionError, match="reads_media off read media"):
        check_report_format(Peeking)
