"""`SessionsEvaluator` (name ``sessions``): call and streaming sessions read together with
payments.

* ``payment_near_session`` (strong): A paid B (an amount in the rule's band, not a
  family-shaped pair) within ``window_hours`` before the start or after the end of a
  call/streaming session in which A and B both took part (FATF 2025 and
  AUSTRAC 2022 describe the payment arranged around the show). A reason on the payer
  (viewer) and on the payee (facilitator), naming the payments and the session.
* ``payment_to_session_country``: A paid someone in the country another participant of
  A's session connected from, within the window (the payee is often not the account on the
  call).
* ``night_corridor_session``: sessions with a participant connected from a corridor
  country while it was night for another participant (their account's zone, else their
  country's main zone from the rules).

Sessions are matched to payments with one sorted key per (payer, payee) or (payer, payee
country) and two `numpy.searchsorted` calls per session pair, not a scan per session.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from vangnet.config import Settings
from vangnet.context.findings import Reason, Role, RowRef
from vangnet.context.payments.corridor import corridor_mask
from vangnet.context.payments.explain import SessionIndicator as SI
from vangnet.context.payments.explain import countries_text, eur, payment_reason
from vangnet.context.payments.groups import I64
from vangnet.context.payments.rules import Rules, default_rules, load_rules
from vangnet.context.payments.table import NO_ZONE, PaymentTable, local_hours
from vangnet.context.population import Evaluator, Population
from vangnet.sources.records.model import CallSession, RecordKind


@dataclass(frozen=True)
class SessionPairs:
    """Every ordered pair (a, b) of participants of each session, as account codes of the
    payment table (participants it doesn't know get -1), with the session's times."""

    session: I64  # index into the session list
    a: I64
    b: I64
    b_country: I64  # the country code b connected from (-1: unknown / not in the table)
    start: I64
    end: I64


def session_pairs(sessions: list[CallSession], table: PaymentTable) -> SessionPairs:
    code = {ref: i for i, ref in enumerate(table.accounts) if ref is not None}
    cty = {c: i for i, c in enumerate(table.countries) if c is not None}
    rows: list[tuple[int, int, int, int, int, int]] = []
    for k, s in enumerate(sessions):
        start = int(s.started_at.timestamp())
        end = int((s.ended_at or s.started_at).timestamp())
        countries = list(s.countries) + [None] * (len(s.participants) - len(s.countries))
        for i, a in enumerate(s.participants):
            for j, b in enumerate(s.participants):
                if i != j:
                    bc = countries[j]
                    rows.append(
                        (k, code.get(a, -1), code.get(b, -1), cty.get(bc or "", -1), start, end)
                    )
    arr = np.array(rows, dtype=np.int64).reshape(-1, 6)
    return SessionPairs(*(arr[:, c].copy() for c in range(6)))


def _match(pay_key: I64, t: I64, idx: I64, key: I64, lo: I64, hi: I64) -> tuple[I64, I64, I64]:
    """Payments ``idx`` with ``pay_key`` == ``key`` and ``lo`` <= t <= ``hi``, per query:
    (sorted payment indices, first, stop) so query q matches ``order[first[q]:stop[q]]``."""
    if idx.size == 0 or key.size == 0:
        z = np.zeros(key.size, dtype=np.int64)
        return idx[:0], z, z
    t0 = int(min(t[idx].min(), lo.min()))
    span = int(max(t[idx].max(), hi.max())) - t0 + 2
    # Dense codes for the keys first, so code * span stays far inside int64 however many
    # accounts there are (a pair key alone can reach accounts squared).
    _, dense = np.unique(np.concatenate([pay_key[idx], key]), return_inverse=True)
    pay_dense = np.empty(pay_key.size, dtype=np.int64)
    pay_dense[idx] = dense[: idx.size]
    query = dense[idx.size :].astype(np.int64)
    order = idx[np.lexsort((t[idx], pay_dense[idx]))]
    sorted_key = pay_dense[order] * span + (t[order] - t0)
    first = np.searchsorted(sorted_key, query * span + (lo - t0), side="left")
    stop = np.searchsorted(sorted_key, query * span + (hi - t0), side="right")
    return order, first, stop


class SessionsEvaluator(Evaluator):
    """Sessions near payments, and corridor sessions at the sender's night."""

    name = "sessions"
    version = "1"
    summary = (
        "Call/streaming sessions with payments: a payment between participants around the "
        "session, payments to the session's country, corridor sessions at night"
    )

    def __init__(self, rules: Rules | None = None) -> None:
        self.rules = rules or default_rules()

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(load_rules(settings.context_payment_rules))

    def evaluate(self, population: Population) -> list[Reason]:
        sessions = sorted(population.sessions, key=lambda s: s.started_at)
        if not sessions:
            return []
        table = PaymentTable.of(population, self.rules)
        return self.evaluate_table(table, sessions, population)

    def evaluate_table(
        self, table: PaymentTable, sessions: list[CallSession], population: Population
    ) -> list[Reason]:
        pairs = session_pairs(sessions, table)
        out = self._near(table, sessions, pairs)
        out += self._night(sessions, population)
        return out

    def _near(
        self, table: PaymentTable, sessions: list[CallSession], pairs: SessionPairs
    ) -> list[Reason]:
        rules = self.rules
        size = max(len(table.accounts), 1)
        out: list[Reason] = []
        known = (pairs.a >= 0) & (pairs.b >= 0)
        near = rules.sessions.payment_near_session
        w = int(near.window_hours * 3600)
        eligible = np.flatnonzero(~table.family & table.in_band(rules, near.band))
        q = np.flatnonzero(known)
        order, first, stop = _match(
            table.sender * size + table.beneficiary,
            table.t,
            eligible,
            pairs.a[q] * size + pairs.b[q],
            pairs.start[q] - w,
            pairs.end[q] + w,
        )
        paid: dict[tuple[int, int], list[tuple[int, I64]]] = defaultdict(list)
        for k in np.flatnonzero(stop > first).tolist():
            p = int(q[k])
            paid[(int(pairs.a[p]), int(pairs.b[p]))].append(
                (int(pairs.session[p]), order[first[k] : stop[k]])
            )
        for (a, b), hits in paid.items():
            rows = np.unique(np.concatenate([r for _, r in hits]))
            if rows.size < near.min_payments:
                continue
            sess = sorted({s for s, _ in hits})
            platforms = sorted({sessions[s].platform for s in sess})
            total = float(np.nansum(table.eur[rows]))
            for account, role, text in (
                (a, Role.VIEWER, f"paid {table.account(b)}"),
                (b, Role.FACILITATOR, f"was paid by {table.account(a)}"),
            ):
                summary = (
                    f"{text} {rows.size} times ({eur(total)}) within {near.window_hours:g} h "
                    f"of {len(sess)} session{'s' if len(sess) > 1 else ''} between them on "
                    f"{', '.join(platforms)}"
                )
                reason = payment_reason(
                    table,
                    SI.PAYMENT_NEAR_SESSION,
                    account=account,
                    weight=near.weight,
                    summary=summary,
                    rows=rows,
                    max_rows=rules.max_rows,
                    role=role,
                    details={"sessions": len(sess)},
                )
                out.append(_with_sessions(reason, [sessions[s] for s in sess], rules.max_rows))
        # Payments to the country another participant connected from (not to b itself).
        country = rules.sessions.payment_to_session_country
        w = int(country.window_hours * 3600)
        ncty = max(len(table.countries), 1)
        q = np.flatnonzero((pairs.a >= 0) & (pairs.b_country >= 0))
        corr = np.flatnonzero(corridor_mask(table) & table.in_band(rules, country.band))
        order, first, stop = _match(
            table.sender * ncty + table.beneficiary_country,
            table.t,
            corr,
            pairs.a[q] * ncty + pairs.b_country[q],
            pairs.start[q] - w,
            pairs.end[q] + w,
        )
        by_sender: dict[int, list[tuple[int, I64]]] = defaultdict(list)
        on_call: dict[int, list[int]] = defaultdict(list)
        for k_session, member in zip(pairs.session.tolist(), pairs.b.tolist(), strict=True):
            on_call[k_session].append(member)
        for k in np.flatnonzero(stop > first).tolist():
            p = int(q[k])
            rows = order[first[k] : stop[k]]
            rows = rows[~np.isin(table.beneficiary[rows], on_call[int(pairs.session[p])])]
            if rows.size:
                by_sender[int(pairs.a[p])].append((int(pairs.session[p]), rows))
        for a, hits in by_sender.items():
            rows = np.unique(np.concatenate([r for _, r in hits]))
            if rows.size < country.min_payments:
                continue
            sess = sorted({s for s, _ in hits})
            summary = (
                f"paid {rows.size} times to {countries_text(table, rows)} within "
                f"{country.window_hours:g} h of {len(sess)} session"
                f"{'s' if len(sess) > 1 else ''} with someone connected from there"
            )
            reason = payment_reason(
                table,
                SI.PAYMENT_TO_SESSION_COUNTRY,
                account=a,
                weight=country.weight,
                summary=summary,
                rows=rows,
                max_rows=rules.max_rows,
                details={"sessions": len(sess)},
            )
            out.append(_with_sessions(reason, [sessions[s] for s in sess], rules.max_rows))
        return out

    def _night(self, sessions: list[CallSession], population: Population) -> list[Reason]:
        """Sessions with a corridor participant at another participant's local night."""
        rules = self.rules
        rule = rules.sessions.night_corridor_session
        night = rules.indicators.night
        high = rules.high_risk
        zones: list[ZoneInfo] = []
        zone_index: dict[str, int] = {}
        who: list[str] = []
        t: list[int] = []
        zcode: list[int] = []
        which: list[int] = []
        for k, s in enumerate(sessions):
            countries = list(s.countries) + [None] * (len(s.participants) - len(s.countries))
            if not any(c in high for c in countries if c):
                continue
            for p, c in zip(s.participants, countries, strict=True):
                if c in high:
                    continue
                acc = population.accounts.get(p)
                name = (acc.timezone if acc else None) or rules.timezones.get(
                    (c or (acc.country if acc else None) or "").upper()
                )
                code = NO_ZONE
                if name:
                    if name not in zone_index:
                        try:
                            zones.append(ZoneInfo(name))
                            zone_index[name] = len(zones) - 1
                        except (ZoneInfoNotFoundError, ValueError):
                            zone_index[name] = NO_ZONE
                    code = zone_index[name]
                who.append(p)
                t.append(int(s.started_at.timestamp()))
                zcode.append(code)
                which.append(k)
        if not who:
            return []
        hours = local_hours(np.array(t, dtype=np.int64), np.array(zcode, dtype=np.int64), zones)
        if night.night_start <= night.night_end:
            is_night = (hours >= night.night_start) & (hours < night.night_end)
        else:
            is_night = (hours >= night.night_start) | (hours < night.night_end)
        found: dict[str, list[int]] = defaultdict(list)
        for i in np.flatnonzero(is_night).tolist():
            found[who[i]].append(which[i])
        out = []
        for account, ks in found.items():
            if len(ks) < rule.min_count:
                continue
            hit = [sessions[k] for k in sorted(set(ks))]
            where = sorted({c for s in hit for c in s.countries if c in high})
            out.append(
                Reason(
                    indicator=str(SI.NIGHT_CORRIDOR_SESSION),
                    account=account,
                    weight=rule.weight,
                    summary=(
                        f"{len(hit)} sessions with someone connected from {', '.join(where)} "
                        "at night in this account's local time"
                    ),
                    rows=tuple(RowRef(RecordKind.SESSIONS, s.ref) for s in hit[: rules.max_rows]),
                    at=max(s.started_at for s in hit),
                    role=Role.VIEWER,
                    details={"sessions": len(hit)},
                )
            )
        return out


def _with_sessions(reason: Reason, sessions: list[CallSession], max_rows: int) -> Reason:
    """``reason`` with the sessions behind it added to its rows."""
    extra = tuple(RowRef(RecordKind.SESSIONS, s.ref) for s in sessions[:max_rows])
    return Reason(
        indicator=reason.indicator,
        account=reason.account,
        weight=reason.weight,
        summary=reason.summary,
        rows=reason.rows + extra,
        at=reason.at,
        role=reason.role,
        details=reason.details,
    )
