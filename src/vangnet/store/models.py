"""Database tables (SQLAlchemy 2 typed declarative). Migrations live in ``migrations/``.

Banks hold content items; a content item holds one or more signals (hash values). The
``index_changes`` table is an append-only log of signals entering or leaving the matchable
set, tailed by running servers to update their in-memory indexes.
"""

from __future__ import annotations

import enum
import hashlib
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Signal values up to this length are their own key; longer ones (e.g. a whole video's vPDQ
# frame list) are keyed by a digest so the unique index stays small on every database.
MAX_INLINE_KEY = 128


def signal_key(value: str) -> str:
    """The indexed key of a canonical signal value (the value itself when short)."""
    if len(value) <= MAX_INLINE_KEY:
        return value
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on both databases (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware (UTC) datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class ChangeOp(enum.StrEnum):
    ADD = "add"
    REMOVE = "remove"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
    }


class Bank(Base):
    __tablename__ = "banks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    matching_enabled_ratio: Mapped[float] = mapped_column(Float, default=1.0)
    category_profile: Mapped[str] = mapped_column(String(64), default="none")
    high_confidence: Mapped[bool] = mapped_column(Boolean, default=False)
    thresholds: Mapped[dict[str, Any]] = mapped_column(default=dict)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def enabled(self) -> bool:
        return self.matching_enabled_ratio > 0


class BankContent(Base):
    __tablename__ = "bank_content"
    __table_args__ = (Index(None, "bank_id", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"))
    category_profile: Mapped[str] = mapped_column(String(64), default="none")
    category_code: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(Text)
    series: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    external_id: Mapped[str | None] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ContentSignal(Base):
    __tablename__ = "content_signals"
    __table_args__ = (
        UniqueConstraint("bank_id", "signal_type", "value_key"),
        Index(None, "signal_type", "value_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    content_id: Mapped[int] = mapped_column(
        ForeignKey("bank_content.id", ondelete="CASCADE"), index=True
    )
    # Denormalised from bank_content so a bank cannot hold the same value twice.
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"))
    signal_type: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(Text)
    value_key: Mapped[str] = mapped_column(String(136))


class IndexChangeEntry(Base):
    """One signal entering (``add``) or leaving (``remove``) the matchable set."""

    __tablename__ = "index_changes"
    __table_args__ = (
        CheckConstraint("op IN ('add', 'remove')", name="op"),
        {"sqlite_autoincrement": True},
    )

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    signal_type: Mapped[str] = mapped_column(String(32))
    signal_id: Mapped[int] = mapped_column(Integer)  # content_signals.id; may be deleted
    bank_id: Mapped[int] = mapped_column(Integer)
    op: Mapped[str] = mapped_column(String(8))
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'curator', 'matcher', 'reviewer')", name="role"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()
