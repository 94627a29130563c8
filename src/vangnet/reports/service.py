"""Reports of cases, shared by the CLI and the web UI: NCMEC CyberTipline (build, and submit
after a human confirmation), and the report formats of the registry
(`vangnet.reports.formats`): Project VIC VICS export, the HTML / PDF case report, and any
plug-in format, all filed through `file_report`.

Each function turns the case document (`vangnet.review.cases.case_document`) into a report
with the builders of `vangnet.reports`, and records what happened: a `Report` row, a case
timeline event, an audit entry, and chain-of-custody entries for the evidence it read or
let out. Every function but `submit_ncmec` works in the caller's transaction (no commit).

`submit_ncmec` owns its transactions, because it talks to NCMEC between them: it first
commits who confirmed the submission (``report.ncmec.confirm``), then builds the report and
reads the evidence (committed, the row ``submitting``), sends it with no transaction open,
and finally commits the outcome (``report.ncmec.submit`` or ``report.ncmec.failed``).
"""

from __future__ import annotations

import copy
import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any, Literal

import httpx
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from vangnet.audit import chain
from vangnet.cases.filing import record_event
from vangnet.config import Settings
from vangnet.egress.policy import EgressPolicy
from vangnet.errors import ConflictError, NotFoundError, ValidationError, VangnetError
from vangnet.evidence.custody import record_custody
from vangnet.evidence.previews import preview
from vangnet.evidence.reading import read_evidence
from vangnet.plugins import PluginError
from vangnet.reports.document import REPORT_PREVIEW_SIDE
from vangnet.reports.formats import (
    RenderOptions,
    ReportFormat,
    UnknownReportFormatError,
    audit_action,
    get_report_format,
)
from vangnet.reports.ncmec import (
    CaseNotConfirmedError,
    Reporter,
    build_file_details,
    build_report,
    require_reportable,
)
from vangnet.reports.ncmec_client import NcmecClient, NcmecSubmitError, SubmitResult, send_report
from vangnet.review import cases
from vangnet.review.priority import PriorityWeights
from vangnet.store.db import writer
from vangnet.store.models import Case, Report, utcnow
from vangnet.store.vault import Vault

log = logging.getLogger(__name__)

DocumentKind = Literal["html", "pdf"]
MAX_VICS_CASES = 1000
# A submission still "submitting" after this long died half-way: it no longer blocks a retry.
SUBMITTING_FOR = timedelta(minutes=15)


class ConfirmationRequiredError(ValidationError):
    """A submission to NCMEC needs an explicit human confirmation."""

    code = "confirmation_required"


def add_event(
    session: Session,
    case_id: int,
    kind: str,
    summary: str,
    *,
    actor: str,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Add a timeline event to a case (caller's transaction)."""
    record_event(
        session, cases.get_case(session, case_id), kind, summary, actor=actor, details=details
    )


def reporter_from(settings: Settings) -> Reporter:
    """The reporting person NCMEC may contact, from the ``ncmec_reporter_*`` settings."""
    missing = [
        f"VANGNET_NCMEC_{name.upper()}"
        for name, value in (
            ("reporter_first_name", settings.ncmec_reporter_first_name),
            ("reporter_last_name", settings.ncmec_reporter_last_name),
            ("reporter_email", settings.ncmec_reporter_email),
        )
        if not value.strip()
    ]
    if missing:
        raise ValidationError(
            "an NCMEC report names the person NCMEC may contact: set " + ", ".join(missing)
        )
    return Reporter(
        first_name=settings.ncmec_reporter_first_name.strip(),
        last_name=settings.ncmec_reporter_last_name.strip(),
        email=settings.ncmec_reporter_email.strip(),
        phone=settings.ncmec_reporter_phone.strip(),
        company=settings.ncmec_company.strip(),
    )


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- NCMEC ---------------------------------------------------------------------------------


def build_ncmec(
    session: Session, case_id: int, *, actor: str, settings: Settings
) -> tuple[int, bytes]:
    """Build and validate the CyberTipline ``<report>`` of a confirmed case; returns the
    `Report` row id and the XML. Nothing is sent (caller's transaction)."""
    cfg = settings
    case = cases.case_document(session, case_id, weights=PriorityWeights.from_settings(cfg))
    require_reportable(case)  # before any settings problem: the more basic refusal
    xml = build_report(case, reporter_from(cfg))
    row = Report(
        case_id=case_id,
        kind="ncmec",
        status="built",
        actor=actor,
        body=xml.decode("utf-8"),
        details={"sha256": _digest(xml), "items": len(case["items"])},
    )
    session.add(row)
    session.flush()
    add_event(
        session,
        case_id,
        "report",
        f"{actor}: NCMEC CyberTipline report built (report {row.id}, not sent)",
        actor=actor,
        details={"report_id": row.id},
    )
    chain.record(
        session,
        actor=actor,
        action="report.ncmec.build",
        target=f"case:{case_id}",
        after={"report_id": row.id, "status": "built"},
        details={"sha256": _digest(xml)},
    )
    return row.id, xml


class _CountingClient(NcmecClient):
    """Counts the files NCMEC accepted, so custody says which bytes left even on failure."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.uploaded = 0

    def upload(self, report_id: int, filename: str, data: bytes) -> tuple[str, str]:
        answer = super().upload(report_id, filename, data)
        self.uploaded += 1
        return answer


def check_submission(settings: Settings) -> None:
    """Raise `ValidationError` unless NCMEC submission is configured (URL, credentials,
    reporting person): for asking a person to confirm only when it can go ahead."""
    cfg = settings
    _submission_settings(cfg)
    reporter_from(cfg)


def _submission_settings(cfg: Settings) -> tuple[str, str, str]:
    if not cfg.ncmec_url.strip():
        raise ValidationError(
            "VANGNET_NCMEC_URL is not set: reports can be built but not submitted (e.g. "
            "https://exttest.cybertip.org/ispws for NCMEC's test service)"
        )
    password = cfg.ncmec_password.get_secret_value() if cfg.ncmec_password else ""
    if not cfg.ncmec_username or not password:
        raise ValidationError(
            "submitting to NCMEC needs VANGNET_NCMEC_USERNAME and VANGNET_NCMEC_PASSWORD"
        )
    return cfg.ncmec_url.strip(), cfg.ncmec_username, password


def _require_submittable(session: Session, case_id: int) -> Case:
    """The case, locked, if it is confirmed and not already (being) sent since it was."""
    case = session.scalars(select(Case).where(Case.id == case_id).with_for_update()).one_or_none()
    if case is None:
        raise NotFoundError(f"no case {case_id}")
    if case.status != "confirmed":
        raise CaseNotConfirmedError(
            f"case {case_id} is {case.status.replace('_', ' ')}: only confirmed cases are "
            "reported to NCMEC"
        )
    require_reportable({"id": case.id, "kind": case.kind, **_status(case)})
    earlier = session.scalars(
        select(Report).where(
            Report.case_id == case_id,
            Report.kind == "ncmec",
            Report.status.in_(("submitting", "submitted")),
        )
    )
    for report in earlier:
        if report.status == "submitted" and (
            case.decided_at is None or report.at >= case.decided_at
        ):
            raise ConflictError(
                f"case {case_id} was already submitted to NCMEC since it was confirmed: "
                f"CyberTipline report {report.remote_id} (report {report.id})"
            )
        if report.status == "submitting" and report.at > utcnow() - SUBMITTING_FOR:
            raise ConflictError(
                f"case {case_id} is being submitted to NCMEC right now (report {report.id}, "
                f"started {cases.iso(report.at)})"
            )
    unsettled = session.scalars(
        select(Report).where(
            Report.case_id == case_id,
            Report.kind == "ncmec",
            Report.status == "failed",
            Report.remote_id.is_not(None),
        )
    )
    for report in unsettled:  # opened at NCMEC and never withdrawn: it may stand there
        if not (report.details or {}).get("retracted"):
            raise ConflictError(
                f"CyberTipline report {report.remote_id} of case {case_id} (report {report.id}) "
                "failed but was not retracted: it may be open or finished at NCMEC. Settle it "
                "with NCMEC first, then record it with `vangnet report settle "
                f"{report.id} --finished {report.remote_id}` or `--retracted` (and --as NAME); "
                "a second submission could file the incident twice"
            )
    return case


def _status(case: Case) -> dict[str, Any]:
    return {"status": case.status, "category": case.category}


def submit_ncmec(
    engine: Engine,
    vault: Vault,
    case_id: int,
    *,
    actor: str,
    confirmed: bool,
    settings: Settings,
    transport: httpx.BaseTransport | None = None,
) -> dict[str, Any]:
    """Submit a confirmed case to NCMEC's CyberTipline with its media; commits itself.

    ``confirmed`` must be True: it is the human confirmation ("Submit case N to NCMEC?"),
    recorded as ``report.ncmec.confirm`` before anything is built or sent. Returns
    ``{"case_id", "report_id", "remote_id", "file_ids", "status": "submitted"}``. A failed
    submission (retracted by `send_report` where it got that far) is recorded as a ``failed``
    report and ``report.ncmec.failed``, then the error (`NcmecSubmitError` when NCMEC refused
    or could not be reached) is raised again."""
    if confirmed is not True:
        raise ConfirmationRequiredError(
            f"case {case_id} is not submitted to NCMEC without a person confirming it"
        )
    cfg = settings
    url, username, password = _submission_settings(cfg)
    reporter_from(cfg)  # fail on missing reporter settings before recording anything
    # checks the URL (https, or http to loopback) before anything is recorded
    egress = EgressPolicy.from_settings(cfg)
    client = _CountingClient(url, username, password, transport=transport, egress=egress)
    with client:
        report_id, result = _submit(engine, vault, case_id, client, actor=actor, cfg=cfg)
    return {
        "case_id": case_id,
        "report_id": report_id,
        "remote_id": str(result.report_id),
        "file_ids": list(result.file_ids),
        "status": "submitted",
    }


def _submit(
    engine: Engine,
    vault: Vault,
    case_id: int,
    client: _CountingClient,
    *,
    actor: str,
    cfg: Settings,
) -> tuple[int, SubmitResult]:
    writes = writer(engine)
    url = cfg.ncmec_url.strip()
    with Session(writes) as session:  # 1. who confirmed, committed before anything else
        _require_submittable(session, case_id)
        chain.record(
            session,
            actor=actor,
            action="report.ncmec.confirm",
            target=f"case:{case_id}",
            details={"ncmec_url": url},
        )
        session.commit()

    with Session(writes) as session:  # 2. build, read the evidence (custody "accessed")
        try:
            _require_submittable(session, case_id)
            report_id, xml = build_ncmec(session, case_id, actor=actor, settings=cfg)
            case = cases.case_document(session, case_id, weights=PriorityWeights.from_settings(cfg))
            files = [
                (item, read_evidence(session, vault, item["id"], actor=actor))
                for item in case["items"]
            ]
            row = session.get_one(Report, report_id)
            row.status = "submitting"
            row.details = {**row.details, "ncmec_url": url}
            session.commit()
        except VangnetError as exc:
            session.rollback()
            _record_build_failure(writes, case_id, actor=actor, error=exc)
            raise

    try:  # 3. send, with no transaction open
        result = send_report(client, xml, files, partial(build_file_details, case))
    except Exception as exc:  # a refusal, or a bug: either way the row must not stay open
        sent = [item for item, _data in files[: client.uploaded]]
        _record_failure(writes, report_id, case_id, actor=actor, error=exc, sent=sent)
        raise

    with Session(writes) as session:  # 4. the outcome
        try:
            row = session.get_one(Report, report_id)
            row.status = "submitted"
            row.remote_id = str(result.report_id)
            row.details = {
                **row.details,
                "file_ids": list(result.file_ids),
                "finish": result.finish,
                # NCMEC's upload answer had no hash: our own MD5 is recorded, unconfirmed
                "md5_unconfirmed": {
                    file_id: str(item.get("md5") or "")
                    for (item, _data), file_id in zip(files, result.file_ids, strict=True)
                    if file_id in result.unconfirmed_md5
                },
            }
            for (item, _data), file_id in zip(files, result.file_ids, strict=True):
                record_custody(
                    session,
                    item["id"],
                    actor=actor,
                    action="exported",
                    detail=f"sent to NCMEC CyberTipline report {result.report_id} as file "
                    f"{file_id}",
                )
            add_event(
                session,
                case_id,
                "report",
                f"{actor}: submitted to NCMEC, CyberTipline report {result.report_id} "
                f"({len(result.file_ids)} files)"
                + (
                    "; the finish answer was lost, NCMEC confirmed the report is finished"
                    if result.finish == "already_finished"
                    else ""
                ),
                actor=actor,
                details={"report_id": report_id, "remote_id": str(result.report_id)},
            )
            chain.record(
                session,
                actor=actor,
                action="report.ncmec.submit",
                target=f"case:{case_id}",
                before={"status": "submitting"},
                after={"report_id": report_id, "status": "submitted"},
                details={
                    "remote_id": str(result.report_id),
                    "file_ids": list(result.file_ids),
                    "finish": result.finish,
                    "md5_unconfirmed": list(result.unconfirmed_md5),
                },
            )
            session.commit()
        except BaseException:
            log.critical(
                "case %s was submitted to NCMEC as CyberTipline report %s but recording that "
                "failed: report row %s stays 'submitting'",
                case_id,
                result.report_id,
                report_id,
            )
            raise
    return report_id, result


def _record_build_failure(writes: Engine, case_id: int, *, actor: str, error: VangnetError) -> None:
    with Session(writes) as session:
        chain.record(
            session,
            actor=actor,
            action="report.ncmec.failed",
            target=f"case:{case_id}",
            details={"step": "build", "error": error.message, "code": error.code},
        )
        session.commit()


def _record_failure(
    writes: Engine,
    report_id: int,
    case_id: int,
    *,
    actor: str,
    error: Exception,
    sent: Sequence[Mapping[str, Any]],
) -> None:
    remote: int | None = None
    retracted, step = False, "validate"  # checks before anything is sent
    if isinstance(error, NcmecSubmitError):
        remote, retracted, step = error.report_id, error.retracted, error.step
    if isinstance(error, VangnetError):
        message, code = error.message, error.code
    else:
        message, code, step = f"{type(error).__name__}: {error}", "internal_error", "send"
    failure = {
        "error": message,
        "code": code,
        "step": step,
        "retracted": retracted,
        "remote_id": str(remote) if remote is not None else None,
    }
    with Session(writes) as session:
        row = session.get_one(Report, report_id)
        row.status = "failed"
        row.remote_id = str(remote) if remote is not None else None
        row.details = {**row.details, **failure}
        for item in sent:  # these bytes reached NCMEC before the report was withdrawn
            record_custody(
                session,
                item["id"],
                actor=actor,
                action="exported",
                detail=f"uploaded to NCMEC CyberTipline report {remote}, which then failed"
                + (" and was retracted" if retracted else ""),
            )
        add_event(
            session,
            case_id,
            "report",
            f"{actor}: NCMEC submission failed at {step}: {message}"[:2000],
            actor=actor,
            details={"report_id": report_id, **failure},
        )
        chain.record(
            session,
            actor=actor,
            action="report.ncmec.failed",
            target=f"case:{case_id}",
            before={"status": "submitting"},
            after={"report_id": report_id, "status": "failed"},
            details=failure,
        )
        session.commit()


SettleOutcome = Literal["finished", "retracted"]
#: The longest note a person may record with a settlement.
MAX_SETTLE_NOTE = 2000


def settle_ncmec(
    session: Session,
    report_id: int,
    *,
    outcome: SettleOutcome,
    actor: str,
    ncmec_report_id: str | None = None,
    note: str = "",
) -> dict[str, Any]:
    """Record how a person settled by hand, with NCMEC, a CyberTipline report that failed
    after it was opened and could not be retracted (caller commits).

    ``finished``: NCMEC holds it as submitted; ``ncmec_report_id`` must repeat NCMEC's
    report id (the one recorded when it was opened: a check against a mistyped or wrong
    report). The report then counts as submitted (a second filing of the case is refused).
    ``retracted``: NCMEC withdrew it; the case may be submitted again. Checks everything
    before changing anything; audited as ``report.ncmec.settle`` with a case event."""
    if outcome not in ("finished", "retracted"):
        raise ValidationError(f"unknown outcome {outcome!r}: finished or retracted")
    note = note.strip()
    if len(note) > MAX_SETTLE_NOTE or any(ord(c) < 32 and c not in "\t\n" for c in note):
        raise ValidationError(f"the note takes at most {MAX_SETTLE_NOTE} printable characters")
    row = session.get(Report, report_id)
    if row is None or row.kind != "ncmec":
        raise NotFoundError(f"no NCMEC report {report_id}")
    details = dict(row.details or {})
    if row.status != "failed" or row.remote_id is None or details.get("retracted"):
        state = "retracted" if details.get("retracted") else row.status
        raise ConflictError(
            f"report {report_id} is {state}"
            + ("" if row.remote_id else " and was never opened at NCMEC")
            + ": only a failed report that was opened at NCMEC and not retracted is settled "
            "by hand"
        )
    given = (ncmec_report_id or "").strip()
    if outcome == "finished" and not given:
        raise ValidationError(
            f"a finished report needs NCMEC's report id (CyberTipline report {row.remote_id})"
        )
    if given and (not given.isdigit() or int(given) != int(row.remote_id)):
        raise ValidationError(
            f"NCMEC report id {given[:40]!r} is not the one report {report_id} was opened as "
            f"({row.remote_id}); nothing was changed"
        )
    before = {"status": row.status, "remote_id": row.remote_id}
    settled = {"outcome": outcome, "by": actor, "at": cases.iso(utcnow()), "note": note}
    row.status = "submitted" if outcome == "finished" else "retracted"
    row.details = {
        **details,
        "settled": settled,
        **({"finish": "settled_by_hand"} if outcome == "finished" else {"retracted": True}),
    }
    summary = f"{actor}: CyberTipline report {row.remote_id} settled with NCMEC by hand: " + (
        "NCMEC holds it as finished" if outcome == "finished" else "NCMEC retracted it"
    )
    if row.case_id is not None:
        add_event(
            session,
            row.case_id,
            "report",
            summary,
            actor=actor,
            details={"report_id": row.id, "remote_id": row.remote_id, **settled},
        )
    chain.record(
        session,
        actor=actor,
        action="report.ncmec.settle",
        target=f"case:{row.case_id}" if row.case_id is not None else f"report:{row.id}",
        before=before,
        after={"report_id": row.id, "status": row.status, "remote_id": row.remote_id},
        details=settled,
    )
    return {
        "report_id": row.id,
        "case_id": row.case_id,
        "remote_id": row.remote_id,
        "status": row.status,
        "settled": settled,
    }


# -- VICS ----------------------------------------------------------------------------------


def export_vics(
    session: Session,
    case_ids: Sequence[int],
    *,
    actor: str,
    weights: PriorityWeights,
    profile: str = "US",
) -> bytes:
    """One Project VIC VICS 2.0 ``#Cases`` document of the cases (hashes and metadata, no
    media); records a ``vics`` report per case and ``exported`` custody per item."""
    return _export_vics(session, case_ids, actor=actor, weights=weights, profile=profile)[0]


def _export_vics(
    session: Session,
    case_ids: Sequence[int],
    *,
    actor: str,
    weights: PriorityWeights,
    profile: str,
) -> tuple[bytes, list[int]]:
    ids = list(dict.fromkeys(int(i) for i in case_ids))
    if not ids:
        raise ValidationError("name at least one case to export")
    if len(ids) > MAX_VICS_CASES:
        raise ValidationError(f"export at most {MAX_VICS_CASES} cases at a time")
    documents = [cases.case_document(session, i, weights=weights) for i in ids]
    data = get_report_format("vics").render(
        documents, RenderOptions(generated_by=actor, profile=profile)
    )
    media = sum(len(case["items"]) for case in documents)  # one VICS media object per item
    digest = _digest(data)
    report_ids = []
    for case in documents:
        row = Report(
            case_id=case["id"],
            kind="vics",
            status="built",
            actor=actor,
            details={"sha256": digest, "cases": ids, "profile": profile},
        )
        session.add(row)
        session.flush()
        report_ids.append(row.id)
        for item in case["items"]:
            record_custody(
                session,
                item["id"],
                actor=actor,
                action="exported",
                detail=f"hashes and metadata in VICS export (report {row.id}); no media",
            )
        add_event(
            session,
            case["id"],
            "report",
            f"{actor}: VICS export of {len(case['items'])} items (report {row.id})",
            actor=actor,
            details={"report_id": row.id},
        )
    chain.record(
        session,
        actor=actor,
        action="report.vics",
        target=f"case:{ids[0]}" if len(ids) == 1 else f"cases:{len(ids)}",
        after={"report_ids": report_ids},
        details={"cases": ids, "media": media, "sha256": digest, "profile": profile},
    )
    return data, report_ids


# -- HTML / PDF case report ----------------------------------------------------------------


def render_case(
    session: Session,
    vault: Vault,
    case_id: int,
    *,
    kind: DocumentKind,
    actor: str,
    weights: PriorityWeights,
    include_clear: bool = False,
) -> bytes:
    """The case report for prosecutors as HTML (UTF-8) or PDF. Previews are blurred unless
    ``include_clear``, an explicit choice recorded in the audit entry. Each item read is
    logged in its custody (``accessed``, then ``exported`` as a preview in the report)."""
    return _render_case(
        session,
        vault,
        case_id,
        kind=kind,
        actor=actor,
        weights=weights,
        include_clear=include_clear,
    )[0]


def _render_case(
    session: Session,
    vault: Vault,
    case_id: int,
    *,
    kind: DocumentKind,
    actor: str,
    weights: PriorityWeights,
    include_clear: bool,
) -> tuple[bytes, int]:
    if kind not in ("html", "pdf"):
        raise ValidationError(f"a case report is html or pdf, not {kind!r}")
    case = cases.case_document(session, case_id, weights=weights)
    read: list[int] = []

    def read_item(item_id: int) -> bytes:
        data = read_evidence(session, vault, item_id, actor=actor)
        read.append(item_id)
        return data

    options = RenderOptions(generated_by=actor, read_item=read_item, include_clear=include_clear)
    data = get_report_format(kind).render([case], options)
    digest = _digest(data)
    row = Report(
        case_id=case_id,
        kind=kind,
        status="built",
        actor=actor,
        details={"sha256": digest, "size": len(data), "include_clear": include_clear},
    )
    session.add(row)
    session.flush()
    look = "clear" if include_clear else "blurred"
    for item_id in read:
        record_custody(
            session,
            item_id,
            actor=actor,
            action="exported",
            detail=f"{look} preview in case report {row.id} ({kind})",
        )
    add_event(
        session,
        case_id,
        "report",
        f"{actor}: {kind.upper()} case report (report {row.id}, {look} previews)",
        actor=actor,
        details={"report_id": row.id, "include_clear": include_clear},
    )
    chain.record(
        session,
        actor=actor,
        action=f"report.{kind}",
        target=f"case:{case_id}",
        after={"report_id": row.id},
        details={"include_clear": include_clear, "sha256": digest, "items": read},
    )
    return data, row.id


# -- any report format (the registry) ------------------------------------------------------


def require_format(name: str) -> ReportFormat:
    """The report format a report of kind ``name`` is filed with: a name in the registry
    (`UnknownReportFormatError` otherwise, before anything is read or recorded). The report
    kinds the database accepts are ``ncmec`` and these names (migration 0014)."""
    if name in ("ncmec", "NCMEC"):
        raise UnknownReportFormatError(
            "ncmec is not a report format but the NCMEC CyberTipline workflow: `vangnet report "
            "ncmec CASE` or the case page's NCMEC button"
        )
    return get_report_format(name)


@dataclass(frozen=True)
class FiledReport:
    """What `file_report` made: the document, its format and the `Report` rows (one per
    case, in the order of ``case_ids``)."""

    data: bytes
    format: ReportFormat
    case_ids: list[int]
    report_ids: list[int]

    @property
    def filename(self) -> str:
        first = f"case-{self.case_ids[0]}" if len(self.case_ids) == 1 else "cases"
        return f"{first}-{self.format.name}.{self.format.extension}"


def file_report(
    session: Session,
    vault: Vault | None,
    format_name: str,
    case_ids: Sequence[int],
    *,
    actor: str,
    weights: PriorityWeights,
    include_clear: bool = False,
    profile: str = "US",
    settings: Settings | None = None,
) -> FiledReport:
    """Render ``case_ids`` with the report format ``format_name`` of the registry and record
    it like the built-ins: a `Report` row of kind ``format_name`` per case, a timeline event
    per case, custody per item (``accessed`` for each preview read, ``exported`` for what
    the document holds) and one audit entry (caller's transaction): ``report.format.NAME``
    for a plug-in (`audit_action`), ``report.html|pdf|vics`` for the built-ins.

    Checks before anything is read or recorded: the format exists (`UnknownReportFormatError`),
    one to `ReportFormat.max_cases` distinct cases, ``include_clear`` only for a format that
    shows media. Only a format with ``reads_media`` gets ``read_item`` (``vault`` is then
    needed): it reads only items of the cases being reported (asking for another refuses the
    whole filing) and returns the blurred greyscale JPEG preview, the clear media only with
    ``include_clear``. The plug-in gets a copy of the case documents. When it fails after
    reading, the filing is rolled back but the reads are recorded (custody ``accessed`` and
    an audit entry ``report.format.NAME.failed``, own transaction). The built-in ``html``,
    ``pdf`` and ``vics`` are recorded exactly as `render_case` and `export_vics` do."""
    fmt = require_format(format_name)
    ids = list(dict.fromkeys(int(i) for i in case_ids))
    if not ids:
        raise ValidationError("name at least one case to report")
    if len(ids) > fmt.max_cases:
        raise ValidationError(
            f"a {fmt.name} report holds at most {fmt.max_cases} case"
            f"{'' if fmt.max_cases == 1 else 's'}, not {len(ids)}"
        )
    if include_clear and not fmt.reads_media:
        raise ValidationError(f"a {fmt.name} report shows no media: clear previews do not apply")
    if fmt.reads_media and vault is None:
        raise ValidationError(f"a {fmt.name} report shows media: it needs the evidence vault")
    if fmt.name == "vics":
        data, report_ids = _export_vics(session, ids, actor=actor, weights=weights, profile=profile)
        return FiledReport(data, fmt, ids, report_ids)
    if fmt.name in ("html", "pdf"):
        assert vault is not None
        data, report_id = _render_case(
            session,
            vault,
            ids[0],
            kind="pdf" if fmt.name == "pdf" else "html",
            actor=actor,
            weights=weights,
            include_clear=include_clear,
        )
        return FiledReport(data, fmt, ids, [report_id])
    return _file_plug_in(
        session, vault, fmt, ids, actor=actor, weights=weights, include_clear=include_clear,
        profile=profile, settings=settings,
    )  # fmt: skip


class _PlugInReader:
    """The ``read_item`` a plug-in format gets: it reads only items of the cases being
    reported, hands over the blurred greyscale preview (the clear media only when
    ``include_clear`` was asked, and audited), logs each read ``accessed`` in the item's
    custody, remembers what was read and what was refused, and is closed once the report is
    rendered (a later call raises `PluginError`)."""

    def __init__(
        self, session: Session, vault: Vault, held: set[int], *, actor: str, include_clear: bool
    ) -> None:
        self._session, self._vault, self._held = session, vault, held
        self._actor, self._clear = actor, include_clear
        self.read: list[int] = []  # item ids, each once, in the order first read
        self.refused: list[str] = []  # what was asked that is not an item of these cases
        self.closed = False

    def __call__(self, item_id: int) -> bytes:
        if self.closed:
            raise PluginError("read_item is closed: the report has been rendered")
        if isinstance(item_id, bool) or not isinstance(item_id, int) or item_id not in self._held:
            self.refused.append(repr(item_id)[:40])
            raise PluginError(f"item {item_id!r} is not in the cases of this report: refused")
        data = read_evidence(self._session, self._vault, item_id, actor=self._actor)
        if item_id not in self.read:
            self.read.append(item_id)
        if self._clear:
            return data
        return preview(data, max_side=REPORT_PREVIEW_SIDE)


def _file_plug_in(
    session: Session,
    vault: Vault | None,
    fmt: ReportFormat,
    ids: list[int],
    *,
    actor: str,
    weights: PriorityWeights,
    include_clear: bool,
    profile: str,
    settings: Settings | None = None,
) -> FiledReport:
    documents = [cases.case_document(session, i, weights=weights) for i in ids]
    # what is recorded comes from here, not from the documents the plug-in may change
    held_by_case = [
        (int(case["id"]), [int(item["id"]) for item in case["items"]]) for case in documents
    ]
    held = {item_id for _case, items in held_by_case for item_id in items}
    reader: _PlugInReader | None = None
    if fmt.reads_media and vault is not None:
        reader = _PlugInReader(session, vault, held, actor=actor, include_clear=include_clear)
    options = RenderOptions(
        generated_by=actor,
        read_item=reader,
        include_clear=include_clear,
        profile=profile,
        settings=settings,
    )
    action = audit_action(fmt.name)
    try:
        try:
            data = fmt.render(copy.deepcopy(documents), options)
        except VangnetError:
            raise
        except Exception as error:  # plug-in code: named, never a bare traceback
            raise PluginError(
                f"report format {fmt.name!r} failed: {type(error).__name__}: {error}"
            ) from error
        if not isinstance(data, bytes) or not data:
            raise PluginError(f"report format {fmt.name!r} rendered no document; nothing filed")
        if reader is not None and reader.refused:
            raise PluginError(
                f"report format {fmt.name!r} asked for evidence outside the cases of this "
                f"report ({', '.join(reader.refused[:5])}): refused, nothing filed"
            )
    except VangnetError as error:
        _record_plug_in_failure(
            session, action, ids, reader, actor=actor, include_clear=include_clear, error=error
        )
        raise
    finally:
        if reader is not None:
            reader.closed = True
    read = list(reader.read) if reader is not None else []
    digest = _digest(data)
    look = "clear media" if include_clear else "blurred preview"
    report_ids: list[int] = []
    for case_id, items in held_by_case:
        row = Report(
            case_id=case_id,
            kind=fmt.name,
            status="built",
            actor=actor,
            details={
                "sha256": digest,
                "size": len(data),
                "cases": ids,
                "media_type": fmt.media_type,
                "include_clear": include_clear,
            },
        )
        session.add(row)
        session.flush()
        report_ids.append(row.id)
        for item_id in items:
            record_custody(
                session,
                item_id,
                actor=actor,
                action="exported",
                detail=(
                    f"{look} handed to the {fmt.name} report {row.id}"
                    if item_id in read
                    else f"metadata in {fmt.name} report {row.id}; no media"
                ),
            )
        shown = f", {look.replace('preview', 'previews')}" if fmt.reads_media else ", no media"
        add_event(
            session,
            case_id,
            "report",
            f"{actor}: {fmt.name} report of {len(items)} items (report {row.id}{shown})",
            actor=actor,
            details={"report_id": row.id, "format": fmt.name},
        )
    chain.record(
        session,
        actor=actor,
        action=action,
        target=_target(ids),
        after={"report_ids": report_ids},
        details={
            "format": fmt.name,
            "cases": ids,
            "sha256": digest,
            "items": read,
            "include_clear": include_clear,
        },
    )
    return FiledReport(data, fmt, ids, report_ids)


def _target(ids: Sequence[int]) -> str:
    return f"case:{ids[0]}" if len(ids) == 1 else f"cases:{len(ids)}"


def _record_plug_in_failure(
    session: Session,
    action: str,
    ids: list[int],
    reader: _PlugInReader | None,
    *,
    actor: str,
    include_clear: bool,
    error: VangnetError,
) -> None:
    """A plug-in format failed, or was refused, after it may have read evidence: the filing
    is rolled back, but what was handed to plug-in code is not forgotten. In a transaction of
    its own: ``accessed`` custody per item read and an audit entry ``ACTION.failed`` with the
    items read, the ids refused and the error."""
    read = list(reader.read) if reader is not None else []
    refused = list(reader.refused) if reader is not None else []
    bind = session.get_bind()
    session.rollback()
    look = "clear media" if include_clear else "blurred preview"
    with Session(bind) as writes:
        for item_id in read:
            record_custody(
                writes,
                item_id,
                actor=actor,
                action="accessed",
                detail=f"{look} handed to a {action.removeprefix('report.format.')} report "
                "that was not filed",
            )
        chain.record(
            writes,
            actor=actor,
            action=f"{action}.failed",
            target=_target(ids),
            details={
                "cases": ids,
                "items": read,
                "refused": refused,
                "include_clear": include_clear,
                "error": error.message,
                "code": error.code,
            },
        )
        writes.commit()
