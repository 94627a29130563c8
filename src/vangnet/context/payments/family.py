"""The family-remittance shape (FINTRAC Project Shadow: offenders' payments show "no family
link"): which payments belong to a sender-beneficiary pair that looks like family support.

A pair is family-shaped when the sender and beneficiary share a surname (account names, or
the ``sender_name`` / ``beneficiary_name`` a bank payment carries in ``details``), or when its
payments have the monthly-remittance shape: at least two of at least ``family_min_eur``, at
most ``family_max_per_month`` of them a month, all within
``family_max_day_spread`` days of the same day of the month (read on the pair's payments of
at least ``family_min_eur``, so small top-ups to the same relative don't break the shape; a
month-end wrap such as the 30th and the 1st counts as a spread of 29: a known
simplification). Family-shaped payments are left
out of every corridor count (low value, cover narrative, night, round amounts, escalation, new
beneficiaries, hubs): that is how a family flow damps the corridor reasons, and why
`no_family_link` only fires on the rest.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from vangnet.context.payments.rules import Rules

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
BOOL = npt.NDArray[np.bool_]

MONTH_S = 30.44 * 86_400


def family_shaped(
    sender: I64,
    beneficiary: I64,
    t: I64,
    eur: F64,
    same_surname: BOOL,
    *,
    n_accounts: int,
    rules: Rules,
) -> BOOL:
    """Per payment: whether its sender-beneficiary pair is family-shaped (see the module)."""
    n = sender.size
    if n == 0:
        return np.zeros(0, dtype=bool)
    rule = rules.indicators.no_family_link
    pair = sender * max(n_accounts, 1) + beneficiary
    _, inv = np.unique(pair, return_inverse=True)
    k = int(inv.max()) + 1
    named = np.bincount(inv, weights=same_surname.astype(np.float64), minlength=k) > 0
    # The monthly shape, read on the pair's larger payments only (top-ups don't break it).
    big = np.nan_to_num(eur, nan=0.0) >= rule.family_min_eur
    big_inv = inv[big]
    n_big = np.bincount(big_inv, minlength=k)
    tb = t[big]
    day = (
        tb.astype("datetime64[s]").astype("datetime64[D]")
        - tb.astype("datetime64[s]").astype("datetime64[M]")
    ).astype(np.int64)
    dmin = np.full(k, 99, dtype=np.int64)
    dmax = np.full(k, -1, dtype=np.int64)
    np.minimum.at(dmin, big_inv, day)
    np.maximum.at(dmax, big_inv, day)
    tmin = np.full(k, np.iinfo(np.int64).max, dtype=np.int64)
    tmax = np.full(k, np.iinfo(np.int64).min, dtype=np.int64)
    np.minimum.at(tmin, big_inv, tb)
    np.maximum.at(tmax, big_inv, tb)
    months = np.maximum((tmax - tmin) / MONTH_S, 1.0)
    monthly = (
        (n_big >= 2)
        & (dmax - dmin <= rule.family_max_day_spread)
        & (n_big / months <= rule.family_max_per_month)
    )
    shaped: BOOL = (named | monthly)[inv]
    return shaped
