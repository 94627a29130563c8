"""Constant-time publish: imports write their rows marked with an import id that readers
ignore until the import (``bank_imports``) is published; ``import`` change-log entries.

Revision ID: 0011_publish
Revises: 0010_fuzz
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_publish"
down_revision: str | None = "0010_fuzz"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "bank_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("bank_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        _timestamp("created_at"),
        _timestamp("touched_at"),
        _timestamp("published_at", nullable=True),
        sa.CheckConstraint(
            "state IN ('staging', 'published', 'failed')", name=op.f("ck_bank_imports_state")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_imports")),
        sa.UniqueConstraint("key", name=op.f("uq_bank_imports_key")),
    )
    op.create_index(op.f("ix_bank_imports_state"), "bank_imports", ["state"], unique=False)
    for table in ("bank_content", "content_signals"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("import_id", sa.Integer(), nullable=True))
            batch_op.create_index(batch_op.f(f"ix_{table}_import_id"), ["import_id"], unique=False)
    op.create_index(
        op.f("ix_bank_content_bank_id_import_id_enabled"),
        "bank_content",
        ["bank_id", "import_id", "enabled"],
        unique=False,
    )
    op.create_index(
        op.f("ix_content_signals_bank_id_import_id_signal_type"),
        "content_signals",
        ["bank_id", "import_id", "signal_type"],
        unique=False,
    )
    with op.batch_alter_table("bank_import_rows", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=8), server_default="deferred", nullable=False)
        )
    with op.batch_alter_table("index_changes", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_index_changes_op"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_index_changes_op"), "op IN ('add', 'remove', 'import')"
        )


def downgrade() -> None:
    op.execute("DELETE FROM index_changes WHERE op = 'import'")
    with op.batch_alter_table("index_changes", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_index_changes_op"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_index_changes_op"), "op IN ('add', 'remove')"
        )
    with op.batch_alter_table("bank_import_rows", schema=None) as batch_op:
        batch_op.drop_column("status")
    op.drop_index(
        op.f("ix_content_signals_bank_id_import_id_signal_type"), table_name="content_signals"
    )
    op.drop_index(op.f("ix_bank_content_bank_id_import_id_enabled"), table_name="bank_content")
    for table in ("content_signals", "bank_content"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_{table}_import_id"))
            batch_op.drop_column("import_id")
    op.drop_index(op.f("ix_bank_imports_state"), table_name="bank_imports")
    op.drop_table("bank_imports")
