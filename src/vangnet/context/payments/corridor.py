"""Payment indicators about *who is paid where, how much and when*: low-value frequent
corridor payments, hubs and the senders who pay them, cover narratives, risky purchases and
travel (only together with corridor payments), night-time payments in the sender's local
time and across time zones, round amounts, no family link, the Egmont / ACAMS pattern and
crypto among young senders.

"Corridor payments" everywhere below: payments (not card purchases) to a beneficiary in a
high-risk corridor country (rules ``corridors.use``) that are not part of a family-shaped
pair (`vangnet.context.payments.family`). Each function takes the `PaymentTable` and the
`Rules` and returns its reasons; sources per indicator are in ``default_rules.toml`` and
``docs/context-indicators.md``.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from vangnet.context.findings import Reason, Role
from vangnet.context.payments.explain import (
    PaymentIndicator as PI,
)
from vangnet.context.payments.explain import (
    band_text,
    countries_text,
    eur,
    payment_reason,
)
from vangnet.context.payments.groups import BOOL, best_windows, by_group_time, segments
from vangnet.context.payments.rules import Rules
from vangnet.context.payments.table import CHANNELS, PaymentTable, matched_words
from vangnet.sources.records.model import Channel

DAY_S = 86_400


def corridor_mask(table: PaymentTable) -> BOOL:
    """Payments to a corridor country, not card purchases, not family-shaped."""
    card = CHANNELS.index(Channel.CARD)
    mask: BOOL = table.corridor & ~table.family & (table.channel != card)
    return mask


def _hours_between(hours: np.ndarray, start: int, end: int) -> BOOL:
    if start <= end:
        return (hours >= start) & (hours < end)
    return (hours >= start) | (hours < end)  # wraps midnight, e.g. 22-6


def _per_sender(table: PaymentTable, mask: BOOL) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The payments of ``mask`` by sender: (order, sender codes, [start, stop) per sender)."""
    order = by_group_time(table.sender, table.t, np.flatnonzero(mask))
    keys, start, stop = segments(table.sender[order])
    return order, keys, np.stack([start, stop], axis=1) if keys.size else np.zeros((0, 2), int)


def low_value_corridor(table: PaymentTable, rules: Rules) -> list[Reason]:
    rule = rules.indicators.low_value_corridor
    lo, hi = rules.band_eur(rule.band)
    mask = corridor_mask(table) & table.in_band(rules, rule.band)
    w = best_windows(table.sender, table.t, np.flatnonzero(mask), rule.window_days * DAY_S)
    out = []
    for g in np.flatnonzero(w.count >= rule.min_count).tolist():
        rows = w.rows(g)
        summary = (
            f"{rows.size} payments of {band_text(lo, hi)} to {countries_text(table, rows)} "
            f"in {rule.window_days:g} days (median {eur(float(np.median(table.eur[rows])))})"
        )
        out.append(
            payment_reason(
                table,
                PI.LOW_VALUE_CORRIDOR,
                account=int(w.groups[g]),
                weight=rule.weight,
                summary=summary,
                rows=rows,
                max_rows=rules.max_rows,
            )
        )
    return out


def hubs(table: PaymentTable, rules: Rules) -> list[Reason]:
    """Hub beneficiaries (role facilitator) and a reason on each sender that pays one."""
    rule = rules.indicators.hub_beneficiary
    lo, hi = rules.band_eur(rule.band)
    idx = np.flatnonzero(corridor_mask(table) & table.in_band(rules, rule.band))
    if idx.size == 0:
        return []
    size = len(table.accounts)
    ben = table.beneficiary[idx]
    pairs = np.unique(ben * size + table.sender[idx])
    senders = np.bincount(pairs // size, minlength=size)
    ncty = len(table.countries)
    cty_pairs = np.unique(ben * ncty + table.sender_country[idx])
    countries = np.bincount(cty_pairs // ncty, minlength=size)
    hub = (senders >= rule.min_senders) & (countries >= rule.min_countries)
    if not hub.any():
        return []
    out: list[Reason] = []
    to_hub = idx[hub[ben]]
    order = by_group_time(table.beneficiary, table.t, to_hub)
    keys, start, stop = segments(table.beneficiary[order])
    for b, s0, s1 in zip(keys.tolist(), start.tolist(), stop.tolist(), strict=True):
        rows = order[s0:s1]
        summary = (
            f"paid by {senders[b]} senders in {countries[b]} countries "
            f"({rows.size} payments of {band_text(lo, hi)}, median "
            f"{eur(float(np.median(table.eur[rows])))})"
        )
        out.append(
            payment_reason(
                table,
                PI.HUB_BENEFICIARY,
                account=b,
                weight=rule.weight,
                summary=summary,
                rows=rows,
                max_rows=rules.max_rows,
                role=Role.FACILITATOR,
                details={"senders": int(senders[b]), "countries": int(countries[b])},
            )
        )
    pays = rules.indicators.pays_hub
    order = by_group_time(table.sender, table.t, to_hub)
    keys, start, stop = segments(table.sender[order])
    for s, s0, s1 in zip(keys.tolist(), start.tolist(), stop.tolist(), strict=True):
        rows = order[s0:s1]
        b = int(Counter(table.beneficiary[rows].tolist()).most_common(1)[0][0])
        summary = (
            f"pays a beneficiary paid by {senders[b]} senders in {countries[b]} countries "
            f"({rows.size} payments to {table.account(b)})"
        )
        out.append(
            payment_reason(
                table,
                PI.PAYS_HUB,
                account=s,
                weight=pays.weight,
                summary=summary,
                rows=rows,
                max_rows=rules.max_rows,
                details={"hub": table.account(b)},
            )
        )
    return out


def cover_narrative(table: PaymentTable, rules: Rules) -> list[Reason]:
    rule = rules.indicators.cover_narrative
    mask = corridor_mask(table) & table.in_band(rules, rule.band) & table.cover
    order, keys, spans = _per_sender(table, mask)
    out = []
    words = rules.cover_words
    for s, (s0, s1) in zip(keys.tolist(), spans.tolist(), strict=True):
        if s1 - s0 < rule.min_count:
            continue
        rows = order[s0:s1]
        texts = {table.payments[int(i)].narrative for i in rows}
        found = list(dict.fromkeys(w for x in sorted(texts) for w in matched_words(x, words)))
        summary = (
            f"{rows.size} payments to {countries_text(table, rows)} with cover narratives "
            f"({', '.join(repr(w) for w in found[:5])})"
        )
        out.append(
            payment_reason(
                table,
                PI.COVER_NARRATIVE,
                account=s,
                weight=rule.weight,
                summary=summary,
                rows=rows,
                max_rows=rules.max_rows,
                details={"keywords": found},
            )
        )
    return out


def _with_corridor(
    table: PaymentTable, rules: Rules, mask: BOOL, min_corridor: int
) -> list[tuple[int, np.ndarray, np.ndarray]]:
    """Senders with payments in ``mask`` and at least ``min_corridor`` corridor payments in
    the low-value band: (sender, mask rows, corridor rows)."""
    band = rules.indicators.low_value_corridor.band
    corr = corridor_mask(table) & table.in_band(rules, band)
    n_corr = np.bincount(table.sender[corr], minlength=len(table.accounts))
    order, keys, spans = _per_sender(table, mask & (n_corr[table.sender] >= min_corridor))
    if keys.size == 0:
        return []
    corr_order, corr_keys, corr_spans = _per_sender(table, corr & np.isin(table.sender, keys))
    where = dict(zip(corr_keys.tolist(), corr_spans.tolist(), strict=True))
    out = []
    for s, (s0, s1) in zip(keys.tolist(), spans.tolist(), strict=True):
        c0, c1 = where[s]
        out.append((s, order[s0:s1], corr_order[c0:c1]))
    return out


def purchases(table: PaymentTable, rules: Rules) -> list[Reason]:
    """Risky purchases (VPN, spyware, video capture, live streaming, webcam platforms) by a
    sender who also makes corridor payments: never on their own."""
    rule = rules.indicators.purchases
    out = []
    found = _with_corridor(table, rules, table.risky_purchase, rule.min_corridor_payments)
    for s, bought, corr in found:
        cats = sorted({table.payments[int(i)].merchant_category or "" for i in bought})
        summary = (
            f"bought {', '.join(cats)} ({bought.size} purchases) and made {corr.size} "
            f"low-value payments to {countries_text(table, corr)}"
        )
        out.append(
            payment_reason(
                table,
                PI.PURCHASES,
                account=s,
                weight=rule.weight,
                summary=summary,
                rows=np.concatenate([bought, corr]),
                max_rows=rules.max_rows,
                details={"categories": cats},
            )
        )
    return out


def travel(table: PaymentTable, rules: Rules) -> list[Reason]:
    """Travel bought to a high-risk country by a sender who also makes corridor payments."""
    rule = rules.indicators.travel
    out = []
    for s, trips, corr in _with_corridor(table, rules, table.travel, rule.min_corridor_payments):
        dest = sorted(
            {
                str(table.payments[int(i)].details.get("destination") or "").upper()
                or table.country(int(table.beneficiary_country[i]))
                for i in trips
            }
        )
        summary = (
            f"bought travel to {', '.join(dest)} and made {corr.size} low-value payments "
            f"to {countries_text(table, corr)}"
        )
        out.append(
            payment_reason(
                table,
                PI.TRAVEL,
                account=s,
                weight=rule.weight,
                summary=summary,
                rows=np.concatenate([trips, corr]),
                max_rows=rules.max_rows,
            )
        )
    return out


def night(table: PaymentTable, rules: Rules) -> list[Reason]:
    """Corridor payments at night in the sender's local time; and, separately, those made
    while it was day for the beneficiary (across time zones, FATF 2025)."""
    rule = rules.indicators.night
    across = rules.indicators.night_across_zones
    base = corridor_mask(table) & table.in_band(rules, rule.band) & (table.sender_hour >= 0)
    is_night = base & _hours_between(table.sender_hour, rule.night_start, rule.night_end)
    size = len(table.accounts)
    known = np.bincount(table.sender[base], minlength=size)
    nights = np.bincount(table.sender[is_night], minlength=size)
    fire = (nights >= rule.min_count) & (nights >= rule.min_share * np.maximum(known, 1))
    order, keys, spans = _per_sender(table, is_night & fire[table.sender])
    out = []
    for s, (s0, s1) in zip(keys.tolist(), spans.tolist(), strict=True):
        rows = order[s0:s1]
        hours = Counter(int(h) for h in table.sender_hour[rows]).most_common(3)
        summary = (
            f"{rows.size} of {known[s]} corridor payments at night in the sender's local time "
            f"({rule.night_start:02d}:00-{rule.night_end:02d}:00; commonest hours "
            f"{', '.join(f'{h:02d}h' for h, _ in hours)})"
        )
        out.append(
            payment_reason(
                table,
                PI.NIGHT,
                account=s,
                weight=rule.weight,
                summary=summary,
                rows=rows,
                max_rows=rules.max_rows,
            )
        )
    day = is_night & _hours_between(table.beneficiary_hour, across.day_start, across.day_end)
    order, keys, spans = _per_sender(table, day)
    for s, (s0, s1) in zip(keys.tolist(), spans.tolist(), strict=True):
        if s1 - s0 < across.min_count:
            continue
        rows = order[s0:s1]
        summary = (
            f"{rows.size} payments at night for the sender while day for the beneficiary in "
            f"{countries_text(table, rows)}"
        )
        out.append(
            payment_reason(
                table,
                PI.NIGHT_ACROSS_ZONES,
                account=s,
                weight=across.weight,
                summary=summary,
                rows=rows,
                max_rows=rules.max_rows,
            )
        )
    return out


def round_amounts(table: PaymentTable, rules: Rules) -> list[Reason]:
    rule = rules.indicators.round_amounts
    base = corridor_mask(table) & table.in_band(rules, rule.band)
    q = table.amount / rule.multiple
    is_round = base & (np.abs(q - np.round(q)) < 1e-9)
    size = len(table.accounts)
    total = np.bincount(table.sender[base], minlength=size)
    rounds = np.bincount(table.sender[is_round], minlength=size)
    fire = (rounds >= rule.min_count) & (rounds >= rule.min_share * np.maximum(total, 1))
    order, keys, spans = _per_sender(table, is_round & fire[table.sender])
    out = []
    for s, (s0, s1) in zip(keys.tolist(), spans.tolist(), strict=True):
        rows = order[s0:s1]
        summary = (
            f"{rows.size} of {total[s]} corridor payments in round amounts "
            f"(multiples of {rule.multiple:g} in their currency)"
        )
        out.append(
            payment_reason(
                table,
                PI.ROUND_AMOUNTS,
                account=s,
                weight=rule.weight,
                summary=summary,
                rows=rows,
                max_rows=rules.max_rows,
            )
        )
    return out


def no_family_link(table: PaymentTable, rules: Rules) -> list[Reason]:
    """Corridor payments whose sender and beneficiary are both named and share no surname
    (family-shaped pairs are already left out of the corridor mask)."""
    rule = rules.indicators.no_family_link
    mask = corridor_mask(table) & table.in_band(rules, rule.band) & table.named
    order, keys, spans = _per_sender(table, mask)
    out = []
    for s, (s0, s1) in zip(keys.tolist(), spans.tolist(), strict=True):
        if s1 - s0 < rule.min_count:
            continue
        rows = order[s0:s1]
        bens = len(set(table.beneficiary[rows].tolist()))
        summary = (
            f"{rows.size} payments to {bens} beneficiar{'y' if bens == 1 else 'ies'} in "
            f"{countries_text(table, rows)} sharing no surname, not shaped like family "
            "remittances"
        )
        out.append(
            payment_reason(
                table,
                PI.NO_FAMILY_LINK,
                account=s,
                weight=rule.weight,
                summary=summary,
                rows=rows,
                max_rows=rules.max_rows,
            )
        )
    return out


def egmont(table: PaymentTable, rules: Rules) -> list[Reason]:
    """Egmont / ACAMS: P2P or wire payments to the Egmont corridor (PH) adding up to at most
    the band (US$1,000) in the window (12 months), some with field-70 keywords."""
    rule = rules.indicators.egmont
    _, hi = rules.band_eur(rule.band)
    dest = np.array([c in rules.corridors[rule.corridor] for c in table.countries], dtype=bool)
    chans = np.isin(table.channel, [CHANNELS.index(Channel.P2P), CHANNELS.index(Channel.WIRE)])
    mask = chans & dest[table.beneficiary_country] & ~table.family & ~np.isnan(table.eur)
    w = best_windows(table.sender, table.t, np.flatnonzero(mask), rule.window_days * DAY_S)
    out = []
    for g in np.flatnonzero(w.count >= rule.min_count).tolist():
        rows = w.rows(g)
        total = float(table.eur[rows].sum())
        keyed = rows[table.egmont_words[rows]]
        if total > hi or keyed.size < rule.min_keyword_payments:
            continue
        words = rules.keywords.get("egmont", [])
        found = sorted(
            {w for i in keyed for w in matched_words(table.payments[i].narrative, words)}
        )
        summary = (
            f"{rows.size} P2P/wire payments to {countries_text(table, rows)} totalling "
            f"{eur(total)} (≤ {eur(hi)}) within {rule.window_days:g} days, {keyed.size} with "
            f"field-70 words ({', '.join(found)})"
        )
        out.append(
            payment_reason(
                table,
                PI.EGMONT,
                account=int(w.groups[g]),
                weight=rule.weight,
                summary=summary,
                rows=rows,
                max_rows=rules.max_rows,
                details={"keywords": found},
            )
        )
    return out


def crypto_young(table: PaymentTable, rules: Rules) -> list[Reason]:
    rule = rules.indicators.crypto_young
    mask = (
        (table.channel == CHANNELS.index(Channel.CRYPTO))
        & (table.sender_age >= rule.min_age)
        & (table.sender_age <= rule.max_age)
    )
    order, keys, spans = _per_sender(table, mask)
    out = []
    for s, (s0, s1) in zip(keys.tolist(), spans.tolist(), strict=True):
        rows = order[s0:s1]
        lo, hi = int(table.sender_age[rows].min()), int(table.sender_age[rows].max())
        age = f"{lo}" if lo == hi else f"{lo}-{hi}"
        summary = (
            f"{rows.size} crypto payment{'s' if rows.size > 1 else ''} by a sender aged {age} "
            "(FINTRAC: younger senders use crypto)"
        )
        out.append(
            payment_reason(
                table,
                PI.CRYPTO_YOUNG,
                account=s,
                weight=rule.weight,
                summary=summary,
                rows=rows,
                max_rows=rules.max_rows,
            )
        )
    return out
