"""Database tables (SQLAlchemy 2 typed declarative). Migrations live in ``migrations/``.

Banks hold content items; a content item holds one or more signals (hash values). The
``index_changes`` table is an append-only log of signals entering or leaving the matchable
set, tailed by running servers to update their in-memory indexes.
"""

from __future__ import annotations

import enum
import hashlib
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
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
    # Every signal of one published import (``signal_id`` holds the import's id): followers
    # read them with `vangnet.banks.matchable.import_signals`, so publishing writes one row.
    IMPORT = "import"


class ImportState(enum.StrEnum):
    STAGING = "staging"  # being written: its content and signals are invisible
    PUBLISHED = "published"  # visible to every reader
    FAILED = "failed"  # stopped or abandoned: its rows are being removed


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
    # What a live alert from this bank triggers: {"live_min_frames", "live_window", "actions"}.
    policy: Mapped[dict[str, Any]] = mapped_column(default=dict)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def enabled(self) -> bool:
        return self.matching_enabled_ratio > 0


class BankContent(Base):
    __tablename__ = "bank_content"
    __table_args__ = (
        Index(None, "bank_id", "external_id"),
        # counts of what readers see seek past an unpublished import instead of reading it
        Index(None, "bank_id", "import_id", "enabled"),
    )

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
    # The import that wrote this item (None: added by hand); visible only once it is published.
    import_id: Mapped[int | None] = mapped_column(Integer, index=True)


class ContentSignal(Base):
    __tablename__ = "content_signals"
    __table_args__ = (
        UniqueConstraint("bank_id", "signal_type", "value_key"),
        Index(None, "signal_type", "value_key"),
        Index(None, "bank_id", "import_id", "signal_type"),
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
    # The import that wrote this signal (None: added by hand); visible once it is published.
    import_id: Mapped[int | None] = mapped_column(Integer, index=True)


class ContentFeatures(Base):
    """Local features of a banked picture, kept when it was banked from its pixels: what a
    wider-net candidate is verified against (`vangnet.match`) when the bank holds no media.
    ``kind`` names the extractor and its version (e.g. ``sift-512``); ``data`` its packed
    keypoints and descriptors (no pixels)."""

    __tablename__ = "content_features"
    __table_args__ = (UniqueConstraint("content_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    content_id: Mapped[int] = mapped_column(
        ForeignKey("bank_content.id", ondelete="CASCADE"), index=True
    )
    bank_id: Mapped[int] = mapped_column(ForeignKey("banks.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BankImport(Base):
    """One bulk write (``bank import``, a batch add): its content and signals are written in
    many short transactions marked with its id, and every reader ignores them until one tiny
    transaction sets ``state`` to published. Rows of an import that stopped are removed by
    the next import (`vangnet.banks.discard`)."""

    __tablename__ = "bank_imports"
    __table_args__ = (
        CheckConstraint("state IN ('staging', 'published', 'failed')", name="state"),
        Index(None, "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(32), unique=True)
    bank_id: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default=ImportState.STAGING.value)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    touched_at: Mapped[datetime] = mapped_column(default=utcnow)  # the last chunk written
    published_at: Mapped[datetime | None] = mapped_column()


class BankImportRow(Base):
    """A record of an import that could not be written with its chunk (``status``
    ``deferred``: another unpublished import held the value), or a value another writer
    took from this unpublished import (``taken``, with the content it left). Both are
    settled when the import publishes, and deleted after."""

    __tablename__ = "bank_import_rows"
    __table_args__ = (
        UniqueConstraint("import_key", "signal_type", "value_key"),
        Index(None, "import_key", "external_id"),
        Index(None, "staged_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    import_key: Mapped[str] = mapped_column(String(32))
    bank_id: Mapped[int] = mapped_column(Integer)
    signal_type: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(Text)
    value_key: Mapped[str] = mapped_column(String(136))
    external_id: Mapped[str | None] = mapped_column(String(255))
    category_profile: Mapped[str | None] = mapped_column(String(64))
    category_code: Mapped[str | None] = mapped_column(String(64))
    source: Mapped[str | None] = mapped_column(Text)
    series: Mapped[str | None] = mapped_column(Text)
    note: Mapped[str | None] = mapped_column(Text)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    owner: Mapped[bool] = mapped_column(Boolean, default=False)  # creates its content item
    content_id: Mapped[int | None] = mapped_column(Integer)
    staged_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(8), default="deferred", server_default="deferred")


class IndexChangeEntry(Base):
    """One signal entering (``add``) or leaving (``remove``) the matchable set, or every
    signal of one published import entering it (``import``; ``signal_id`` is the import)."""

    __tablename__ = "index_changes"
    __table_args__ = (
        CheckConstraint("op IN ('add', 'remove', 'import')", name="op"),
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
        CheckConstraint(
            "role IN ('admin', 'curator', 'matcher', 'reviewer', 'analyst')", name="role"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    prefix: Mapped[str] = mapped_column(String(16), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()
    # The person the key belongs to (a web user): decisions made with it are theirs.
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )


# -- live streams, alerts, actions, evidence (the live-stream monitor) ----------------------


class Stream(Base):
    """A watched live stream: where it comes from, what the platform says about it, and how
    far the monitor has got. ``desired`` is what an operator asked for (``run`` or ``stop``);
    ``state`` is what the worker that holds it (``worker``, until ``lease_until``) sees."""

    __tablename__ = "streams"
    __table_args__ = (
        CheckConstraint(
            "state IN ('connecting', 'live', 'stalled', 'reconnecting', 'ended', 'failed')",
            name="state",
        ),
        CheckConstraint("kind IN ('pull', 'push')", name="kind"),
        CheckConstraint("desired IN ('run', 'stop')", name="desired"),
        Index(None, "desired", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    external_id: Mapped[str | None] = mapped_column(String(255), index=True)
    kind: Mapped[str] = mapped_column(String(8))
    url: Mapped[str | None] = mapped_column(Text)
    stream_metadata: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sample_fps: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(16), default="connecting")
    state_reason: Mapped[str | None] = mapped_column(Text)
    desired: Mapped[str] = mapped_column(String(8), default="run")
    worker: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column()
    samples: Mapped[int] = mapped_column(Integer, default=0)
    matches: Mapped[int] = mapped_column(Integer, default=0)
    dropped: Mapped[int] = mapped_column(Integer, default=0)
    alerts: Mapped[int] = mapped_column(Integer, default=0)
    stream_time: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column()
    # How far behind live it is processed, and input it lost (gaps in its own timestamps).
    behind_live_seconds: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    falling_behind: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    input_lost_seconds: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    input_discontinuities: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    alerts_pending: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Frames of its alerts that could not be kept as evidence (queue full, or failed).
    evidence_lost: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # samples matched on their whole frame only: over the region budget, region work failed
    regions_skipped: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    regions_failed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # samples the classifiers did not score (over budget) or failed to score
    classify_skipped: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    classifier_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # review-now alerts raised, and scored samples that met the review-now rule
    review_now_alerts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    review_now_samples: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The API key that started the stream (per-key quotas); None from the CLI or demo mode.
    api_key_id: Mapped[int | None] = mapped_column(
        ForeignKey("api_keys.id", ondelete="SET NULL"), index=True
    )


class Alert(Base):
    """A decision that a stream shows known material: one per (stream, banked item), written
    before any action is taken; later matching frames extend it instead of repeating it.

    ``kind`` ``review_now``: the classifiers' review-now rule fired on the stream (no banked
    item: ``bank`` is empty and ``bank_content_id`` is minus its number among the stream's
    review-now alerts, so the (stream, item) uniqueness holds; ``frames_matched`` counts the
    likely samples the rule counted when it fired, ``best_value`` is the highest fused
    priority, ``summary`` its explanation, ``details`` the video-call likelihood and parts).
    At most one is open per stream; later qualifying samples extend it."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("stream_id", "bank_content_id"),
        CheckConstraint("status IN ('open', 'acknowledged')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    stream_id: Mapped[int | None] = mapped_column(
        ForeignKey("streams.id", ondelete="CASCADE"), index=True
    )
    bank: Mapped[str] = mapped_column(String(255))
    bank_content_id: Mapped[int] = mapped_column(Integer)
    category: Mapped[str | None] = mapped_column(String(64))
    signal_type: Mapped[str] = mapped_column(String(32))
    rule: Mapped[str] = mapped_column(Text)
    first_stream_time: Mapped[float] = mapped_column(Float)
    last_stream_time: Mapped[float] = mapped_column(Float)
    best_distance: Mapped[int] = mapped_column(Integer)
    frames_matched: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="open")
    acknowledged_at: Mapped[datetime | None] = mapped_column()
    acknowledged_by: Mapped[str | None] = mapped_column(String(255))
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    kind: Mapped[str] = mapped_column(String(16), default="match", server_default="match")
    best_value: Mapped[float | None] = mapped_column(Float)
    summary: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=text("'{}'"))


class AlertFrame(Base):
    """One sampled frame that matched, as evidence of its alert."""

    __tablename__ = "alert_frames"
    __table_args__ = (UniqueConstraint("alert_id", "stream_time"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    stream_time: Mapped[float] = mapped_column(Float)
    captured_at: Mapped[datetime] = mapped_column()
    pdq: Mapped[str] = mapped_column(String(64))
    quality: Mapped[int] = mapped_column(Integer)
    distance: Mapped[int] = mapped_column(Integer)
    # How the frame matched when not by its whole picture (a region, a dihedral transform:
    # `vangnet.live.decision.found_keys`, ``region`` [x, y, w, h]); empty otherwise.
    found: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=text("'{}'"))


class WebhookDelivery(Base):
    """The outbox of signed webhooks: written in the alert's transaction, then delivered at
    least once (retries with backoff) or moved to the dead-letter state."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'delivered', 'dead')", name="status"),
        Index(None, "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    event: Mapped[str] = mapped_column(String(64))
    url: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)  # the exact JSON text that is signed and sent
    alert_id: Mapped[int | None] = mapped_column(
        ForeignKey("alerts.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column()


class EvidenceItem(Base):
    """One piece of preserved evidence: its bytes live encrypted in the vault under
    ``vault_name``; ``sha256`` is of the plaintext, so a copy can be verified."""

    __tablename__ = "evidence_items"
    __table_args__ = (UniqueConstraint("alert_id", "stream_time"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int | None] = mapped_column(
        ForeignKey("alerts.id", ondelete="SET NULL"), index=True
    )
    stream_id: Mapped[int | None] = mapped_column(
        ForeignKey("streams.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # "frame" (live) or "upload"
    media_type: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases.id", ondelete="SET NULL"), index=True
    )
    filename: Mapped[str | None] = mapped_column(String(255))
    md5: Mapped[str | None] = mapped_column(String(32))
    sha1: Mapped[str | None] = mapped_column(String(40))
    pdq: Mapped[str | None] = mapped_column(String(64))
    stream_time: Mapped[float | None] = mapped_column(Float)
    captured_at: Mapped[datetime] = mapped_column()
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    vault_name: Mapped[str] = mapped_column(String(255))
    matched: Mapped[bool] = mapped_column(Boolean, default=False)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EvidenceSignal(Base):
    """A hash of an evidence item of a signal type without a column of its own (any
    registered type: plug-ins included), one row per item and type."""

    __tablename__ = "evidence_signals"
    __table_args__ = (UniqueConstraint("evidence_id", "signal_type"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    evidence_id: Mapped[int] = mapped_column(
        ForeignKey("evidence_items.id", ondelete="CASCADE"), index=True
    )
    signal_type: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(Text)


class CustodyEvent(Base):
    """Chain of custody: who did what to an evidence item, when (append-only)."""

    __tablename__ = "custody_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    evidence_id: Mapped[int] = mapped_column(
        ForeignKey("evidence_items.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)


# -- review: cases, decisions, users, web sessions, reports, the audit chain -----------------

CASE_STATUSES = (
    "open",
    "escalated",
    "second_opinion",
    "pending_confirmation",
    "confirmed",
    "false_positive",
)
DECISIONS = ("confirm", "false_positive", "escalate", "second_opinion")
USER_ROLES = ("admin", "curator", "reviewer", "analyst")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Case(Base):
    """What a reviewer decides on together: the matches and alerts of one account, stream
    or evidence item (``key``), their media, timeline, decisions and reports."""

    __tablename__ = "cases"
    __table_args__ = (
        CheckConstraint(_in("status", CASE_STATUSES), name="status"),
        CheckConstraint("kind IN ('live', 'upload', 'investigation', 'context')", name="kind"),
        Index(None, "status", "last_signal_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(255), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(24), default="open")
    category: Mapped[str | None] = mapped_column(String(64))  # "profile:code" once confirmed
    subject: Mapped[dict[str, Any]] = mapped_column(default=dict)
    stream_id: Mapped[int | None] = mapped_column(
        ForeignKey("streams.id", ondelete="SET NULL"), index=True
    )
    # Two-person rule: the first reviewer's confirmation, waiting for a second reviewer.
    pending_by: Mapped[str | None] = mapped_column(String(255))
    pending_category: Mapped[str | None] = mapped_column(String(64))
    # Who that first reviewer is as a person ("user:<id>"), however they decided (UI or key).
    pending_person: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_signal_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()
    # The priority signal of the classifier scores kept in ``subject["scores"]`` (fused:
    # `vangnet.signals.classifiers.fusion`), None while no classifier has scored the case,
    # and whether it was "likely" by the thresholds in force when the last score arrived:
    # kept by the intake, so the queue sorts and filters by them in the database.
    priority_signal: Mapped[float | None] = mapped_column(Float, index=True)
    signal_likely: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class CaseMatch(Base):
    """One signal of a case: a banked item matched by an upload or by a stream's frame."""

    __tablename__ = "case_matches"
    __table_args__ = (Index(None, "case_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    evidence_id: Mapped[int | None] = mapped_column(
        ForeignKey("evidence_items.id", ondelete="SET NULL")
    )
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="SET NULL"))
    bank: Mapped[str] = mapped_column(String(255))
    content_id: Mapped[int] = mapped_column(Integer)
    signal_type: Mapped[str] = mapped_column(String(32))
    distance: Mapped[int] = mapped_column(Integer)
    category: Mapped[str | None] = mapped_column(String(64))
    stream_time: Mapped[float | None] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    # The banked item as it was when it matched (bank, category, note, series, source,
    # provenance): kept with the case when the bank changes or is deleted.
    banked: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # decide: a live match is a time range of one banked item in one alert, from
    # ``stream_time`` to ``stream_time_end``, made of ``frames`` matched frames
    stream_time_end: Mapped[float | None] = mapped_column(Float)
    frames: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    # How the match was found when not by the whole picture as given (`Match.to_dict`'s
    # keys: ``region`` [x, y, w, h], ``transform``, ``inliers``, ...); empty otherwise.
    found: Mapped[dict[str, Any]] = mapped_column(default=dict, server_default=text("'{}'"))


class CaseEvent(Base):
    """The timeline of a case: signals, decisions, actions and reports, in order."""

    __tablename__ = "case_events"
    __table_args__ = (Index(None, "case_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(255))
    summary: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class CaseContextRow(Base):
    """A context record behind a case (`vangnet.cases.intake`, source ``context``): its
    ``kind`` (payments, messages, sessions, accounts), its ``ref`` in the ``context_*``
    table, and the ``indicator`` of the reason it supports. The case page and the reports
    load the records by these refs; a row that supports two indicators is here twice."""

    __tablename__ = "case_context_rows"
    __table_args__ = (UniqueConstraint("case_id", "kind", "ref", "indicator"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    ref: Mapped[str] = mapped_column(String(255))
    indicator: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)  # when the case got it


class Decision(Base):
    """A reviewer's decision on a case, attributed and timestamped (append-only)."""

    __tablename__ = "decisions"
    __table_args__ = (CheckConstraint(_in("decision", DECISIONS), name="decision"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(255))
    decision: Mapped[str] = mapped_column(String(24))
    category: Mapped[str | None] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Report(Base):
    """A report built from one or more cases (NCMEC, or a report format: VICS, HTML, PDF or a
    plug-in's) and its fate. ``kind`` is ``ncmec`` or a report-format name; the database does
    not list them (plug-ins register at run time): `vangnet.reports.service` checks it."""

    __tablename__ = "reports"
    __table_args__ = (
        CheckConstraint(
            "status IN ('built', 'submitting', 'submitted', 'failed', 'retracted')", name="status"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="built")
    remote_id: Mapped[str | None] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    body: Mapped[str | None] = mapped_column(Text)  # the NCMEC XML as built
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class User(Base):
    """A person who signs in to the web UI (machines use API keys)."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("role", USER_ROLES), name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Wellness: {"blur": 0-64, "greyscale": bool, "session_items": int}
    preferences: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column()
    # Second factor (TOTP, RFC 6238): the secret AES-GCM encrypted with a key kept outside the
    # database (see vangnet.auth.totp); confirmed once the first code was right; the last
    # time step used (a code is never accepted twice); SHA-256 of the unused recovery codes.
    totp_secret: Mapped[str | None] = mapped_column(Text)
    totp_confirmed_at: Mapped[datetime | None] = mapped_column()
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    totp_recovery: Mapped[list[str] | None] = mapped_column(JSON)


class WebSession(Base):
    """A signed-in browser: the cookie holds a random token, the database its SHA-256."""

    __tablename__ = "web_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    client: Mapped[str | None] = mapped_column(String(64))
    items_viewed: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    # "full" (signed in), or a half-way sign-in that can only finish it: "totp" (password right,
    # code still to give) or "enrol" (password right, a second factor must be set up first).
    stage: Mapped[str] = mapped_column(String(8), default="full")


class LoginAttempt(Base):
    """Failed sign-ins, counted per user name and per client address for rate limiting."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    client: Mapped[str] = mapped_column(String(64), index=True)


class AuditEntry(Base):
    """One line of the audit log. ``hash`` = SHA-256 over the entry's canonical JSON, which
    includes ``prev_hash`` (the hash of the entry before): editing, removing or reordering
    any entry breaks the chain from there on (`vangnet audit verify`)."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(255), index=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str | None] = mapped_column(String(255), index=True)
    before: Mapped[Any] = mapped_column(JSON, nullable=True)
    after: Mapped[Any] = mapped_column(JSON, nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    # HMAC-SHA256 of ``hash`` with the audit key, which is not in the database; None for
    # entries written before the key existed (they keep their SHA-256 chain).
    mac: Mapped[str | None] = mapped_column(String(64))


class AuditHead(Base):
    """The last entry of the audit chain (one row). Appending locks it, so entries are
    numbered and chained one at a time; it also exposes a removed last entry."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    hash: Mapped[str] = mapped_column(String(64))
    # The first entry written with the audit key (earlier entries are legacy, unkeyed); the
    # checkpoints outside the database repeat it under a MAC.
    keyed_from: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))


# -- investigation: triage of seized collections ----------------------------------------------


class TriageRun(Base):
    """One `vangnet triage` run over some sources into an investigation case."""

    __tablename__ = "triage_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    sources: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"paths": [...]}
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    actor: Mapped[str] = mapped_column(String(255))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)


class TriageItem(Base):
    """One file found in a source (folder, archive, disk image), with where it was found
    (``chain``: image -> partition -> file system path -> archive -> member), its hashes,
    metadata, text and matches. ``key`` is the SHA-256 of the chain: a file is recorded
    once per case, so an interrupted triage resumes where it stopped."""

    __tablename__ = "triage_items"
    __table_args__ = (
        UniqueConstraint("case_id", "key"),
        CheckConstraint("kind IN ('photo', 'video', 'archive', 'image', 'other')", name="kind"),
        CheckConstraint("status IN ('ok', 'failed')", name="status"),
        Index(None, "case_id", "kind"),
        Index(None, "case_id", "priority_signal"),
        Index(None, "sha256"),
        Index(None, "md5"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("triage_runs.id", ondelete="SET NULL"))
    key: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text)
    chain: Mapped[list[str]] = mapped_column(JSON)
    name: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(BigInteger)
    times: Mapped[dict[str, Any]] = mapped_column(default=dict)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    kind: Mapped[str] = mapped_column(String(16))
    content_type: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="ok")
    reason: Mapped[str | None] = mapped_column(Text)
    md5: Mapped[str | None] = mapped_column(String(32))
    sha1: Mapped[str | None] = mapped_column(String(40))
    sha256: Mapped[str | None] = mapped_column(String(64))
    pdq: Mapped[str | None] = mapped_column(String(64))
    pdq_quality: Mapped[int | None] = mapped_column(Integer)
    vpdq: Mapped[str | None] = mapped_column(Text)
    item_metadata: Mapped[dict[str, Any]] = mapped_column(default=dict)
    text: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    findings: Mapped[dict[str, Any]] = mapped_column(default=dict)  # screenshot, video call...
    matches: Mapped[list[Any]] = mapped_column(JSON, default=list)
    category: Mapped[str | None] = mapped_column(String(64))
    series: Mapped[str | None] = mapped_column(Text)
    series_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # where each chain step sits in its container (zip / tar header offset), None if unknown
    locations: Mapped[list[int | None] | None] = mapped_column(JSON)
    # The triage ``classify`` step's priority signal (its scores and summary are in
    # ``findings["classifiers"]``), None when the step did not run or scored nothing, and
    # whether it was "likely" by the thresholds of the run.
    priority_signal: Mapped[float | None] = mapped_column(Float)
    signal_likely: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class TriageSignal(Base):
    """A hash of a triage item of a signal type without a column of its own, one row per
    item and type: any registered single-value type (a plug-in's picture hash or embedding,
    another digest) and a video's per-frame signals other than ``vpdq`` (``vpdq_cropped``,
    ``vpdq_regions``: the value serialised as `FrameHashes.serialize` makes it, as
    `ContentSignal` and `EvidenceSignal` rows hold them)."""

    __tablename__ = "triage_signals"
    __table_args__ = (UniqueConstraint("item_id", "signal_type"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    item_id: Mapped[int] = mapped_column(
        ForeignKey("triage_items.id", ondelete="CASCADE"), index=True
    )
    signal_type: Mapped[str] = mapped_column(String(64))
    value: Mapped[str] = mapped_column(Text)


# -- classifiers: calibrations measured on the deployment's own labelled files -------------------


class ClassifierCalibration(Base):
    """A classifier's threshold measured by `vangnet classifiers evaluate --save` on labelled
    files: the lowest score whose precision on them reached ``target_precision``, with the
    ``figures`` measured (JSON), how many ``labels`` and the SHA-256 of the labels file, who
    saved it and when. One per classifier and model ``version``: it applies only while that
    version is installed."""

    __tablename__ = "classifier_calibrations"
    __table_args__ = (UniqueConstraint("classifier", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    classifier: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(255))
    threshold: Mapped[float] = mapped_column(Float)
    target_precision: Mapped[float] = mapped_column(Float)
    figures: Mapped[dict[str, Any]] = mapped_column(default=dict)
    labels: Mapped[int] = mapped_column(Integer)
    labels_sha256: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# -- context: payment, chat, call-session and account records (`vangnet.context`) ---------------


class DecimalText(TypeDecorator[Decimal]):
    """An exact decimal amount, kept as its canonical text on every database (SQLite has no
    exact decimal type)."""

    impl = String(40)
    cache_ok = True

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> str | None:
        return None if value is None else format(value, "f")

    def process_result_value(self, value: str | None, dialect: Dialect) -> Decimal | None:
        return None if value is None else Decimal(value)


class ContextImport(Base):
    """One import of context records from a file (all-or-nothing): its ``kind`` (payments,
    messages, sessions, accounts), ``format``, the file's name and SHA-256, how many rows it
    held, how many were new (``added``) and how many were already stored (``duplicates``)."""

    __tablename__ = "context_imports"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    format: Mapped[str] = mapped_column(String(32))
    filename: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    added: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    actor: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ContextAccount(Base):
    """An account, payer, beneficiary or handle as a platform, bank or payment provider
    knows it (`vangnet.sources.records.model.Account`)."""

    __tablename__ = "context_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(255), unique=True)
    import_id: Mapped[int | None] = mapped_column(
        ForeignKey("context_imports.id", ondelete="SET NULL"), index=True
    )
    kind: Mapped[str] = mapped_column(String(32), default="person")
    name: Mapped[str | None] = mapped_column(String(255))
    country: Mapped[str | None] = mapped_column(String(2))
    timezone: Mapped[str | None] = mapped_column(String(64))
    birth_year: Mapped[int | None] = mapped_column(Integer)
    sex: Mapped[str | None] = mapped_column(String(16))
    platform: Mapped[str | None] = mapped_column(String(64))
    opened_at: Mapped[datetime | None] = mapped_column()
    handles: Mapped[list[str]] = mapped_column(JSON, default=list)
    devices: Mapped[list[str]] = mapped_column(JSON, default=list)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ContextPayment(Base):
    """One payment (`vangnet.sources.records.model.Payment`); ``ref`` is its source's reference."""

    __tablename__ = "context_payments"
    __table_args__ = (Index(None, "sender", "at"), Index(None, "beneficiary", "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(255), unique=True)
    import_id: Mapped[int | None] = mapped_column(
        ForeignKey("context_imports.id", ondelete="SET NULL"), index=True
    )
    at: Mapped[datetime] = mapped_column(index=True)
    sender: Mapped[str] = mapped_column(String(255))
    beneficiary: Mapped[str] = mapped_column(String(255))
    amount: Mapped[Decimal] = mapped_column(DecimalText())
    currency: Mapped[str] = mapped_column(String(3))
    channel: Mapped[str] = mapped_column(String(16), default="other")
    sender_country: Mapped[str | None] = mapped_column(String(2))
    beneficiary_country: Mapped[str | None] = mapped_column(String(2))
    narrative: Mapped[str] = mapped_column(Text, default="")
    merchant_category: Mapped[str | None] = mapped_column(String(32))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ContextMessage(Base):
    """One chat message (`vangnet.sources.records.model.Message`)."""

    __tablename__ = "context_messages"
    __table_args__ = (Index(None, "conversation", "at"), Index(None, "sender", "at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(255), unique=True)
    import_id: Mapped[int | None] = mapped_column(
        ForeignKey("context_imports.id", ondelete="SET NULL"), index=True
    )
    conversation: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column()
    sender: Mapped[str] = mapped_column(String(255))
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    text: Mapped[str] = mapped_column(Text, default="")
    platform: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(16))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ContextSession(Base):
    """One video call or live-streaming session (`vangnet.sources.records.model.CallSession`)."""

    __tablename__ = "context_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ref: Mapped[str] = mapped_column(String(255), unique=True)
    import_id: Mapped[int | None] = mapped_column(
        ForeignKey("context_imports.id", ondelete="SET NULL"), index=True
    )
    platform: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(index=True)
    ended_at: Mapped[datetime | None] = mapped_column()
    participants: Mapped[list[str]] = mapped_column(JSON, default=list)
    countries: Mapped[list[str | None]] = mapped_column(JSON, default=list)
    stream: Mapped[str | None] = mapped_column(String(64), index=True)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)


class DeterrenceCount(Base):
    """Aggregate counts of the search-deterrence check (`vangnet.context.deterrence`): per
    UTC ``day``, term list that matched (``list_name``; empty when none did) and query
    ``language`` (a known language code or ``other``), how many ``checks`` were made and how
    many answered with a ``warnings``. No query, caller or time of day is ever stored."""

    __tablename__ = "deterrence_counts"
    __table_args__ = (UniqueConstraint("day", "list_name", "language"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date)
    list_name: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(16))
    checks: Mapped[int] = mapped_column(Integer, default=0)
    warnings: Mapped[int] = mapped_column(Integer, default=0)


class ContextAssessment(Base):
    """One run of every context evaluator over the records from ``since`` to ``until``
    (`vangnet.context.assess`): who ran it and its ``figures`` (records, evaluators and
    their versions, evaluators that failed, the risk-over-time buckets, graph counts)."""

    __tablename__ = "context_assessments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(255))
    since: Mapped[datetime | None] = mapped_column()
    until: Mapped[datetime | None] = mapped_column()
    figures: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ContextRisk(Base):
    """One account's risk in an assessment: its ``score``, ``role``, ``reasons`` (as
    `vangnet.context.findings.Reason.as_json`) and ``weekly`` scores (``[{"end", "score"}]``,
    one per bucket of the assessment)."""

    __tablename__ = "context_risks"
    __table_args__ = (
        UniqueConstraint("assessment_id", "account"),
        Index(None, "assessment_id", "score"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assessment_id: Mapped[int] = mapped_column(
        ForeignKey("context_assessments.id", ondelete="CASCADE")
    )
    account: Mapped[str] = mapped_column(String(255))
    score: Mapped[float] = mapped_column(Float)
    role: Mapped[str] = mapped_column(String(16))
    reasons: Mapped[list[Any]] = mapped_column(JSON, default=list)
    weekly: Mapped[list[Any]] = mapped_column(JSON, default=list)
