"""`vangnet report ncmec|vics|html|pdf|render|formats`: reports of cases, each recorded and
audited. ``render FORMAT`` files a report of any format in the registry (plug-ins too).

Output goes to stdout, or with ``--out`` to a file written beside and renamed into place
(a failure leaves no partial file); the report is recorded only when its output was made.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from vangnet.cli.audit_cmd import AsOption, actor_of, write_atomically
from vangnet.cli.context import open_engine, session
from vangnet.cli.output import console, err_console, print_json, table, user_errors
from vangnet.config import get_settings
from vangnet.errors import ExitCode
from vangnet.review.priority import PriorityWeights

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

report_app = typer.Typer(
    help="Reports: NCMEC CyberTipline, Project VIC VICS, HTML/PDF case report, plug-in formats.",
    no_args_is_help=True,
)

OutOption = typer.Option(None, "--out", "-o", help="File to write (default stdout).")


def _deliver(s: Session, data: bytes, out: Path | None) -> None:
    """Write ``data`` and commit what recorded it: the file is complete before the record is
    committed, and renamed into place only after (a failed commit leaves no file)."""
    if out is None:
        s.commit()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    write_atomically(out, lambda f: f.write(data), before_rename=s.commit)


@report_app.command("ncmec")
def report_ncmec(
    case: str = typer.Argument(..., help="Case id or key (a confirmed case)."),
    out: Path | None = OutOption,
    submit: bool = typer.Option(
        False, "--submit", help="Send it to NCMEC (VANGNET_NCMEC_URL), after confirmation."
    ),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="With --submit: I confirm the submission (do not ask)."
    ),
    actor: AsOption = None,
    as_json: bool = typer.Option(False, "--json", help="With --submit: the outcome as JSON."),
) -> None:
    """Build the CyberTipline report XML of a confirmed case (validated); with --submit, send
    it with the case's media after a person confirms.

    Example: vangnet report ncmec 12 --out case12.xml
    Example: vangnet report ncmec 12 --submit
    """
    from vangnet.reports import service as reporting
    from vangnet.review import cases

    if not submit:
        with user_errors():
            who = actor_of(actor)
            with session() as s:
                case_id = cases.resolve_case(s, case).id
                _, xml = reporting.build_ncmec(s, case_id, actor=who, settings=get_settings())
                _deliver(s, xml, out)
        if out is not None:
            err_console.print(f"NCMEC report XML of case {case_id} written to {out}")
        return

    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from vangnet.reports.ncmec import CaseNotConfirmedError
    from vangnet.store.models import Report
    from vangnet.store.vault import Vault

    with user_errors(as_json=as_json):
        who = actor_of(actor)
        reporting.check_submission(get_settings())
        with session() as s:
            found = cases.resolve_case(s, case)
            case_id, status = found.id, found.status
        if status != "confirmed":
            raise CaseNotConfirmedError(
                f"case {case_id} is {status.replace('_', ' ')}: only confirmed cases are "
                "reported to NCMEC"
            )
        if not yes and not typer.confirm(f"Submit case {case_id} to NCMEC?", default=False):
            err_console.print("Not submitted: nothing was sent.")
            raise typer.Exit(ExitCode.ERROR)
        with open_engine() as engine:
            result = reporting.submit_ncmec(
                engine,
                Vault.from_settings(get_settings()),
                case_id,
                actor=who,
                confirmed=True,
                settings=get_settings(),
            )
            if out is not None:
                with Session(engine) as s:
                    body = s.scalar(select(Report.body).where(Report.id == result["report_id"]))
                write_atomically(out, lambda f: f.write((body or "").encode("utf-8")))
    if as_json:
        print_json(result)
    else:
        console.print(
            f"Submitted case {case_id} to NCMEC: CyberTipline report [bold]{result['remote_id']}"
            f"[/] with {len(result['file_ids'])} files.",
            highlight=False,
        )


@report_app.command("settle")
def report_settle(
    report: int = typer.Argument(..., help="Vangnet's report id (as in the failure message)."),
    finished: str | None = typer.Option(
        None,
        "--finished",
        metavar="NCMEC_ID",
        help="NCMEC holds the report as finished: repeat NCMEC's report id.",
    ),
    retracted: bool = typer.Option(False, "--retracted", help="NCMEC retracted the report."),
    note: str = typer.Option("", "--note", help="What NCMEC said (who, when, ticket)."),
    actor: AsOption = None,
    as_json: bool = typer.Option(False, "--json", help="The settled report as JSON."),
) -> None:
    """Record how a CyberTipline report that failed and could not be retracted was settled
    with NCMEC by hand: --finished NCMEC_ID (it stands; the case is not filed again) or
    --retracted (the case may be submitted again). Needs --as: the person who settled it.

    Example: vangnet report settle 7 --finished 123456 --as "Ada Reviewer"
    Example: vangnet report settle 7 --retracted --as "Ada Reviewer" --note "NCMEC ticket 42"
    """
    from vangnet.errors import ValidationError
    from vangnet.reports import service as reporting

    with user_errors(as_json=as_json):
        if actor is None:
            raise ValidationError("--as NAME is required: the person who settled it with NCMEC")
        who = actor_of(actor)
        if (finished is None) == (not retracted):
            raise ValidationError("give exactly one of --finished NCMEC_ID and --retracted")
        with session() as s:
            result = reporting.settle_ncmec(
                s,
                report,
                outcome="retracted" if retracted else "finished",
                actor=who,
                ncmec_report_id=finished,
                note=note,
            )
            s.commit()
    if as_json:
        print_json(result)
    else:
        outcome = "finished at NCMEC" if result["status"] == "submitted" else "retracted"
        console.print(
            f"Report {result['report_id']} (CyberTipline report {result['remote_id']}) recorded "
            f"as {outcome}, settled by {who}.",
            highlight=False,
        )


@report_app.command("vics")
def report_vics(
    case_refs: list[str] = typer.Argument(..., metavar="CASE...", help="Case ids or keys."),
    out: Path | None = OutOption,
    profile: str = typer.Option("US", "--profile", help="VICS profile: US, UK, CUSTOM, Default."),
    actor: AsOption = None,
) -> None:
    """Project VIC VICS 2.0 #Cases JSON of one or more cases (hashes and metadata, no media);
    re-imports with `vangnet bank import BANK FILE --format vics2`.

    Example: vangnet report vics 12 14 --out cases.json
    """
    from vangnet.reports import service as reporting
    from vangnet.review import cases

    with user_errors():
        who = actor_of(actor)
        with session() as s:
            ids = [cases.resolve_case(s, ref).id for ref in case_refs]
            data = reporting.export_vics(
                s,
                ids,
                actor=who,
                profile=profile,
                weights=PriorityWeights.from_settings(get_settings()),
            )
            _deliver(s, data, out)
    if out is not None:
        err_console.print(f"VICS export of {len(set(ids))} cases written to {out}")


def _document(
    kind: str, case: str, out: Path | None, include_clear: bool, actor: str | None
) -> None:
    from vangnet.reports import service as reporting
    from vangnet.review import cases
    from vangnet.store.vault import Vault

    with user_errors():
        who = actor_of(actor)
        vault = Vault.from_settings(get_settings())
        with session() as s:
            case_id = cases.resolve_case(s, case).id
            data = reporting.render_case(
                s,
                vault,
                case_id,
                kind="pdf" if kind == "pdf" else "html",
                actor=who,
                include_clear=include_clear,
                weights=PriorityWeights.from_settings(get_settings()),
            )
            _deliver(s, data, out)
    if out is not None:
        look = "clear" if include_clear else "blurred"
        err_console.print(
            f"{kind.upper()} report of case {case_id} ({look} previews) written to {out}"
        )


IncludeClear = typer.Option(
    False,
    "--include-clear",
    help="Embed clear previews instead of blurred ones (recorded in the audit log).",
)


@report_app.command("html")
def report_html(
    case: str = typer.Argument(..., help="Case id or key."),
    out: Path | None = OutOption,
    include_clear: bool = IncludeClear,
    actor: AsOption = None,
) -> None:
    """The case report for prosecutors as one self-contained HTML file.

    Example: vangnet report html 12 --out case12.html
    """
    _document("html", case, out, include_clear, actor)


@report_app.command("pdf")
def report_pdf(
    case: str = typer.Argument(..., help="Case id or key."),
    out: Path = typer.Option(..., "--out", "-o", help="PDF file to write."),
    include_clear: bool = IncludeClear,
    actor: AsOption = None,
) -> None:
    """The case report as a PDF (A4).

    Example: vangnet report pdf 12 --out case12.pdf
    """
    _document("pdf", case, out, include_clear, actor)


@report_app.command("render")
def report_render(
    format_name: str = typer.Argument(
        ..., metavar="FORMAT", help="Report format (see `vangnet report formats`)."
    ),
    case_refs: list[str] = typer.Argument(..., metavar="CASE...", help="Case ids or keys."),
    out: Path | None = OutOption,
    include_clear: bool = IncludeClear,
    profile: str = typer.Option("US", "--profile", help="VICS profile: US, UK, CUSTOM, Default."),
    actor: AsOption = None,
) -> None:
    """File a report of any installed format, plug-ins included: recorded (one report per
    case, kind = FORMAT), audited as report.format.FORMAT (the built-ins as report.html,
    report.pdf, report.vics), with the case timeline and custody, as the built-in commands
    do. An unknown FORMAT records nothing (exit 4).

    Example: vangnet report render html 12 --out case12.html
    Example: vangnet report render mycsv 12 14 --out cases.csv
    """
    from vangnet.errors import ValidationError
    from vangnet.reports import service as reporting
    from vangnet.review import cases
    from vangnet.store.vault import Vault

    with user_errors():
        who = actor_of(actor)
        fmt = reporting.require_format(format_name)  # before anything is read or recorded
        textual = fmt.media_type.startswith("text/") or "json" in fmt.media_type
        if out is None and not textual and sys.stdout.isatty():
            raise ValidationError(
                f"a {fmt.name} report is {fmt.media_type}: write it to a file with --out"
            )
        vault = Vault.from_settings(get_settings()) if fmt.reads_media else None
        with session() as s:
            ids = [cases.resolve_case(s, ref).id for ref in case_refs]
            filed = reporting.file_report(
                s,
                vault,
                fmt.name,
                ids,
                actor=who,
                include_clear=include_clear,
                profile=profile,
                weights=PriorityWeights.from_settings(get_settings()),
                settings=get_settings(),
            )
            _deliver(s, filed.data, out)
    if out is not None:
        numbers = ", ".join(str(i) for i in filed.report_ids)
        err_console.print(
            f"{fmt.name} report of {len(filed.case_ids)} case(s) written to {out} "
            f"(report {numbers})",
            highlight=False,
        )


@report_app.command("formats")
def report_formats_cmd(
    as_json: bool = typer.Option(False, "--json", help="One JSON object per format."),
) -> None:
    """The report formats `vangnet report render` can file (built-in and plug-in), and the
    plug-ins that failed to load. NCMEC is not a format: see `vangnet report ncmec`.

    Example: vangnet report formats --json
    """
    from rich.markup import escape

    from vangnet.reports.formats import BUILT_IN, failed_report_formats, report_formats

    rows = [
        {
            "name": name,
            "description": cls.description,
            "media_type": cls.media_type,
            "extension": cls.extension,
            "max_cases": cls.max_cases,
            "reads_media": cls.reads_media,
            "built_in": name in BUILT_IN,
        }
        for name, cls in sorted(report_formats().items())
    ]
    failed = failed_report_formats()
    if as_json:
        for row in rows:
            print_json(row)
        for name, why in sorted(failed.items()):
            print_json({"name": name, "failed": why})
        return
    table(
        "Report formats (vangnet report render FORMAT CASE...)",
        ["format", "cases", "media", "file", "description"],
        [
            [
                escape(str(row["name"])),
                f"1-{row['max_cases']}",
                "previews" if row["reads_media"] else "no",
                escape(f".{row['extension']}"),
                escape(str(row["description"])) + ("" if row["built_in"] else " (plug-in)"),
            ]
            for row in rows
        ],
    )
    for name, why in sorted(failed.items()):
        err_console.print(f"[red]failed[/] {escape(name)}: {escape(why)}", highlight=False)
