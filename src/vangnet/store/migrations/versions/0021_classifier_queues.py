"""Classifier queues: cases keep their priority signal (``cases.priority_signal``, the
classifier scores kept in ``subject["scores"]`` fused, indexed; ``cases.signal_likely``)
so the review queue sorts and filters by it in the database, and triage items keep the
``classify`` step's (``triage_items.priority_signal`` and ``signal_likely``, indexed
with the case).

The upgrade backfills the cases that already hold scores, fused with the classifiers
installed where it runs at their default thresholds and the default minor prior (the
deployment's own thresholds apply from the next score on); a case without scores stays
None. Triage items have no scores before this revision. The downgrade drops the four
columns and the two indexes (the scores in ``subject`` stay).

Revision ID: 0021_classifier_queues
Revises: 0019_live_classifiers
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_classifier_queues"
down_revision: str | None = "0020_review_now"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cases", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("priority_signal", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("signal_likely", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.create_index(
            batch_op.f("ix_cases_priority_signal"), ["priority_signal"], unique=False
        )
    with op.batch_alter_table("triage_items", schema=None, recreate="never") as batch_op:
        batch_op.add_column(sa.Column("priority_signal", sa.Float(), nullable=True))
        batch_op.add_column(
            sa.Column("signal_likely", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch_op.create_index(
            batch_op.f("ix_triage_items_case_id_priority_signal"),
            ["case_id", "priority_signal"],
            unique=False,
        )
    _backfill()


def _backfill() -> None:
    from vangnet.signals.classifiers.fusion import Fusion

    fusion = Fusion.of()
    cases = sa.table(
        "cases",
        sa.column("id", sa.Integer()),
        sa.column("subject", sa.JSON()),
        sa.column("priority_signal", sa.Float()),
        sa.column("signal_likely", sa.Boolean()),
    )
    conn = op.get_bind()
    updates = []
    for case_id, subject in conn.execute(sa.select(cases.c.id, cases.c.subject)):
        scores = (subject or {}).get("scores") if isinstance(subject, dict) else None
        if not isinstance(scores, dict) or not scores:
            continue
        values = {str(k): float(v) for k, v in scores.items() if isinstance(v, int | float)}
        if not values:
            continue
        fused = fusion.fuse(values)
        updates.append({"b_id": case_id, "b_value": fused.value, "b_likely": fused.likely})
    if updates:
        conn.execute(
            cases.update()
            .where(cases.c.id == sa.bindparam("b_id"))
            .values(
                priority_signal=sa.bindparam("b_value"),
                signal_likely=sa.bindparam("b_likely"),
            ),
            updates,
        )


def downgrade() -> None:
    # ALTER TABLE ... DROP COLUMN (SQLite 3.35+), not a copy of the table: on SQLite with
    # foreign keys on, dropping the old ``cases`` table would delete its matches (CASCADE).
    with op.batch_alter_table("triage_items", schema=None, recreate="never") as batch_op:
        batch_op.drop_index(batch_op.f("ix_triage_items_case_id_priority_signal"))
        batch_op.drop_column("signal_likely")
        batch_op.drop_column("priority_signal")
    with op.batch_alter_table("cases", schema=None, recreate="never") as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_priority_signal"))
        batch_op.drop_column("signal_likely")
        batch_op.drop_column("priority_signal")
