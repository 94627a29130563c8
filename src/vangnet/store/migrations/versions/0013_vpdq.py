"""The ``vpdq`` signal is Meta's vPDQ: stored bar-cropped frames become ``vpdq_cropped``.

Until this revision Vangnet stored black-bar-cropped frames under ``vpdq``; the standard
whole frames were only matched, never stored. Every stored ``vpdq`` value is renamed
``vpdq_cropped`` (a value imported from a partner cannot be told apart from one Vangnet
hashed, so all are renamed: matching is unchanged, because ``vpdq`` and ``vpdq_cropped``
are matched against each other). ``vangnet bank rehash`` computes the standard ``vpdq``
again from the media. Each bank's ``vpdq`` thresholds are copied to ``vpdq_cropped``; the
index change log gets a ``remove`` (as ``vpdq``) and an ``add`` (as ``vpdq_cropped``) per
renamed matchable signal, so running servers follow without a restart.

Revision ID: 0013_vpdq
Revises: 0012_index
Create Date: 2026-12-06
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0013_vpdq"
down_revision: str | None = "0012_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = "vpdq"
NEW = "vpdq_cropped"

_banks = sa.table(
    "banks",
    sa.column("id", sa.Integer()),
    sa.column("thresholds", sa.JSON()),
    sa.column("matching_enabled_ratio", sa.Float()),
)
_content = sa.table("bank_content", sa.column("id", sa.Integer()), sa.column("enabled"))
_signals = sa.table(
    "content_signals",
    sa.column("id", sa.Integer()),
    sa.column("content_id", sa.Integer()),
    sa.column("bank_id", sa.Integer()),
    sa.column("signal_type", sa.String()),
    sa.column("value", sa.Text()),
)
_changes = sa.table(
    "index_changes",
    sa.column("signal_type", sa.String()),
    sa.column("signal_id", sa.Integer()),
    sa.column("bank_id", sa.Integer()),
    sa.column("op", sa.String()),
    sa.column("value", sa.Text()),
    sa.column("created_at", sa.DateTime(timezone=True)),
)


def _thresholds(raw: Any) -> dict[str, Any]:
    value = json.loads(raw) if isinstance(raw, str) else raw
    return dict(value) if isinstance(value, dict) else {}


def _copy_thresholds(source: str, target: str) -> None:
    """Each bank's ``source`` rules also become its ``target`` rules (unless it has some)."""
    conn = op.get_bind()
    for bank_id, raw in conn.execute(sa.select(_banks.c.id, _banks.c.thresholds)).all():
        thresholds = _thresholds(raw)
        if source in thresholds and target not in thresholds:
            thresholds[target] = dict(thresholds[source])
            conn.execute(
                _banks.update().where(_banks.c.id == bank_id).values(thresholds=thresholds)
            )


def _rename(source: str, target: str) -> None:
    """Rename every stored ``source`` signal to ``target`` and log the move for the indexes:
    a remove under the old name for each, an add under the new one for the matchable ones
    (content enabled, bank matching), as `vangnet.banks.matchable.current_signals` selects."""
    conn = op.get_bind()
    if conn.dialect.name == "postgresql":  # the change log's seq order is commit order
        conn.execute(sa.text("LOCK TABLE index_changes IN EXCLUSIVE MODE"))
    rows = conn.execute(
        sa.select(
            _signals.c.id,
            _signals.c.bank_id,
            _signals.c.value,
            _content.c.enabled,
            _banks.c.matching_enabled_ratio,
        )
        .join(_content, _content.c.id == _signals.c.content_id)
        .join(_banks, _banks.c.id == _signals.c.bank_id)
        .where(_signals.c.signal_type == source)
        .order_by(_signals.c.id)
    ).all()
    if not rows:
        return
    now = datetime.now(UTC)
    conn.execute(
        _signals.update().where(_signals.c.signal_type == source).values(signal_type=target)
    )
    log: list[dict[str, Any]] = []
    for signal_id, bank_id, value, _enabled, _ratio in rows:
        log.append(
            {
                "signal_type": source,
                "signal_id": signal_id,
                "bank_id": bank_id,
                "op": "remove",
                "value": value,
                "created_at": now,
            }
        )
    for signal_id, bank_id, value, enabled, ratio in rows:
        if enabled and (ratio or 0) > 0:
            log.append(
                {
                    "signal_type": target,
                    "signal_id": signal_id,
                    "bank_id": bank_id,
                    "op": "add",
                    "value": value,
                    "created_at": now,
                }
            )
    for start in range(0, len(log), 1000):
        conn.execute(_changes.insert(), log[start : start + 1000])


def upgrade() -> None:
    _copy_thresholds(OLD, NEW)
    _rename(OLD, NEW)


def _drop_thresholds(name: str) -> None:
    conn = op.get_bind()
    for bank_id, raw in conn.execute(sa.select(_banks.c.id, _banks.c.thresholds)).all():
        thresholds = _thresholds(raw)
        if thresholds.pop(name, None) is not None:
            conn.execute(
                _banks.update().where(_banks.c.id == bank_id).values(thresholds=thresholds)
            )


def downgrade() -> None:
    """Back to cropped frames under ``vpdq``: standard ``vpdq`` values of content that also
    has cropped ones are dropped (logged as removes), then ``vpdq_cropped`` is renamed."""
    conn = op.get_bind()
    cropped = sa.select(_signals.c.content_id).where(_signals.c.signal_type == NEW)
    doubled = conn.execute(
        sa.select(_signals.c.id, _signals.c.bank_id, _signals.c.value).where(
            _signals.c.signal_type == OLD, _signals.c.content_id.in_(cropped)
        )
    ).all()
    now = datetime.now(UTC)
    if doubled:
        conn.execute(
            _changes.insert(),
            [
                {
                    "signal_type": OLD,
                    "signal_id": signal_id,
                    "bank_id": bank_id,
                    "op": "remove",
                    "value": value,
                    "created_at": now,
                }
                for signal_id, bank_id, value in doubled
            ],
        )
        conn.execute(_signals.delete().where(_signals.c.id.in_([r[0] for r in doubled])))
    _rename(NEW, OLD)
    _drop_thresholds(NEW)
