"""A case's context records, loaded by the refs the case keeps (``case_context_rows``), as
the ``context`` part of the case document (`vangnet.cases.document.ContextDoc`).

The intake (`vangnet.cases.intake`, source ``context``) keeps only each record's kind, ref
and the indicator it supports; the records themselves stay in the ``context_*`` tables and
are read here for the case page, the STR export and the reports. A record no longer stored
is listed as not found (never dropped silently).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vangnet.cases.document import ContextDoc, ContextReasonDoc, ContextRowDoc
from vangnet.cases.filing import iso
from vangnet.context import stored
from vangnet.sources.records.model import Account, CallSession, Message, Payment, RecordKind
from vangnet.store.models import (
    Case,
    CaseContextRow,
    ContextAccount,
    ContextMessage,
    ContextPayment,
    ContextSession,
)

_TABLES: dict[RecordKind, Any] = {
    RecordKind.PAYMENTS: ContextPayment,
    RecordKind.MESSAGES: ContextMessage,
    RecordKind.SESSIONS: ContextSession,
    RecordKind.ACCOUNTS: ContextAccount,
}
_CHUNK = 500


def record_json(record: Payment | Message | CallSession | Account) -> dict[str, Any]:
    """A record's fields as plain JSON (amounts as decimal strings, times ISO 8601 UTC); a
    message's text is withheld (``text`` None, ``text_chars`` its length): the case document
    goes to the API, the CLI and reports, and a message is read only through the case page's
    audited reveal."""
    if isinstance(record, Payment):
        return {
            "ref": record.ref,
            "at": iso(record.at),
            "sender": record.sender,
            "beneficiary": record.beneficiary,
            "amount": str(record.amount),
            "currency": record.currency,
            "channel": record.channel.value,
            "sender_country": record.sender_country,
            "beneficiary_country": record.beneficiary_country,
            "narrative": record.narrative,
            "merchant_category": record.merchant_category,
            "details": dict(record.details),
        }
    if isinstance(record, Message):
        return {
            "ref": record.ref,
            "conversation": record.conversation,
            "at": iso(record.at),
            "sender": record.sender,
            "recipients": list(record.recipients),
            # withheld: personal and possibly distressing; the case page reveals one
            # message at a time, audited (``context.message.reveal``)
            "text": None,
            "text_chars": len(record.text),
            "platform": record.platform,
            "language": record.language,
        }
    if isinstance(record, CallSession):
        return {
            "ref": record.ref,
            "platform": record.platform,
            "started_at": iso(record.started_at),
            "ended_at": iso(record.ended_at),
            "participants": list(record.participants),
            "countries": list(record.countries),
            "stream": record.stream,
        }
    return {
        "ref": record.ref,
        "kind": record.kind,
        "name": record.name,
        "country": record.country,
        "platform": record.platform,
        "created_at": iso(record.created_at),
        "handles": list(record.handles),
        "devices": list(record.devices),
    }


def _when(record: Payment | Message | CallSession | Account) -> str | None:
    if isinstance(record, Payment | Message):
        return iso(record.at)
    if isinstance(record, CallSession):
        return iso(record.started_at)
    return iso(record.created_at)


def load_records(
    session: Session, refs: Iterable[tuple[RecordKind, str]]
) -> dict[tuple[RecordKind, str], Payment | Message | CallSession | Account]:
    """The stored records of ``refs`` (those still stored), by (kind, ref)."""
    wanted: dict[RecordKind, list[str]] = {}
    for kind, ref in refs:
        wanted.setdefault(kind, []).append(ref)
    out: dict[tuple[RecordKind, str], Payment | Message | CallSession | Account] = {}
    for kind, names in wanted.items():
        table = _TABLES[kind]
        unique = sorted(set(names))
        for start in range(0, len(unique), _CHUNK):
            for row in session.scalars(
                select(table).where(table.ref.in_(unique[start : start + _CHUNK]))
            ):
                out[(kind, row.ref)] = _typed(kind, row)
    return out


def _typed(kind: RecordKind, row: Any) -> Payment | Message | CallSession | Account:
    if kind is RecordKind.PAYMENTS:
        return stored.payment_of(row)
    if kind is RecordKind.MESSAGES:
        return stored.message_of(row)
    if kind is RecordKind.SESSIONS:
        return stored.session_of(row)
    return stored.account_of(row)


def context_document(session: Session, case: Case) -> ContextDoc | None:
    """The case's context part (None when the case has no context signal): the latest risk
    kept with the case and every record behind its reasons, in time order."""
    kept: Mapping[str, Any] = (case.subject or {}).get("context") or {}
    rows = list(
        session.execute(
            select(CaseContextRow.kind, CaseContextRow.ref, CaseContextRow.indicator)
            .where(CaseContextRow.case_id == case.id)
            .order_by(CaseContextRow.id)
        )
    )
    if not kept and not rows:
        return None
    indicators: dict[tuple[RecordKind, str], list[str]] = {}
    for kind, ref, indicator in rows:
        try:
            key = (RecordKind(kind), ref)
        except ValueError:
            continue
        indicators.setdefault(key, [])
        if indicator not in indicators[key]:
            indicators[key].append(indicator)
    records = load_records(session, indicators)
    docs: list[ContextRowDoc] = []
    for (kind, ref), names in indicators.items():
        record = records.get((kind, ref))
        docs.append(
            {
                "kind": kind.value,
                "ref": ref,
                "indicators": sorted(names),
                "at": _when(record) if record is not None else None,
                "found": record is not None,
                "record": record_json(record) if record is not None else {},
            }
        )
    docs.sort(key=lambda d: (d["at"] is None, d["at"] or "", d["kind"], d["ref"]))
    reasons: list[ContextReasonDoc] = [
        {
            "indicator": str(r.get("indicator", "")),
            "summary": str(r.get("summary", "")),
            "weight": float(r.get("weight") or 0.0),
            "role": str(r.get("role") or "unknown"),
            "at": r.get("at") if isinstance(r.get("at"), str) else None,
        }
        for r in kept.get("reasons") or ()
        if isinstance(r, Mapping)
    ]
    return {
        "account": str(kept.get("account") or (case.subject or {}).get("account") or ""),
        "platform": kept.get("platform") if isinstance(kept.get("platform"), str) else None,
        "score": float(kept.get("score") or 0.0),
        "role": str(kept.get("role") or "unknown"),
        "indicators": [str(i) for i in kept.get("indicators") or ()],
        "assessment": kept.get("assessment") if isinstance(kept.get("assessment"), str) else None,
        "scored_at": kept.get("scored_at") if isinstance(kept.get("scored_at"), str) else None,
        "reasons": reasons,
        "rows": docs,
    }
