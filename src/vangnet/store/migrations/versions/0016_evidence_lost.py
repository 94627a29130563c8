"""Streams count the frames of their alerts that could not be kept as evidence
(``streams.evidence_lost``: the evidence queue was full, or preserving failed after its
retries). Existing streams start at 0; the downgrade drops the column.

Revision ID: 0016_evidence_lost
Revises: 0015_triage_signals
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_evidence_lost"
down_revision: str | None = "0015_triage_signals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("streams", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("evidence_lost", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+), not a copy of the table: on SQLite with
    # foreign keys on, dropping the old ``streams`` table would delete its alerts (CASCADE).
    with op.batch_alter_table("streams", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("evidence_lost")
