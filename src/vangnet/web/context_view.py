"""What a context case's page shows (`routes_review`): the risk and its reasons, a timeline of
the payments, messages and call sessions behind them (filterable by kind; each row names the
reasons it supports), and the network picture drawn on the server (`vangnet.context.picture`).

A message's text is personal data and may be distressing: the page withholds it (its length
only) until a reviewer reveals that one message, a POST that is audited
(``context.message.reveal``), as media reveals are.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from markupsafe import Markup
from sqlalchemy.orm import Session

from vangnet.cases.document import CaseDocument, ContextRowDoc
from vangnet.context import stored
from vangnet.context.case_graph import account as account_node
from vangnet.context.case_graph import case_graph
from vangnet.context.case_rows import load_records
from vangnet.context.picture import draw_svg
from vangnet.errors import NotFoundError, ValidationError
from vangnet.sources.records.model import Account, Message, RecordKind
from vangnet.store.models import ContextAccount

#: The kinds the timeline can be filtered by (``?rows=``).
ROW_KINDS = (RecordKind.PAYMENTS.value, RecordKind.MESSAGES.value, RecordKind.SESSIONS.value)


def _line(row: ContextRowDoc, revealed: Mapping[str, str]) -> dict[str, Any]:
    """One timeline row as the page shows it."""
    rec = row["record"]
    kind = row["kind"]
    line: dict[str, Any] = {
        "kind": kind,
        "ref": row["ref"],
        "at": row["at"],
        "found": row["found"],
        "indicators": row["indicators"],
        "text": None,
        "hidden_chars": 0,
    }
    if not row["found"]:
        line["what"] = "no longer stored"
    elif kind == RecordKind.PAYMENTS.value:
        line["what"] = (
            f"{rec.get('sender')} paid {rec.get('beneficiary')} {rec.get('amount')} "
            f"{rec.get('currency')} ({rec.get('channel')}, {rec.get('sender_country') or '?'} to "
            f"{rec.get('beneficiary_country') or '?'})"
        )
        line["note"] = rec.get("narrative") or ""
    elif kind == RecordKind.MESSAGES.value:
        to = ", ".join(str(r) for r in rec.get("recipients") or []) or "?"
        line["what"] = f"{rec.get('sender')} wrote to {to} in {rec.get('conversation')}" + (
            f" on {rec.get('platform')}" if rec.get("platform") else ""
        )
        if row["ref"] in revealed:
            line["text"] = revealed[row["ref"]]
        else:
            line["hidden_chars"] = int(rec.get("text_chars") or 0)
    elif kind == RecordKind.SESSIONS.value:
        people = ", ".join(str(p) for p in rec.get("participants") or [])
        line["what"] = f"call on {rec.get('platform')}: {people}" + (
            f" until {rec.get('ended_at')}" if rec.get("ended_at") else ""
        )
    else:
        line["what"] = f"account {rec.get('ref')} ({rec.get('country') or '?'})"
    return line


def context_view(
    session: Session,
    doc: CaseDocument,
    *,
    kind: str | None,
    revealed: Collection[str] = (),
    max_nodes: int = 60,
) -> dict[str, Any] | None:
    """The page's context part (None for a case without context signals)."""
    context = doc.get("context")
    if context is None:
        return None
    if kind is not None and kind not in ROW_KINDS:
        raise ValidationError(f"unknown record kind {kind!r} (known: {', '.join(ROW_KINDS)})")
    rows = context["rows"]
    counts = {k: sum(1 for r in rows if r["kind"] == k) for k in ROW_KINDS}
    loaded = load_records(session, [(RecordKind(r["kind"]), r["ref"]) for r in rows if r["found"]])
    records = list(loaded.values())
    texts = {  # the revealed messages' texts, read from the store (the document withholds them)
        ref: m.text
        for ref in revealed
        if isinstance(m := loaded.get((RecordKind.MESSAGES, ref)), Message)
    }
    shown = [_line(r, texts) for r in rows if kind is None or r["kind"] == kind]
    names = {context["account"]}
    for r in rows:
        rec = r["record"]
        names.update(str(rec[k]) for k in ("sender", "beneficiary") if rec.get(k))
        names.update(str(p) for p in rec.get("participants") or [])
        names.update(str(p) for p in rec.get("recipients") or [])
    accounts = _accounts(session, names)
    graph = case_graph(
        records,
        accounts=accounts,
        focus=context["account"],
        role=context["role"],
        score=context["score"],
    )
    svg = draw_svg(
        graph,
        focus=account_node(context["account"]),
        max_nodes=max_nodes,
        title=f"Network of account {context['account']}: its payments, chats and calls",
    )
    return {
        "context": context,
        "rows": shown,
        "counts": counts,
        "filter": kind,
        "kinds": ROW_KINDS,
        "svg": Markup(svg),
        "nodes": graph.number_of_nodes(),
    }


def _accounts(session: Session, refs: Collection[str]) -> dict[str, Account]:
    from sqlalchemy import select

    wanted = sorted(refs)
    out: dict[str, Account] = {}
    for start in range(0, len(wanted), 500):
        for row in session.scalars(
            select(ContextAccount).where(ContextAccount.ref.in_(wanted[start : start + 500]))
        ):
            out[row.ref] = stored.account_of(row)
    return out


def message_of_case(doc: CaseDocument, ref: str) -> ContextRowDoc:
    """The case's message ``ref`` (`NotFoundError` when the case holds no such message)."""
    context = doc.get("context")
    for row in context["rows"] if context is not None else []:
        if row["kind"] == RecordKind.MESSAGES.value and row["ref"] == ref and row["found"]:
            return row
    raise NotFoundError(f"case {doc['id']} holds no message {ref[:80]!r}")
