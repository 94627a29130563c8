"""Evidence hashes of any signal type: one typed row per item and signal type.

Revision ID: 0012_index
Revises: 0011_publish
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_index"
down_revision: str | None = "0011_publish"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "evidence_signals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("evidence_id", sa.Integer(), nullable=False),
        sa.Column("signal_type", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["evidence_id"],
            ["evidence_items.id"],
            name=op.f("fk_evidence_signals_evidence_id_evidence_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_signals")),
        sa.UniqueConstraint(
            "evidence_id", "signal_type", name=op.f("uq_evidence_signals_evidence_id_signal_type")
        ),
    )
    with op.batch_alter_table("evidence_signals", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evidence_signals_evidence_id"), ["evidence_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("evidence_signals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_signals_evidence_id"))
    op.drop_table("evidence_signals")
