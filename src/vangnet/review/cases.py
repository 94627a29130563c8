"""Cases in review: the queue, each case as plain JSON, and the upload's intake adapter.

Every signal is filed by the one intake, `vangnet.cases.intake.file_intake`; `intake_upload`
(the upload API's) only turns its arguments into an `Intake`. Grouping, the case row and its
timeline are `vangnet.cases.filing`.

`case_document` gives the whole case as plain JSON (the input of every report builder).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Engine, and_, func, or_, select
from sqlalchemy.orm import Session

from vangnet.audit import chain as audit
from vangnet.banks.bank import get_bank
from vangnet.cases.document import (
    BankedDoc,
    CaseDocument,
    CaseSummary,
    ClassifierDoc,
    CustodyDoc,
    FoundDoc,
    ItemDoc,
    SubjectDoc,
)
from vangnet.cases.filing import DECIDED_STATES as DECIDED_STATES
from vangnet.cases.filing import OPEN_STATES as OPEN_STATES
from vangnet.cases.filing import GroupBy, clean_subject
from vangnet.cases.filing import iso as iso
from vangnet.cases.found import region_of
from vangnet.cases.intake import Grouping, Intake, SealedItem, Source, file_intake
from vangnet.context.case_rows import context_document
from vangnet.errors import NotFoundError, ValidationError
from vangnet.evidence.hashes import item_signals
from vangnet.evidence.sealing import seal_upload
from vangnet.match.results import Match
from vangnet.media.sniff import media_type
from vangnet.net import display_url
from vangnet.review.outcomes import verdict
from vangnet.review.priority import BankFacts, MatchFacts, Priority, PriorityWeights, priority
from vangnet.signals.classifiers.fusion import Fusion
from vangnet.signals.hashes import Hashes
from vangnet.store.models import (
    AuditEntry,
    Bank,
    BankContent,
    Case,
    CaseEvent,
    CaseMatch,
    CustodyEvent,
    Decision,
    EvidenceItem,
    Report,
    Stream,
)
from vangnet.store.vault import Vault, VaultEntry
from vangnet.triage.records import triage_items, triage_runs

RUNNING = ("connecting", "live", "stalled", "reconnecting")


def intake_upload(
    session: Session,
    *,
    entry: VaultEntry,
    media_type: str,
    filename: str | None,
    hashes: Hashes | Mapping[str, str],
    matches: Iterable[Match],
    subject: Mapping[str, Any] | None,
    actor: str,
    group_by: str,
    scores: Mapping[str, float] | None = None,
    summaries: Mapping[str, str] | None = None,
    fusion: Fusion | None = None,
) -> Case:
    """File an upload that matched, or one that matched nothing but whose classifier
    ``scores`` are likely new material (source ``classifier``): its bytes are already
    sealed in the vault (``entry``, `vangnet.evidence.sealing.seal_upload`); here its
    evidence row, custody, the case, its matches and scores are written (no commit)."""
    signals = hashes.signal_values() if isinstance(hashes, Hashes) else dict(hashes)
    found = tuple(matches)
    intake = Intake(
        source=Source.UPLOAD if found else Source.CLASSIFIER,
        grouping=Grouping(group_by=cast(GroupBy, group_by)),
        subject=dict(subject or {}),
        items=(SealedItem(entry, media_type, filename, signals),),
        matches=found,
        scores=dict(scores or {}),
        summaries=dict(summaries or {}),
        fusion=fusion,
        actor=actor,
    )
    return file_intake(session, intake).case


def file_upload(
    engine: Engine,
    vault: Vault,
    data: bytes,
    *,
    filename: str | None,
    hashes: Hashes,
    matches: Sequence[Match],
    subject: Mapping[str, Any] | None,
    actor: str,
    group_by: str,
    scores: Mapping[str, float] | None = None,
    summaries: Mapping[str, str] | None = None,
    fusion: Fusion | None = None,
) -> int:
    """File an upload that matched (or, with no ``matches``, one whose ``scores`` are
    likely new material), whole: seal its bytes in ``vault``, then write its evidence row,
    custody, case, matches and scores (`intake_upload`) and the audit entry
    ``case.intake`` in one transaction of ``engine`` (a writer: `vangnet.store.db.writer`).
    The sealed copy is removed again when filing fails (nothing would point at it). Returns
    the case id."""
    entry = seal_upload(vault, data, hashes.values["sha256"])
    try:
        with Session(engine) as session:
            case = intake_upload(
                session,
                entry=entry,
                media_type=media_type(data),
                filename=filename,
                hashes=hashes,
                matches=matches,
                subject=subject,
                actor=actor,
                group_by=group_by,
                scores=scores,
                summaries=summaries,
                fusion=fusion,
            )
            case_id = case.id
            audit.record(
                session,
                actor=actor,
                action="case.intake",
                target=f"case:{case_id}",
                details={
                    "sha256": hashes.values["sha256"],
                    "matches": [f"{m.bank}/{m.content_id}" for m in matches[:50]],
                    "source": "upload" if matches else "classifier",
                    "scores": dict(scores or {}),
                },
            )
            session.commit()
    except BaseException:
        vault.delete(entry.name)
        raise
    return case_id


# -- reading -------------------------------------------------------------------------------


def _bank_facts(session: Session) -> dict[str, BankFacts]:
    return {
        b.name: BankFacts(b.high_confidence, b.thresholds or {})
        for b in session.scalars(select(Bank))
    }


def _priority(
    case: Case,
    matches: Sequence[CaseMatch],
    bank_facts: Mapping[str, BankFacts],
    stream: Stream | None,
    weights: PriorityWeights,
) -> Priority:
    live = stream is not None and stream.desired == "run" and stream.state in RUNNING
    viewers = (case.subject or {}).get("viewers")
    if stream is not None:
        viewers = clean_subject(stream.stream_metadata).get("viewers", viewers)
    raw_scores = (case.subject or {}).get("scores")
    scores = raw_scores if isinstance(raw_scores, dict) else None
    raw_review_now = (case.subject or {}).get("review_now")
    raw_context = (case.subject or {}).get("context")
    return priority(
        review_now=raw_review_now if isinstance(raw_review_now, dict) else None,
        context=raw_context if isinstance(raw_context, dict) else None,
        matches=[MatchFacts(m.bank, m.signal_type, m.distance, m.category) for m in matches],
        banks=bank_facts,
        live=live,
        viewers=viewers if isinstance(viewers, int) else None,
        scores=scores,
        escalated=case.status == "escalated",
        weights=weights,
    )


def case_summary(
    case: Case,
    matches: Sequence[CaseMatch],
    bank_facts: Mapping[str, BankFacts],
    stream: Stream | None,
    items: int,
    weights: PriorityWeights,
) -> CaseSummary:
    prio = _priority(case, matches, bank_facts, stream, weights)
    categories = sorted({m.category for m in matches if m.category})
    return {
        "id": case.id,
        "key": case.key,
        "kind": case.kind,
        "title": case.title,
        "status": case.status,
        "category": case.category,
        "verdict": _verdict(case),
        "matched_categories": categories,
        "matches": len(matches),
        "items": items,
        "live": stream is not None and stream.desired == "run" and stream.state in RUNNING,
        "priority": prio.to_dict(),
        "pending_by": case.pending_by,
        "created_at": iso(case.created_at),
        "last_signal_at": iso(case.last_signal_at),
        "decided_at": iso(case.decided_at),
        "classifier": _classifier_doc(case, weights),
    }


def _classifier_doc(case: Case, weights: PriorityWeights) -> ClassifierDoc | None:
    """The case's priority signal as kept, with its summary (the kept scores fused)."""
    if case.priority_signal is None:
        return None
    raw = (case.subject or {}).get("scores")
    kept = raw if isinstance(raw, dict) else {}
    scores = {str(k): float(v) for k, v in kept.items() if isinstance(v, int | float)}
    fused = (weights.fusion or Fusion.of()).fuse(scores)
    return {
        "value": round(float(case.priority_signal), 4),
        "likely": bool(case.signal_likely),
        "summary": fused.summary,
    }


def _verdict(case: Case) -> str | None:
    found = verdict(case.status, case.category)
    return found.value if found else None


#: How the queue can be ordered: by priority (its points, the default) or by the
#: classifiers' priority signal alone (``score``: highest first, unscored cases last).
QUEUE_ORDERS = ("priority", "score")


def list_cases(
    session: Session,
    *,
    status: str | Sequence[str] | None = "open",
    limit: int = 200,
    investigations: bool = False,
    weights: PriorityWeights,
    order: str = "priority",
    min_score: float | None = None,
    likely_new: bool = False,
) -> list[CaseSummary]:
    """Cases in queue order: highest priority (scored with ``weights``) first, then the
    longest waiting; with ``order="score"``, highest priority signal (``priority_signal``)
    first, unscored cases last, then the longest waiting.

    ``status``: one status, several, ``"open"`` (every undecided state) or None (all).
    Investigation cases (worked in the investigation workbench) only with ``investigations``.
    ``min_score``: only cases whose priority signal is at least this (0-1). ``likely_new``:
    only "likely new material", cases whose priority signal is likely and that match no
    banked item.
    """
    if order not in QUEUE_ORDERS:
        raise ValidationError(f"unknown order {order!r} (known: {', '.join(QUEUE_ORDERS)})")
    if min_score is not None and not 0.0 <= min_score <= 1.0:
        raise ValidationError("a minimum score is a number from 0 to 1")
    stmt = select(Case)
    if min_score is not None:
        stmt = stmt.where(Case.priority_signal >= min_score)
    if likely_new:
        stmt = stmt.where(
            Case.signal_likely.is_(True),
            ~select(CaseMatch.id).where(CaseMatch.case_id == Case.id).exists(),
        )
    if not investigations:
        stmt = stmt.where(Case.kind != "investigation")
    if status == "open":
        stmt = stmt.where(Case.status.in_(OPEN_STATES))
    elif isinstance(status, str):
        stmt = stmt.where(Case.status == status)
    elif status is not None:
        stmt = stmt.where(Case.status.in_(list(status)))
    if order == "score":
        stmt = stmt.order_by(
            Case.priority_signal.desc().nulls_last(), Case.last_signal_at.asc(), Case.id
        ).limit(max(1, limit))
    else:
        stmt = stmt.order_by(Case.last_signal_at.desc()).limit(5000)
    cases = list(session.scalars(stmt))
    if not cases:
        return []
    ids = [c.id for c in cases]
    by_case: dict[int, list[CaseMatch]] = {}
    for chunk in range(0, len(ids), 1000):
        for m in session.scalars(
            select(CaseMatch).where(CaseMatch.case_id.in_(ids[chunk : chunk + 1000]))
        ):
            by_case.setdefault(m.case_id, []).append(m)
    items = dict(
        session.execute(
            select(EvidenceItem.case_id, func.count())
            .where(EvidenceItem.case_id.in_(ids[:1000]))
            .group_by(EvidenceItem.case_id)
        ).all()
    )
    stream_ids = {c.stream_id for c in cases if c.stream_id is not None}
    streams = {s.id: s for s in session.scalars(select(Stream).where(Stream.id.in_(stream_ids)))}
    facts = _bank_facts(session)
    out = [
        case_summary(
            c,
            by_case.get(c.id, []),
            facts,
            streams.get(c.stream_id) if c.stream_id is not None else None,
            int(items.get(c.id, 0)),
            weights,
        )
        for c in cases
    ]
    if order == "priority":
        out.sort(key=lambda s: (-s["priority"]["score"], s["last_signal_at"] or ""))
    return out[: max(1, limit)]


def queue_counts(session: Session) -> dict[str, int]:
    """Review cases per status (investigation cases are not in the review queue)."""
    rows = session.execute(
        select(Case.status, func.count()).where(Case.kind != "investigation").group_by(Case.status)
    ).all()
    return {str(status): int(n) for status, n in rows}


def get_case(session: Session, case_id: int) -> Case:
    case = session.get(Case, case_id)
    if case is None:
        raise NotFoundError(f"no case {case_id}")
    return case


def resolve_case(session: Session, ref: str | int) -> Case:
    """A case by id or by its key (``stream:3``, ``account:platform:name``)."""
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        return get_case(session, int(ref))
    case = session.scalars(select(Case).where(Case.key == ref)).one_or_none()
    if case is None:  # an investigation case by its name
        case = session.scalars(select(Case).where(Case.key == f"investigation:{ref}")).one_or_none()
    if case is None:
        raise NotFoundError(f"no case {ref!r}")
    return case


def _with_snapshot(match: CaseMatch, current: dict[int, BankedDoc]) -> BankedDoc:
    """What a case shows of a match's banked item: the snapshot taken when it matched, with
    whether the item is still in its bank (and enabled) now."""
    now = current.get(match.content_id)
    if not match.banked:  # matched before snapshots were kept: only what is there now
        return now or {}
    shown = cast(BankedDoc, dict(match.banked))
    shown["enabled"] = now["enabled"] if now is not None else None
    shown["in_bank"] = now is not None
    return shown


def _banked(session: Session, content_ids: set[int]) -> dict[int, BankedDoc]:
    out: dict[int, BankedDoc] = {}
    ids = list(content_ids)
    for start in range(0, len(ids), 1000):
        for row in session.scalars(
            select(BankContent).where(BankContent.id.in_(ids[start : start + 1000]))
        ):
            out[row.id] = {
                "note": row.note,
                "series": row.series,
                "source": row.source,
                "external_id": row.external_id,
                "category": f"{row.category_profile}:{row.category_code}"
                if row.category_code
                else None,
                "enabled": row.enabled,
            }
    return out


def item_dict(item: EvidenceItem, viewed_by: Sequence[str] = ()) -> ItemDoc:
    """An item as plain JSON. ``viewed_by``: who saw it in the clear (recorded reveals)."""
    facts = (item.details or {}).get("subject") if item.kind == "upload" else None
    return {
        "id": item.id,
        "kind": item.kind,
        "media_type": item.media_type,
        "filename": item.filename,
        "size": item.size,
        "sha256": item.sha256,
        "md5": item.md5,
        "sha1": item.sha1,
        "pdq": item.pdq,
        "signals": item_signals(item),
        "captured_at": iso(item.captured_at),
        "stream_time": round(item.stream_time, 3) if item.stream_time is not None else None,
        "matched": item.matched,
        "alert_id": item.alert_id,
        "ip": facts.get("ip") if isinstance(facts, dict) else None,
        "viewed_by": list(viewed_by),
    }


def viewed_in_clear(session: Session, item_ids: Sequence[int]) -> dict[int, list[str]]:
    """Who saw each item in the clear, from the audit log: a reveal (``media.reveal`` of
    ``item:N``, or of ``triage_item:N`` for an investigation item sealed at its first
    reveal) or a case report with clear previews that read it."""
    out: dict[int, set[str]] = {}
    wanted = set(item_ids)
    if not wanted:
        return {}
    targets = {f"item:{i}": i for i in wanted}
    ids = list(wanted)
    for start in range(0, len(ids), 1000):
        for item_id, details in session.execute(
            select(EvidenceItem.id, EvidenceItem.details).where(
                EvidenceItem.id.in_(ids[start : start + 1000]), EvidenceItem.kind == "triage"
            )
        ):
            triage_id = (details or {}).get("triage_item_id")
            if isinstance(triage_id, int):
                targets[f"triage_item:{triage_id}"] = item_id
    names = list(targets)
    for start in range(0, len(names), 1000):
        for actor, target in session.execute(
            select(AuditEntry.actor, AuditEntry.target).where(
                AuditEntry.action == "media.reveal",
                AuditEntry.target.in_(names[start : start + 1000]),
            )
        ):
            out.setdefault(targets[str(target)], set()).add(actor)
    case_ids = set(
        session.scalars(select(EvidenceItem.case_id).where(EvidenceItem.id.in_(list(wanted))))
    )
    # every report that may have shown media in the clear: the case report (html, pdf) and
    # any plug-in format (``report.format.NAME``, filed or failed after reading), of one case
    # (``case:N``) or several (``cases:N``); what counts is its items and include_clear
    for actor, details in session.execute(
        select(AuditEntry.actor, AuditEntry.details).where(
            or_(
                AuditEntry.action.in_(("report.html", "report.pdf")),
                AuditEntry.action.startswith("report.format.", autoescape=True),
            ),
            or_(
                AuditEntry.target.in_([f"case:{c}" for c in case_ids if c is not None]),
                AuditEntry.target.startswith("cases:", autoescape=True),
            ),
        )
    ):
        if isinstance(details, dict) and details.get("include_clear") is True:
            for item_id in details.get("items") or []:
                if item_id in wanted:
                    out.setdefault(int(item_id), set()).add(actor)
    return {item_id: sorted(actors) for item_id, actors in out.items()}


def item_regions(session: Session, item: EvidenceItem) -> list[tuple[int, int, int, int]]:
    """The regions of ``item`` that matched (x, y, w, h in its own pixels): the ``region`` of
    each of its case's matches that points at it (an upload's matches; a live time range's
    first frame), without repeats; ``[]`` when it matched as a whole picture."""
    if item.case_id is None:
        return []
    points_at = CaseMatch.evidence_id == item.id
    if item.alert_id is not None and item.stream_time is not None:
        points_at = or_(
            points_at,
            and_(CaseMatch.alert_id == item.alert_id, CaseMatch.stream_time == item.stream_time),
        )
    out: list[tuple[int, int, int, int]] = []
    for found in session.scalars(
        select(CaseMatch.found)
        .where(CaseMatch.case_id == item.case_id, points_at)
        .order_by(CaseMatch.id)
    ):
        region = region_of(found)
        if region is not None and region not in out:
            out.append(region)
    return out


def case_items(session: Session, case_id: int) -> list[EvidenceItem]:
    return list(
        session.scalars(
            select(EvidenceItem)
            .where(EvidenceItem.case_id == case_id)
            .order_by(EvidenceItem.captured_at, EvidenceItem.id)
        )
    )


def case_document(session: Session, case_id: int, *, weights: PriorityWeights) -> CaseDocument:
    """The whole case as plain JSON (``docs/case-document.md``, typed by
    `vangnet.cases.document.CaseDocument`): subject, priority (scored with ``weights``), items,
    matches with the banked items' metadata, timeline, decisions, chain of custody, reports,
    and for an investigation its triage runs and items."""
    case = get_case(session, case_id)
    matches = list(
        session.scalars(
            select(CaseMatch).where(CaseMatch.case_id == case.id).order_by(CaseMatch.at)
        )
    )
    items = case_items(session, case.id)
    viewed = viewed_in_clear(session, [i.id for i in items])
    stream = session.get(Stream, case.stream_id) if case.stream_id is not None else None
    subject = cast(SubjectDoc, {k: v for k, v in (case.subject or {}).items() if k != "context"})
    if stream is not None:
        subject.update(
            {
                "stream_id": stream.id,
                "stream_external_id": stream.external_id,
                "stream_url_display": display_url(stream.url) if stream.url else None,
                "stream_state": stream.state,
                "live": stream.desired == "run" and stream.state in RUNNING,
            }
        )
    summary = case_summary(case, matches, _bank_facts(session), stream, len(items), weights)
    item_by_frame: dict[tuple[int | None, float | None], int] = {
        (i.alert_id, i.stream_time): i.id for i in items if i.alert_id is not None
    }
    banked = _banked(session, {m.content_id for m in matches})
    custody: list[CustodyDoc] = []
    if items:
        for c in session.scalars(
            select(CustodyEvent)
            .where(CustodyEvent.evidence_id.in_([i.id for i in items]))
            .order_by(CustodyEvent.at, CustodyEvent.id)
        ):
            custody.append(
                {
                    "item_id": c.evidence_id,
                    "at": iso(c.at),
                    "actor": c.actor,
                    "action": c.action,
                    "detail": c.detail,
                }
            )
    document: CaseDocument = {
        "id": summary["id"],
        "key": summary["key"],
        "kind": summary["kind"],
        "title": summary["title"],
        "status": summary["status"],
        "category": summary["category"],
        "verdict": summary["verdict"],
        "priority": summary["priority"],
        "live": summary["live"],
        "pending_by": case.pending_by,
        "pending_category": case.pending_category,
        "subject": subject,
        "created_at": iso(case.created_at),
        "updated_at": iso(case.updated_at),
        "decided_at": iso(case.decided_at),
        "items": [item_dict(i, viewed.get(i.id, ())) for i in items],
        "matches": [
            {
                "id": m.id,
                "item_id": m.evidence_id
                if m.evidence_id is not None
                else item_by_frame.get((m.alert_id, m.stream_time)),
                "alert_id": m.alert_id,
                "bank": m.bank,
                "content_id": m.content_id,
                "signal_type": m.signal_type,
                "distance": m.distance,
                "category": m.category,
                "stream_time": round(m.stream_time, 3) if m.stream_time is not None else None,
                "stream_time_end": round(m.stream_time_end, 3)
                if m.stream_time_end is not None
                else None,
                "frames": m.frames,
                "at": iso(m.at),
                "banked": _with_snapshot(m, banked),
                "found": cast(FoundDoc, dict(m.found or {})),
            }
            for m in matches
        ],
        "timeline": [
            {
                "at": iso(e.at),
                "kind": e.kind,
                "actor": e.actor,
                "summary": e.summary,
                "details": e.details or {},
            }
            for e in session.scalars(
                select(CaseEvent)
                .where(CaseEvent.case_id == case.id)
                .order_by(CaseEvent.at, CaseEvent.id)
            )
        ],
        "decisions": [
            {
                "id": d.id,
                "at": iso(d.at),
                "actor": d.actor,
                "decision": d.decision,
                "category": d.category,
                "note": d.note,
                "details": d.details or {},
            }
            for d in session.scalars(
                select(Decision).where(Decision.case_id == case.id).order_by(Decision.id)
            )
        ],
        "custody": custody,
        "reports": [
            {
                "id": r.id,
                "kind": r.kind,
                "status": r.status,
                "remote_id": r.remote_id,
                "at": iso(r.at),
                "actor": r.actor,
                "details": r.details or {},
            }
            for r in session.scalars(
                select(Report).where(Report.case_id == case.id).order_by(Report.id)
            )
        ],
    }
    context = context_document(session, case)
    if context is not None:
        document["context"] = context
    if case.kind == "investigation":  # first, as they always were
        return {
            "triage_runs": triage_runs(session, case.id),
            "triage_items": triage_items(session, case.id),
            **document,
        }
    return document


def case_profiles(session: Session, case_id: int) -> list[str]:
    """The category profiles of the banks a case matched (what a confirmation may use)."""
    names = set(session.scalars(select(CaseMatch.bank).where(CaseMatch.case_id == case_id)))
    profiles = []
    for name in sorted(names):
        try:
            profile = get_bank(session, name).category_profile
        except NotFoundError:
            continue
        if profile not in profiles:
            profiles.append(profile)
    return profiles
