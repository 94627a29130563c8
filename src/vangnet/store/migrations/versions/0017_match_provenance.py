"""How a match was found, kept with the case (``case_matches.found``: region, transform,
inliers; ``{}`` for existing rows), and local features of banked pictures for verifying
wider-net candidates (table ``content_features``). The downgrade drops both.

Revision ID: 0017_match_provenance
Revises: 0016_evidence_lost
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_match_provenance"
down_revision: str | None = "0016_evidence_lost"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case_matches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("found", sa.JSON(), nullable=False, server_default="{}"))
    op.create_table(
        "content_features",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("content_id", sa.Integer(), nullable=False),
        sa.Column("bank_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["bank_id"],
            ["banks.id"],
            name=op.f("fk_content_features_bank_id_banks"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["content_id"],
            ["bank_content.id"],
            name=op.f("fk_content_features_content_id_bank_content"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_content_features")),
        sa.UniqueConstraint("content_id", "kind", name=op.f("uq_content_features_content_id_kind")),
    )
    with op.batch_alter_table("content_features", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_content_features_content_id"), ["content_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_content_features_bank_id"), ["bank_id"], unique=False)


def downgrade() -> None:
    op.drop_table("content_features")
    with op.batch_alter_table("case_matches", schema=None) as batch_op:
        batch_op.drop_column("found")
