"""Accountability: audit entries MACed with a key outside the database (and the first keyed
entry in the head), API keys owned by a person, the two-person rule counting people, and
the banked item's details kept with each case match.

Existing audit entries keep their SHA-256 chain and get no MAC (they are reported as legacy
entries by `vangnet audit verify`); the first entry written after this migration is the first
keyed one, and the first checkpoint records it.

Revision ID: 0005_audit
Revises: 0004_triage
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_audit"
down_revision: str | None = "0004_triage"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mac", sa.String(length=64), nullable=True))
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.add_column(sa.Column("keyed_from", _SEQ, nullable=True))
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("user_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_api_keys_user_id"), ["user_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_api_keys_user_id_users"),
            "users",
            ["user_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pending_person", sa.String(length=64), nullable=True))
    with op.batch_alter_table("case_matches", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("banked", sa.JSON(), nullable=False, server_default=sa.text("'{}'"))
        )
    # The server default only fills existing rows; the models give the default from then on.
    with op.batch_alter_table("case_matches", schema=None) as batch_op:
        batch_op.alter_column("banked", server_default=None)
    _snapshot_existing_matches()


def _snapshot_existing_matches() -> None:
    """Give the matches already recorded the snapshot of their banked item, while it exists."""
    bind = op.get_bind()
    content = sa.table(
        "bank_content",
        sa.column("id", sa.Integer()),
        sa.column("bank_id", sa.Integer()),
        sa.column("category_profile", sa.String()),
        sa.column("category_code", sa.String()),
        sa.column("source", sa.Text()),
        sa.column("series", sa.Text()),
        sa.column("note", sa.Text()),
        sa.column("external_id", sa.String()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    banks = sa.table("banks", sa.column("id", sa.Integer()), sa.column("name", sa.String()))
    matches = sa.table(
        "case_matches", sa.column("content_id", sa.Integer()), sa.column("banked", sa.JSON())
    )
    rows = bind.execute(
        sa.select(content, banks.c.name)
        .join(banks, banks.c.id == content.c.bank_id)
        .where(content.c.id.in_(sa.select(matches.c.content_id).distinct()))
    ).mappings()
    for row in rows:
        code = row["category_code"]
        created = row["created_at"]
        snapshot = {
            "bank": row["name"],
            "content_id": row["id"],
            "category": f"{row['category_profile']}:{code}" if code else None,
            "note": row["note"],
            "series": row["series"],
            "source": row["source"],
            "external_id": row["external_id"],
            "banked_at": created.isoformat() if created is not None else None,
        }
        bind.execute(
            matches.update().where(matches.c.content_id == row["id"]).values(banked=snapshot)
        )


def downgrade() -> None:
    with op.batch_alter_table("case_matches", schema=None) as batch_op:
        batch_op.drop_column("banked")
    with op.batch_alter_table("cases", schema=None) as batch_op:
        batch_op.drop_column("pending_person")
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_api_keys_user_id_users"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_api_keys_user_id"))
        batch_op.drop_column("user_id")
    with op.batch_alter_table("audit_head", schema=None) as batch_op:
        batch_op.drop_column("keyed_from")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_column("mac")
