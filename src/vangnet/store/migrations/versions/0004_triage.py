"""Investigation: triage runs and the items they found (chain, hashes, metadata, text,
matches, series).

Revision ID: 0004_triage
Revises: 0003_review
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_triage"
down_revision: str | None = "0003_review"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "triage_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_triage_runs_case_id_cases"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_triage_runs")),
    )
    with op.batch_alter_table("triage_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_triage_runs_case_id"), ["case_id"], unique=False)

    op.create_table(
        "triage_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("chain", sa.JSON(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("times", sa.JSON(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("md5", sa.String(length=32), nullable=True),
        sa.Column("sha1", sa.String(length=40), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("pdq", sa.String(length=64), nullable=True),
        sa.Column("pdq_quality", sa.Integer(), nullable=True),
        sa.Column("vpdq", sa.Text(), nullable=True),
        sa.Column("item_metadata", sa.JSON(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("findings", sa.JSON(), nullable=False),
        sa.Column("matches", sa.JSON(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("series", sa.Text(), nullable=True),
        sa.Column("series_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('photo', 'video', 'archive', 'image', 'other')",
            name=op.f("ck_triage_items_kind"),
        ),
        sa.CheckConstraint("status IN ('ok', 'failed')", name=op.f("ck_triage_items_status")),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_triage_items_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["triage_runs.id"],
            name=op.f("fk_triage_items_run_id_triage_runs"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_triage_items")),
        sa.UniqueConstraint("case_id", "key", name=op.f("uq_triage_items_case_id_key")),
    )
    with op.batch_alter_table("triage_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_triage_items_case_id_kind"), ["case_id", "kind"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_triage_items_md5"), ["md5"], unique=False)
        batch_op.create_index(batch_op.f("ix_triage_items_sha256"), ["sha256"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("triage_items", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_triage_items_sha256"))
        batch_op.drop_index(batch_op.f("ix_triage_items_md5"))
        batch_op.drop_index(batch_op.f("ix_triage_items_case_id_kind"))

    op.drop_table("triage_items")
    with op.batch_alter_table("triage_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_triage_runs_case_id"))

    op.drop_table("triage_runs")
