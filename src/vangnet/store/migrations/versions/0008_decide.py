"""Decide: a live case's matches are time ranges per banked item (first and last stream time,
how many matched frames), so a looping stream does not grow its case without bound.

Revision ID: 0008_decide
Revises: 0007_media
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_decide"
down_revision: str | None = "0007_media"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case_matches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stream_time_end", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("frames", sa.Integer(), nullable=False, server_default=sa.text("1"))
        )


def downgrade() -> None:
    with op.batch_alter_table("case_matches", schema=None) as batch_op:
        batch_op.drop_column("frames")
        batch_op.drop_column("stream_time_end")
