"""Hostile media: where each triage item sits in its containers (``locations``: one entry
per chain step, e.g. a zip member's local header offset or a tar member's header offset), so
a preview opens only that member.

Revision ID: 0007_media
Revises: 0006_signin
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_media"
down_revision: str | None = "0006_signin"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("triage_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locations", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("triage_items", schema=None) as batch_op:
        batch_op.drop_column("locations")
