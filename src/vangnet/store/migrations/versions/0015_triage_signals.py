"""Triage items keep the hashes of every registered signal type: ``triage_signals``.

A triage item has columns for MD5, SHA-1, SHA-256, PDQ and vPDQ. The values of every other
single-value signal type that hashed the file (a plug-in's picture hash or embedding, another
digest) were matched during triage and then dropped; they are now kept as one row per item and
type, as evidence items keep theirs (``evidence_signals``). Items triaged before this revision
have no rows (resuming their case skips them; a triage of the sources into a new case records
them). The downgrade drops the table and its rows.

Revision ID: 0015_triage_signals
Revises: 0014_report_kinds
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_triage_signals"
down_revision: str | None = "0014_report_kinds"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "triage_signals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("signal_type", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["triage_items.id"],
            name=op.f("fk_triage_signals_item_id_triage_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_triage_signals")),
        sa.UniqueConstraint(
            "item_id", "signal_type", name=op.f("uq_triage_signals_item_id_signal_type")
        ),
    )
    with op.batch_alter_table("triage_signals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_triage_signals_item_id"), ["item_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("triage_signals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_triage_signals_item_id"))
    op.drop_table("triage_signals")
