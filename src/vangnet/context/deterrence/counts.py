"""Aggregate counts of the deterrence check: per UTC day, matched list and language, how many
checks and how many warnings. One upsert a check (``INSERT ... ON CONFLICT DO UPDATE``,
atomic on PostgreSQL and SQLite alike, so concurrent checks never lose a count); the caller
owns the transaction. Nothing of the query is passed in, so nothing of it can be stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from vangnet.store.models import DeterrenceCount

#: The ``list_name`` of checks that matched no list.
NO_LIST = ""


@dataclass(frozen=True, slots=True)
class DayCount:
    day: date
    list_name: str
    language: str
    checks: int
    warnings: int

    def as_json(self) -> dict[str, Any]:
        return {
            "day": self.day.isoformat(),
            "list": self.list_name or None,
            "language": self.language,
            "checks": self.checks,
            "warnings": self.warnings,
        }


def record_check(
    session: Session, *, day: date, list_name: str, language: str, warned: bool
) -> None:
    """Count one check (and its warning) in its day, list and language."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values = {
        "day": day,
        "list_name": list_name,
        "language": language,
        "checks": 1,
        "warnings": int(warned),
    }
    statement = insert(DeterrenceCount).values(**values)
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["day", "list_name", "language"],
            set_={
                "checks": DeterrenceCount.checks + 1,
                "warnings": DeterrenceCount.warnings + int(warned),
            },
        )
    )


def day_counts(session: Session, *, since: date | None = None) -> list[DayCount]:
    """The counts from ``since`` on (all when None), newest day first."""
    query = select(DeterrenceCount).order_by(
        DeterrenceCount.day.desc(), DeterrenceCount.list_name, DeterrenceCount.language
    )
    if since is not None:
        query = query.where(DeterrenceCount.day >= since)
    return [
        DayCount(r.day, r.list_name, r.language, r.checks, r.warnings)
        for r in session.scalars(query)
    ]
