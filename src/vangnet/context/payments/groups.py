"""Vectorised group operations the payment indicators share: sort payments by a group key and
time, count payments in a trailing time window, pick each group's best window.

Each function takes the indices of the payments it considers (already filtered by the
indicator's mask) and returns arrays aligned with a sorted order; no Python loop per payment.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
BOOL = npt.NDArray[np.bool_]


def by_group_time(group: I64, t: I64, idx: I64) -> I64:
    """``idx`` sorted by (``group``, ``t``) of the payments it names."""
    if idx.size == 0:
        return idx
    return idx[np.lexsort((t[idx], group[idx]))]


@dataclass(frozen=True)
class Windows:
    """Per group: the trailing window of ``window_s`` seconds holding the most payments.

    ``groups``: the group keys that have payments; ``count``: payments in the best window;
    ``start``/``stop``: that window's slice of ``order`` (payment indices by group, time)."""

    order: I64
    groups: I64
    count: I64
    start: I64
    stop: I64

    def rows(self, g: int) -> I64:
        """The payment indices in the ``g``-th group's best window."""
        return self.order[self.start[g] : self.stop[g]]


def best_windows(group: I64, t: I64, idx: I64, window_s: float) -> Windows:
    """Each group's densest trailing window (payments at ``t_end - window_s < t <= t_end``)."""
    order = by_group_time(group, t, idx)
    if order.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Windows(order, empty, empty, empty, empty)
    g = group[order]
    tt = t[order]
    # One sortable key: groups apart by more than any time span, so a window never crosses
    # into the previous group.
    span = int(tt.max() - tt.min()) + int(window_s) + 2
    key = (g - g.min()).astype(np.int64) * span + (tt - tt.min())
    first = np.searchsorted(key, key - int(window_s), side="right")
    pos = np.arange(order.size)
    count = pos - first + 1
    # The position of each group's maximum count (the last group row after sorting by count).
    best = np.lexsort((count, g))
    last = np.r_[g[best][1:] != g[best][:-1], True]
    at = best[last]
    return Windows(order, g[at], count[at], first[at], at + 1)


def group_counts(group: I64, idx: I64, size: int) -> I64:
    """How many of the payments ``idx`` each group (0..size-1) has."""
    return np.bincount(group[idx], minlength=size).astype(np.int64)


def segments(keys: I64) -> tuple[I64, I64, I64]:
    """For sorted ``keys``: the distinct keys and each one's [start, stop) slice."""
    if keys.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    edge = np.r_[True, keys[1:] != keys[:-1]]
    start = np.flatnonzero(edge)
    stop = np.r_[start[1:], keys.size]
    return keys[start], start, stop
