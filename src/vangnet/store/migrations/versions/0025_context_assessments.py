"""Context assessments: the tables ``context_assessments`` (one run of every context
evaluator: who, when, over which window, its figures) and ``context_risks`` (each account's
score, role, reasons and scores per week in it). Nothing else changes; the downgrade drops
the two tables.

Revision ID: 0025_context_assessments
Revises: 0024_deterrence_counts
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025_context_assessments"
down_revision: str | None = "0024_deterrence_counts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "context_assessments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("since", _WHEN, nullable=True),
        sa.Column("until", _WHEN, nullable=True),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_context_assessments")),
    )
    op.create_index(
        op.f("ix_context_assessments_created_at"), "context_assessments", ["created_at"]
    )
    op.create_table(
        "context_risks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("assessment_id", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(length=255), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("weekly", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["assessment_id"],
            ["context_assessments.id"],
            name=op.f("fk_context_risks_assessment_id_context_assessments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_context_risks")),
        sa.UniqueConstraint(
            "assessment_id", "account", name=op.f("uq_context_risks_assessment_id_account")
        ),
    )
    op.create_index(
        op.f("ix_context_risks_assessment_id_score"), "context_risks", ["assessment_id", "score"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_context_risks_assessment_id_score"), table_name="context_risks")
    op.drop_table("context_risks")
    op.drop_index(op.f("ix_context_assessments_created_at"), table_name="context_assessments")
    op.drop_table("context_assessments")
