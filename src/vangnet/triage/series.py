"""Series: near-duplicate photos of a case grouped together.

Two photos are linked when their PDQ hashes (either one under any of its 8 rotations and
flips) are within ``threshold`` bits; a series is a connected group of linked photos (two or
more). Each series is numbered by its smallest item id and named after the bank series its
members matched (the most common one), so a group of unknown photos that joins a known
picture is linked to that known series.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from vangnet.index.pdq_index import PDQIndex
from vangnet.store.db import writer
from vangnet.store.models import TriageItem
from vangnet.triage.tuning import default

#: Defaults of the settings ``triage_series_bits`` and ``triage_series_min_quality``.
THRESHOLD: int = default("triage_series_bits")
MIN_QUALITY: int = default("triage_series_min_quality")


class _Groups:
    def __init__(self) -> None:
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        root = x
        while self.parent.get(root, root) != root:
            root = self.parent[root]
        while self.parent.get(x, x) != root:  # path compression
            self.parent[x], x = root, self.parent[x]
        return root

    def join(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def cluster(
    engine: Engine, case_id: int, *, threshold: int = THRESHOLD, min_quality: int = MIN_QUALITY
) -> int:
    """(Re)compute the series of a case's photos (those of PDQ quality ``min_quality`` or
    more); returns the number of series."""
    with Session(engine) as session:
        rows = session.execute(
            select(TriageItem.id, TriageItem.pdq, TriageItem.findings, TriageItem.series).where(
                TriageItem.case_id == case_id,
                TriageItem.pdq.is_not(None),
                TriageItem.status == "ok",
                TriageItem.pdq_quality >= min_quality,
            )
        ).all()
    if not rows:
        return 0
    ids = [r.id for r in rows]
    index = PDQIndex.build([r.pdq for r in rows], ids)
    groups = _Groups()
    queries: list[str] = []
    owners: list[int] = []
    for r in rows:
        variants: list[str] = list((r.findings or {}).get("pdq_dihedral") or [])
        for value in [r.pdq, *variants]:
            queries.append(value)
            owners.append(r.id)
    for owner, hits in zip(owners, index.query_many(queries, threshold), strict=True):
        for other, _distance in hits:
            if other != owner:
                groups.join(owner, other)
    members: dict[int, list[Any]] = {}
    for r in rows:
        members.setdefault(groups.find(r.id), []).append(r)
    assignments: dict[int, tuple[int | None, str | None]] = {}
    count = 0
    for root, group in members.items():
        if len(group) < 2:
            assignments.update({r.id: (None, r.series) for r in group})
            continue
        count += 1
        named = Counter(r.series for r in group if r.series)
        name = named.most_common(1)[0][0] if named else None
        for r in group:
            assignments[r.id] = (root, r.series or name)
    rows_out = [
        {"id": item_id, "series_id": series_id, "series": series}
        for item_id, (series_id, series) in assignments.items()
    ]
    with Session(writer(engine)) as session:
        for start in range(0, len(rows_out), 1000):  # bulk UPDATE by primary key
            session.execute(update(TriageItem), rows_out[start : start + 1000])
        session.commit()
    return count
