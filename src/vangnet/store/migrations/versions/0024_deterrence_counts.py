"""Deterrence counts: the table ``deterrence_counts`` holds the search-deterrence check's
aggregate counts per day, matched term list and language (`vangnet.context.deterrence`), and
nothing about any single query. Nothing else changes; the downgrade drops the table.

Revision ID: 0024_deterrence_counts
Revises: 0023_context_records
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0024_deterrence_counts"
down_revision: str | None = "0023_context_records"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "deterrence_counts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("list_name", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=16), nullable=False),
        sa.Column("checks", sa.Integer(), nullable=False),
        sa.Column("warnings", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deterrence_counts")),
        sa.UniqueConstraint(
            "day", "list_name", "language", name=op.f("uq_deterrence_counts_day_list_name_language")
        ),
    )


def downgrade() -> None:
    op.drop_table("deterrence_counts")
