"""Payment indicators about *how a sender's payments change*: escalation over time (AIC T&I
589), structuring under a reporting threshold, and bursts of new corridor beneficiaries.

Escalation is measured per sender on its corridor payments (sorted by time): Spearman's rank
correlation of amount with time (ranks by position; ties in amount broken by time, which
makes rho a little conservative) together with the ratio of the mean amount of the last
third to the first third; or a rising frequency: payments in the second half of the
sender's own span over the first half. All per sender with `numpy.bincount`, no loop per
payment.
"""

from __future__ import annotations

import numpy as np

from vangnet.context.findings import Reason
from vangnet.context.payments.corridor import DAY_S, corridor_mask
from vangnet.context.payments.explain import PaymentIndicator as PI
from vangnet.context.payments.explain import (
    band_text,
    countries_text,
    days_text,
    eur,
    payment_reason,
)
from vangnet.context.payments.groups import best_windows, by_group_time, segments
from vangnet.context.payments.rules import Rules
from vangnet.context.payments.table import PaymentTable


def escalation(table: PaymentTable, rules: Rules) -> list[Reason]:
    rule = rules.indicators.escalation
    mask = corridor_mask(table) & ~np.isnan(table.eur)
    order = by_group_time(table.sender, table.t, np.flatnonzero(mask))
    keys, start, stop = segments(table.sender[order])
    if keys.size == 0:
        return []
    n = stop - start
    grp = np.repeat(np.arange(keys.size), n)  # group number of each position in `order`
    pos = np.arange(order.size) - start[grp]  # time rank within the sender
    by_amount = np.lexsort((pos, table.eur[order], grp))  # positions sorted by (grp, amount)
    amount_rank = np.empty(order.size, dtype=np.int64)
    amount_rank[by_amount] = np.arange(order.size) - start[grp[by_amount]]
    d2 = np.bincount(grp, weights=(pos - amount_rank) ** 2.0, minlength=keys.size)
    nn = n.astype(np.float64)
    rho = 1.0 - 6.0 * d2 / np.maximum(nn * (nn * nn - 1.0), 1.0)
    amounts = table.eur[order]
    first = pos < n[grp] / 3.0
    last = pos >= 2.0 * n[grp] / 3.0
    mean_first = np.bincount(grp, amounts * first, keys.size) / np.maximum(
        np.bincount(grp, first.astype(float), keys.size), 1
    )
    mean_last = np.bincount(grp, amounts * last, keys.size) / np.maximum(
        np.bincount(grp, last.astype(float), keys.size), 1
    )
    ratio = mean_last / np.maximum(mean_first, 1e-9)
    t = table.t[order]
    t0, t1 = t[start], t[stop - 1]
    second = t > ((t0 + t1) / 2.0)[grp]
    later = np.bincount(grp, second.astype(float), keys.size)
    freq = later / np.maximum(nn - later, 1.0)
    enough = n >= rule.min_payments
    by_amount_fire = enough & (rho >= rule.min_rho) & (ratio >= rule.min_amount_ratio)
    by_freq_fire = enough & (freq >= rule.min_frequency_ratio)
    out = []
    for g in np.flatnonzero(by_amount_fire | by_freq_fire).tolist():
        rows = order[start[g] : stop[g]]
        parts = []
        if by_amount_fire[g]:
            parts.append(
                f"amounts rising from a mean of {eur(mean_first[g])} to {eur(mean_last[g])} "
                f"(Spearman rho {rho[g]:.2f})"
            )
        if by_freq_fire[g]:
            parts.append(f"{freq[g]:.1f}x as many payments in the second half of the span")
        summary = (
            f"{rows.size} corridor payments to {countries_text(table, rows)} over "
            f"{days_text(float(t1[g] - t0[g]))}: " + "; ".join(parts)
        )
        out.append(
            payment_reason(
                table,
                PI.ESCALATION,
                account=int(keys[g]),
                weight=rule.weight,
                summary=summary,
                rows=rows,
                max_rows=rules.max_rows,
                details={
                    "rho": round(float(rho[g]), 3),
                    "amount_ratio": round(float(ratio[g]), 3),
                    "frequency_ratio": round(float(freq[g]), 3),
                },
            )
        )
    return out


def structuring(table: PaymentTable, rules: Rules) -> list[Reason]:
    """Several payments just under a reporting threshold in a window, or several small
    payments (each at most ``split_max_share`` of it) to several beneficiaries within the
    window adding up to at least the threshold."""
    rule = rules.indicators.structuring
    thr = np.array([rule.thresholds.get(c, np.nan) for c in table.currency], dtype=np.float64)
    if table.n == 0 or np.isnan(thr).all():
        return []
    share = table.amount / thr  # of the threshold, in the payment's own currency
    under = ~np.isnan(share) & (share < 1.0)
    just = under & (share >= 1.0 - rule.margin)
    window = rule.window_days * DAY_S
    out: list[Reason] = []
    fired: set[int] = set()
    w = best_windows(table.sender, table.t, np.flatnonzero(just), window)
    for g in np.flatnonzero(w.count >= rule.min_count).tolist():
        rows = w.rows(g)
        s = int(w.groups[g])
        fired.add(s)
        summary = (
            f"{rows.size} payments just under the reporting threshold (within "
            f"{rule.margin:.0%}) in {rule.window_days:g} days"
        )
        out.append(
            payment_reason(
                table,
                PI.STRUCTURING,
                account=s,
                weight=rule.weight,
                summary=summary,
                rows=rows,
                max_rows=rules.max_rows,
                details={"thresholds": sorted({table.currency[int(i)] for i in rows})},
            )
        )
    # Split: a rolling sum of the share of the threshold per sender.
    small = under & (share >= 0.05) & (share <= rule.split_max_share)
    order = by_group_time(table.sender, table.t, np.flatnonzero(small))
    if order.size:
        owner = table.sender[order]
        tt = table.t[order]
        span = int(tt.max() - tt.min()) + int(window) + 2
        key = (owner - owner.min()) * span + (tt - tt.min())
        first = np.searchsorted(key, key - int(window), side="right")
        cum = np.r_[0.0, np.cumsum(share[order])]
        total = cum[np.arange(order.size) + 1] - cum[first]
        count = np.arange(order.size) - first + 1
        candidates = np.flatnonzero((total >= 1.0) & (count >= rule.split_min_count))
        done: set[int] = set()
        for p in candidates.tolist():
            who = int(owner[p])
            if who in fired or who in done:
                continue
            rows = order[first[p] : p + 1]
            bens = set(table.beneficiary[rows].tolist())
            if len(bens) < rule.split_min_beneficiaries:
                continue
            done.add(who)
            summary = (
                f"{rows.size} payments to {len(bens)} beneficiaries in "
                f"{rule.window_days:g} days, each under the reporting threshold, together "
                f"{total[p]:.0%} of it"
            )
            out.append(
                payment_reason(
                    table,
                    PI.STRUCTURING,
                    account=who,
                    weight=rule.weight,
                    summary=summary,
                    rows=rows,
                    max_rows=rules.max_rows,
                    details={"split": True},
                )
            )
    return out


def new_beneficiaries(table: PaymentTable, rules: Rules) -> list[Reason]:
    """A sender's first payments to several corridor beneficiaries within a short window."""
    rule = rules.indicators.new_beneficiaries
    lo, hi = rules.band_eur(rule.band)
    idx = np.flatnonzero(corridor_mask(table) & table.in_band(rules, rule.band))
    if idx.size == 0:
        return []
    size = len(table.accounts)
    pair = table.sender[idx] * size + table.beneficiary[idx]
    order = idx[np.lexsort((table.t[idx], pair))]
    pk = table.sender[order] * size + table.beneficiary[order]
    firsts = order[np.r_[True, pk[1:] != pk[:-1]]]
    w = best_windows(table.sender, table.t, firsts, rule.window_days * DAY_S)
    out = []
    for g in np.flatnonzero(w.count >= rule.min_new).tolist():
        rows = w.rows(g)
        summary = (
            f"first payments to {rows.size} new beneficiaries in "
            f"{countries_text(table, rows)} within {rule.window_days:g} days "
            f"({band_text(lo, hi)})"
        )
        out.append(
            payment_reason(
                table,
                PI.NEW_BENEFICIARIES,
                account=int(w.groups[g]),
                weight=rule.weight,
                summary=summary,
                rows=rows,
                max_rows=rules.max_rows,
            )
        )
    return out
