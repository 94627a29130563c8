"""Live: staged bank imports (published in one short transaction) and per-stream figures
for falling behind live, input loss and alert writes waiting to be retried.

Revision ID: 0009_live
Revises: 0008_decide
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_live"
down_revision: str | None = "0008_decide"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "bank_import_rows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("import_key", sa.String(length=32), nullable=False),
        sa.Column("bank_id", sa.Integer(), nullable=False),
        sa.Column("signal_type", sa.String(length=32), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("value_key", sa.String(length=136), nullable=False),
        sa.Column("external_id", sa.String(length=255), nullable=True),
        sa.Column("category_profile", sa.String(length=64), nullable=True),
        sa.Column("category_code", sa.String(length=64), nullable=True),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("series", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("owner", sa.Boolean(), nullable=False),
        sa.Column("content_id", sa.Integer(), nullable=True),
        sa.Column("staged_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_import_rows")),
        sa.UniqueConstraint(
            "import_key",
            "signal_type",
            "value_key",
            name=op.f("uq_bank_import_rows_import_key_signal_type_value_key"),
        ),
    )
    with op.batch_alter_table("bank_import_rows", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bank_import_rows_import_key_external_id"),
            ["import_key", "external_id"],
            unique=False,
        )
        batch_op.create_index(
            batch_op.f("ix_bank_import_rows_staged_at"), ["staged_at"], unique=False
        )
    with op.batch_alter_table("streams", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("behind_live_seconds", sa.Float(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("falling_behind", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.add_column(
            sa.Column("input_lost_seconds", sa.Float(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("input_discontinuities", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("alerts_pending", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    with op.batch_alter_table("streams", schema=None) as batch_op:
        batch_op.drop_column("alerts_pending")
        batch_op.drop_column("input_discontinuities")
        batch_op.drop_column("input_lost_seconds")
        batch_op.drop_column("falling_behind")
        batch_op.drop_column("behind_live_seconds")
    with op.batch_alter_table("bank_import_rows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bank_import_rows_staged_at"))
        batch_op.drop_index(batch_op.f("ix_bank_import_rows_import_key_external_id"))
    op.drop_table("bank_import_rows")
