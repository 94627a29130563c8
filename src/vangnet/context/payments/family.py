"""The family-remittance shape (FINTRAC Project Shadow: offenders' payments show "no family
link"): which payments belong to a sender-beneficiary pair that looks like family support.

A pair is family-shaped when the sender and beneficiary share a surname (account names, or
the ``sender_name`` / ``beneficiary_name`` a bank payment carries in ``details``), or when its
payments have the monthly-remittance shape: at least two, a mean of at least
``family_min_eur``, at most ``family_max_per_month`` a month, all within
``family_max_day_spread`` days of the same day of the month. Family-shaped payments are left
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
    _, inv, counts = np.unique(pair, return_inverse=True, return_counts=True)
    k = counts.size
    named = np.bincount(inv, weights=same_surname.astype(np.float64), minlength=k) > 0
    amounts = np.nan_to_num(eur, nan=0.0)
    mean = np.bincount(inv, weights=amounts, minlength=k) / counts
    day = (
        t.astype("datetime64[s]").astype("datetime64[D]")
        - t.astype("datetime64[s]").astype("datetime64[M]")
    ).astype(np.int64)
    dmin = np.full(k, 99, dtype=np.int64)
    dmax = np.full(k, -1, dtype=np.int64)
    np.minimum.at(dmin, inv, day)
    np.maximum.at(dmax, inv, day)
    tmin = np.full(k, np.iinfo(np.int64).max, dtype=np.int64)
    tmax = np.full(k, np.iinfo(np.int64).min, dtype=np.int64)
    np.minimum.at(tmin, inv, t)
    np.maximum.at(tmax, inv, t)
    months = np.maximum((tmax - tmin) / MONTH_S, 1.0)
    monthly = (
        (counts >= 2)
        & (mean >= rule.family_min_eur)
        & (dmax - dmin <= rule.family_max_day_spread)
        & (counts / months <= rule.family_max_per_month)
    )
    shaped: BOOL = (named | monthly)[inv]
    return shaped
