"""Reports of plug-in formats: the ``reports.kind`` check is dropped and the column widened.

A report's kind is ``ncmec`` or the name of a report format in the registry (entry-point
group ``vangnet.report_formats``), which the database cannot list: the application checks it
(`vangnet.reports.service.require_format`) before a row is written. ``kind`` grows from 8 to 64
characters to hold any registry name. The ``status`` check stays. Existing rows are kept as
they are.

The downgrade restores the check; it refuses (and changes nothing) while reports of kinds
other than ``ncmec``, ``vics``, ``html`` and ``pdf`` exist, because they would not fit.

Revision ID: 0014_report_kinds
Revises: 0013_vpdq
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_report_kinds"
down_revision: str | None = "0013_vpdq"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BUILT_IN = ("ncmec", "vics", "html", "pdf")
_reports = sa.table("reports", sa.column("kind", sa.String()))


def upgrade() -> None:
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_reports_kind"), type_="check")
        batch_op.alter_column(
            "kind",
            existing_type=sa.String(length=8),
            type_=sa.String(length=64),
            existing_nullable=False,
        )


def downgrade() -> None:
    conn = op.get_bind()
    other = conn.execute(
        sa.select(_reports.c.kind, sa.func.count())
        .where(_reports.c.kind.not_in(BUILT_IN))
        .group_by(_reports.c.kind)
        .order_by(_reports.c.kind)
    ).all()
    if other:
        held = ", ".join(f"{count} of {kind!r}" for kind, count in other)
        raise RuntimeError(
            f"cannot downgrade below 0014_report_kinds: the reports table holds reports of "
            f"plug-in formats ({held}), which the older schema cannot hold; nothing was changed"
        )
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.alter_column(
            "kind",
            existing_type=sa.String(length=64),
            type_=sa.String(length=8),
            existing_nullable=False,
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_reports_kind"), "kind IN ('ncmec', 'vics', 'html', 'pdf')"
        )
