"""Local features of banked pictures (`vangnet.store.models.ContentFeatures`): kept when a
picture is banked from its pixels, read by the matcher to verify wider-net candidates.

Each row holds one extractor's packed output (``kind``, e.g. ``sift512-v1``:
`vangnet.signals.features.pack`) for one content item; a bank filled from hash lists, or
made before features were kept, has none, and its candidates beyond the threshold are never
matches. Functions take a `Session` first; the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from vangnet.banks.bank import bank_by_name
from vangnet.banks.bulk import chunks
from vangnet.store.models import ContentFeatures, ContentSignal


def keep_features(
    session: Session, *, content_id: int, bank_id: int, features: Mapping[str, bytes]
) -> int:
    """Store ``features`` (kind -> packed bytes) of a content item, each kind it does not
    hold yet; returns how many were added."""
    held = set(
        session.scalars(
            select(ContentFeatures.kind).where(ContentFeatures.content_id == content_id)
        )
    )
    rows = [
        ContentFeatures(content_id=content_id, bank_id=bank_id, kind=kind, data=data)
        for kind, data in features.items()
        if kind not in held and data
    ]
    session.add_all(rows)
    if rows:
        session.flush()
    return len(rows)


def banks_with_features(session: Session, bank_ids: Iterable[int], kind: str) -> set[int]:
    """The banks among ``bank_ids`` that hold features of ``kind`` for some content."""
    out: set[int] = set()
    for bank_id in set(bank_ids):
        found = session.scalar(
            select(exists().where(ContentFeatures.bank_id == bank_id, ContentFeatures.kind == kind))
        )
        if found:
            out.add(bank_id)
    return out


def features_of(session: Session, content_ids: Iterable[int], kind: str) -> dict[int, bytes]:
    """The packed features of ``kind`` of each content item that has them."""
    out: dict[int, bytes] = {}
    for chunk in chunks(sorted(set(content_ids))):
        for content_id, data in session.execute(
            select(ContentFeatures.content_id, ContentFeatures.data).where(
                ContentFeatures.content_id.in_(chunk), ContentFeatures.kind == kind
            )
        ):
            out[int(content_id)] = bytes(data)
    return out


def features_count(session: Session, bank: str) -> dict[str, int]:
    """Per kind, how many of the bank's content items have local features."""
    bank_id = bank_by_name(session, bank).id
    return {
        str(kind): int(count)
        for kind, count in session.execute(
            select(ContentFeatures.kind, func.count())
            .where(ContentFeatures.bank_id == bank_id)
            .group_by(ContentFeatures.kind)
        )
    }


def kind_versions(
    session: Session, bank_ids: Iterable[int], kind: str
) -> dict[int, tuple[int, int]]:
    """Per bank among ``bank_ids`` that holds rows of ``kind``: (rows, highest row id), which
    changes whenever one is added or removed (a cache of them is then stale)."""
    wanted = sorted(set(bank_ids))
    if not wanted:
        return {}
    return {
        int(bank_id): (int(count), int(top))
        for bank_id, count, top in session.execute(
            select(ContentFeatures.bank_id, func.count(), func.max(ContentFeatures.id))
            .where(ContentFeatures.bank_id.in_(wanted), ContentFeatures.kind == kind)
            .group_by(ContentFeatures.bank_id)
        )
    }


def bank_rows(session: Session, bank_id: int, kind: str) -> list[tuple[int, bytes]]:
    """(content id, packed data) of every row of ``kind`` the bank holds."""
    return [
        (int(content_id), bytes(data))
        for content_id, data in session.execute(
            select(ContentFeatures.content_id, ContentFeatures.data).where(
                ContentFeatures.bank_id == bank_id, ContentFeatures.kind == kind
            )
        )
    ]


def pdq_signal_ids(session: Session, content_ids: Iterable[int]) -> dict[int, int]:
    """The id of each content item's PDQ signal (items without one are left out)."""
    out: dict[int, int] = {}
    for chunk in chunks(sorted(set(content_ids))):
        for signal_id, content_id in session.execute(
            select(ContentSignal.id, ContentSignal.content_id).where(
                ContentSignal.content_id.in_(chunk), ContentSignal.signal_type == "pdq"
            )
        ):
            out.setdefault(int(content_id), int(signal_id))
    return out
