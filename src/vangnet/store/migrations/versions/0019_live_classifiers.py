"""Live classifiers: streams count the samples the classifiers did not score because the
stream was over its classifier budget (``streams.classify_skipped``) and those one or more
classifiers failed to score (``streams.classifier_failures``), so both survive a restart or
a hand-over like the other counters (existing streams start at 0). The downgrade drops the
two columns.

Revision ID: 0019_live_classifiers
Revises: 0018_live_regions
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_live_classifiers"
down_revision: str | None = "0018_live_regions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("streams", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("classify_skipped", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("classifier_failures", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+), not a copy of the table: on SQLite with
    # foreign keys on, dropping the old ``streams`` table would delete its alerts (CASCADE).
    with op.batch_alter_table("streams", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("classifier_failures")
        batch_op.drop_column("classify_skipped")
