"""A case's context signals in words, for the reports that carry them: the NCMEC CyberTipline
report's additional information (`vangnet.reports.ncmec`), the case report for prosecutors
(`vangnet.reports.document`) and, in one line, each VICS media entry's ``Comments``
(`vangnet.reports.vics_cases`).

It says who the account is, its risk and the role it looks like, each reason's summary, how
many payments, messages and calls stand behind them (with the EUR total of the payments),
and the counterparties (the other accounts in those records, with their countries where
known). Message text stays out: it is on the case page, revealed and audited one message at
a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

#: At most this many counterparties are named (the rest are counted).
MAX_COUNTERPARTIES = 20


def counterparties(context: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """The other accounts in the case's records, most records first: (ref, country)."""
    me = context.get("account")
    seen: dict[str, list[Any]] = {}  # ref -> [records, country]

    def add(ref: object, country: object = None) -> None:
        if not isinstance(ref, str) or not ref or ref == me:
            return
        entry = seen.setdefault(ref, [0, None])
        entry[0] += 1
        if entry[1] is None and isinstance(country, str) and country:
            entry[1] = country

    for row in context.get("rows") or ():
        rec = row.get("record") or {}
        kind = row.get("kind")
        if kind == "payments":
            add(rec.get("sender"), rec.get("sender_country"))
            add(rec.get("beneficiary"), rec.get("beneficiary_country"))
        elif kind == "messages":
            add(rec.get("sender"))
            for to in rec.get("recipients") or ():
                add(to)
        elif kind == "sessions":
            people = list(rec.get("participants") or ())
            countries = list(rec.get("countries") or ())
            for i, who in enumerate(people):
                add(who, countries[i] if i < len(countries) else None)
    ranked = sorted(seen.items(), key=lambda kv: (-kv[1][0], kv[0]))
    return [(ref, data[1]) for ref, data in ranked]


def context_lines(context: Mapping[str, Any]) -> list[str]:
    """The summary as lines of text (empty for a case without context signals)."""
    if not context:
        return []
    rows = list(context.get("rows") or ())
    account = context.get("account") or "?"
    platform = f" on {context['platform']}" if context.get("platform") else ""
    lines = [
        f"Context signals: account {account}{platform}, risk {float(context.get('score') or 0):.2f}"
        f", looks like a {context.get('role') or 'unknown'} (indicators are grounds for "
        "review, not proof):"
    ]
    lines += [f"- {r.get('indicator')}: {r.get('summary')}" for r in context.get("reasons") or ()]
    payments = [r for r in rows if r.get("kind") == "payments" and r.get("found")]
    eur = Decimal(0)
    for r in payments:
        rec = r.get("record") or {}
        if rec.get("currency") == "EUR":
            try:
                eur += Decimal(str(rec.get("amount")))
            except (InvalidOperation, ValueError):
                continue
    counts = {k: sum(1 for r in rows if r.get("kind") == k) for k in ("messages", "sessions")}
    lines.append(
        f"Records behind them: {len(payments)} payments (EUR {eur:.2f} in euro), "
        f"{counts['messages']} messages, {counts['sessions']} call sessions."
    )
    others = counterparties(context)
    if others:
        named = [f"{ref} ({country})" if country else ref for ref, country in others]
        more = len(named) - MAX_COUNTERPARTIES
        lines.append(
            "Counterparties: "
            + ", ".join(named[:MAX_COUNTERPARTIES])
            + (f" and {more} more" if more > 0 else "")
            + "."
        )
    return lines


def context_comment(context: Mapping[str, Any]) -> str:
    """The context signals in one line (a VICS ``Comments`` field): the account, its risk and
    role, its indicators and how many records stand behind them."""
    rows = context.get("rows") or []
    counts = {
        kind: sum(1 for r in rows if isinstance(r, Mapping) and r.get("kind") == kind)
        for kind in ("payments", "messages", "sessions")
    }
    indicators = ", ".join(str(i) for i in context.get("indicators") or []) or "none"
    score = context.get("score")
    risk = f"{float(score):.2f}" if isinstance(score, int | float) else "?"
    return (
        f"context signals of account {context.get('account')}: risk {risk} "
        f"({context.get('role') or 'unknown'}; {indicators}); {counts['payments']} payments, "
        f"{counts['messages']} messages, {counts['sessions']} call sessions behind them"
    )
