"""Live regions: an alert's matched frame says how it matched when not by the whole frame
(``alert_frames.found``: region, transform; ``{}`` for existing rows), and streams count the
samples matched on their whole frame only because of the region budget
(``streams.regions_skipped``) or because their region work failed
(``streams.regions_failed``; existing streams start at 0). The downgrade drops the three
columns.

Revision ID: 0018_live_regions
Revises: 0017_match_provenance
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_live_regions"
down_revision: str | None = "0017_match_provenance"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("alert_frames", schema=None) as batch_op:
        batch_op.add_column(sa.Column("found", sa.JSON(), nullable=False, server_default="{}"))
    with op.batch_alter_table("streams", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("regions_skipped", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("regions_failed", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+), not a copy of the table: on SQLite with
    # foreign keys on, dropping the old ``streams`` table would delete its alerts (CASCADE).
    with op.batch_alter_table("streams", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("regions_failed")
        batch_op.drop_column("regions_skipped")
    with op.batch_alter_table("alert_frames", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("found")
