"""Context records: the tables ``context_imports``, ``context_accounts``,
``context_payments``, ``context_messages`` and ``context_sessions`` hold the payment, chat,
call-session and account records a user imports (`vangnet.context`). Each record's ``ref`` is
unique, so an import is idempotent. Nothing else changes; the downgrade drops the tables.

Revision ID: 0023_context_records
Revises: 0022_classifier_calibration
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023_context_records"
down_revision: str | None = "0022_classifier_calibration"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_WHEN = sa.DateTime(timezone=True)


def _import_id(table: str) -> sa.Column[int]:
    return sa.Column(
        "import_id",
        sa.Integer(),
        sa.ForeignKey(
            "context_imports.id",
            name=op.f(f"fk_{table}_import_id_context_imports"),
            ondelete="SET NULL",
        ),
        nullable=True,
    )


def upgrade() -> None:
    op.create_table(
        "context_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("format", sa.String(length=32), nullable=False),
        sa.Column("filename", sa.Text(), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("created_at", _WHEN, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_context_imports")),
    )
    op.create_index(op.f("ix_context_imports_sha256"), "context_imports", ["sha256"])
    op.create_table(
        "context_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=255), nullable=False),
        _import_id("context_accounts"),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("birth_year", sa.Integer(), nullable=True),
        sa.Column("sex", sa.String(length=16), nullable=True),
        sa.Column("platform", sa.String(length=64), nullable=True),
        sa.Column("opened_at", _WHEN, nullable=True),
        sa.Column("handles", sa.JSON(), nullable=False),
        sa.Column("devices", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_context_accounts")),
        sa.UniqueConstraint("ref", name=op.f("uq_context_accounts_ref")),
    )
    op.create_index(op.f("ix_context_accounts_import_id"), "context_accounts", ["import_id"])
    op.create_table(
        "context_payments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=255), nullable=False),
        _import_id("context_payments"),
        sa.Column("at", _WHEN, nullable=False),
        sa.Column("sender", sa.String(length=255), nullable=False),
        sa.Column("beneficiary", sa.String(length=255), nullable=False),
        sa.Column("amount", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("sender_country", sa.String(length=2), nullable=True),
        sa.Column("beneficiary_country", sa.String(length=2), nullable=True),
        sa.Column("narrative", sa.Text(), nullable=False),
        sa.Column("merchant_category", sa.String(length=32), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_context_payments")),
        sa.UniqueConstraint("ref", name=op.f("uq_context_payments_ref")),
    )
    op.create_index(op.f("ix_context_payments_import_id"), "context_payments", ["import_id"])
    op.create_index(op.f("ix_context_payments_at"), "context_payments", ["at"])
    op.create_index(op.f("ix_context_payments_sender_at"), "context_payments", ["sender", "at"])
    op.create_index(
        op.f("ix_context_payments_beneficiary_at"), "context_payments", ["beneficiary", "at"]
    )
    op.create_table(
        "context_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=255), nullable=False),
        _import_id("context_messages"),
        sa.Column("conversation", sa.String(length=255), nullable=False),
        sa.Column("at", _WHEN, nullable=False),
        sa.Column("sender", sa.String(length=255), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("platform", sa.String(length=64), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_context_messages")),
        sa.UniqueConstraint("ref", name=op.f("uq_context_messages_ref")),
    )
    op.create_index(op.f("ix_context_messages_import_id"), "context_messages", ["import_id"])
    op.create_index(
        op.f("ix_context_messages_conversation_at"), "context_messages", ["conversation", "at"]
    )
    op.create_index(op.f("ix_context_messages_sender_at"), "context_messages", ["sender", "at"])
    op.create_table(
        "context_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=255), nullable=False),
        _import_id("context_sessions"),
        sa.Column("platform", sa.String(length=64), nullable=False),
        sa.Column("started_at", _WHEN, nullable=False),
        sa.Column("ended_at", _WHEN, nullable=True),
        sa.Column("participants", sa.JSON(), nullable=False),
        sa.Column("countries", sa.JSON(), nullable=False),
        sa.Column("stream", sa.String(length=64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_context_sessions")),
        sa.UniqueConstraint("ref", name=op.f("uq_context_sessions_ref")),
    )
    op.create_index(op.f("ix_context_sessions_import_id"), "context_sessions", ["import_id"])
    op.create_index(op.f("ix_context_sessions_started_at"), "context_sessions", ["started_at"])
    op.create_index(op.f("ix_context_sessions_stream"), "context_sessions", ["stream"])


def downgrade() -> None:
    for table in ("context_sessions", "context_messages", "context_payments", "context_accounts"):
        op.drop_table(table)
    op.drop_index(op.f("ix_context_imports_sha256"), table_name="context_imports")
    op.drop_table("context_imports")
