"""Classifier calibration: the table ``classifier_calibrations`` holds the thresholds that
`vangnet classifiers evaluate --save` measured on a deployment's labelled files (one per
classifier and model version, with the figures, the number of labels, the SHA-256 of the
labels file, who and when). Nothing else changes; the downgrade drops the table.

Revision ID: 0022_classifier_calibration
Revises: 0019_live_classifiers
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022_classifier_calibration"
down_revision: str | None = "0021_classifier_queues"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "classifier_calibrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("classifier", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=255), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
        sa.Column("target_precision", sa.Float(), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("labels", sa.Integer(), nullable=False),
        sa.Column("labels_sha256", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_classifier_calibrations")),
        sa.UniqueConstraint(
            "classifier",
            "version",
            name=op.f("uq_classifier_calibrations_classifier_version"),
        ),
    )


def downgrade() -> None:
    op.drop_table("classifier_calibrations")
