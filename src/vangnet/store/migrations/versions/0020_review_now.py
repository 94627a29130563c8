"""Live review-now alerts: an alert has a ``kind`` (``match`` for every existing row, or
``review_now``: the classifiers' rule fired on a stream), and a review-now alert keeps its
highest fused priority (``best_value``), its explanation (``summary``) and its details
(``details``: video-call likelihood, parts; ``{}`` for existing rows). Streams count their
review-now alerts and the scored samples that met the rule (0 for existing streams). The
columns are added in place (no table copy); the downgrade drops them, and with them any
review-now alert rows (they would read as match alerts of no banked item).

Revision ID: 0020_review_now
Revises: 0019_live_classifiers
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020_review_now"
down_revision: str | None = "0019_live_classifiers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alerts", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="match")
        )
        batch_op.add_column(sa.Column("best_value", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("summary", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("details", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("streams", schema=None, recreate="never") as batch_op:
        batch_op.add_column(
            sa.Column("review_now_alerts", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("review_now_samples", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+), not a copy of the table: on SQLite with
    # foreign keys on, dropping the old ``alerts`` table would delete its frames (CASCADE).
    op.execute("DELETE FROM alerts WHERE kind = 'review_now'")
    with op.batch_alter_table("streams", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("review_now_samples")
        batch_op.drop_column("review_now_alerts")
    with op.batch_alter_table("alerts", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("details")
        batch_op.drop_column("summary")
        batch_op.drop_column("best_value")
        batch_op.drop_column("kind")
