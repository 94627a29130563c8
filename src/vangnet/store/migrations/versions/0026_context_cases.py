"""Context cases: a case may be of kind ``context`` (an account whose payments, chats or call
sessions crossed the context threshold: `vangnet.context.filing`), and the table
``case_context_rows`` keeps the records behind a case's context reasons (kind, ref,
indicator), which its page and reports load from the ``context_*`` tables.

The ``cases.kind`` check is widened (SQLite rebuilds the table in batch mode). The downgrade
restores the check and drops the table; it refuses (and changes nothing) while context cases
exist, because the older schema cannot hold them.

Revision ID: 0026_context_cases
Revises: 0025_context_assessments
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026_context_cases"
down_revision: str | None = "0025_context_assessments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_cases = sa.table("cases", sa.column("kind", sa.String()))


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_cases_kind"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_cases_kind"), "kind IN ('live', 'upload', 'investigation', 'context')"
        )
    op.create_table(
        "case_context_rows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ref", sa.String(length=255), nullable=False),
        sa.Column("indicator", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"],
            ["cases.id"],
            name=op.f("fk_case_context_rows_case_id_cases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_context_rows")),
        sa.UniqueConstraint(
            "case_id",
            "kind",
            "ref",
            "indicator",
            name=op.f("uq_case_context_rows_case_id_kind_ref_indicator"),
        ),
    )
    op.create_index(op.f("ix_case_context_rows_case_id"), "case_context_rows", ["case_id"])


def downgrade() -> None:
    conn = op.get_bind()
    held = conn.execute(
        sa.select(sa.func.count()).select_from(_cases).where(_cases.c.kind == "context")
    ).scalar_one()
    if held:
        raise RuntimeError(
            f"cannot downgrade below 0026_context_cases: {held} context cases exist, which the "
            "older schema cannot hold; nothing was changed"
        )
    op.drop_index(op.f("ix_case_context_rows_case_id"), table_name="case_context_rows")
    op.drop_table("case_context_rows")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_cases_kind"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_cases_kind"), "kind IN ('live', 'upload', 'investigation')"
        )
