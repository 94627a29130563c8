"""What a match is."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Match:
    """One banked item that a query matched, under that bank's thresholds."""

    bank: str
    content_id: int
    signal_type: str
    distance: int
    category: str | None  # "profile:code", e.g. "vics:1"
    signal_id: int
    # vPDQ only: share (%) of query frames / banked frames that matched
    query_match_pct: float | None = None
    index_match_pct: float | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.query_match_pct is None:
            del data["query_match_pct"], data["index_match_pct"]
        return data
