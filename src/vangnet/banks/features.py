"""Local features of banked pictures (`vangnet.store.models.ContentFeatures`): kept when a
picture is banked from its pixels, read by the matcher to verify wider-net candidates.

Each row holds one extractor's packed output (``kind``, e.g. ``sift512-v1``:
`vangnet.signals.features.pack`) for one content item; a bank filled from hash lists, or
made before features were kept, has none, and its candidates beyond the threshold are never
matches. Functions take a `Session` first; the caller owns the transaction.

Keypoints with their descriptors allow a rough picture of what was banked to be drawn again,
so a row is stored sealed (`FeatureSeal`: AES-256-GCM with a key derived from the evidence
vault's key, bound to its content item and kind): a copy of the database alone does not give
them away. A row that cannot be opened (another vault key, an altered row) is left out and
logged: its item is then matched as one without features.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from vangnet.banks.bank import bank_by_name
from vangnet.banks.bulk import chunks
from vangnet.config import Settings
from vangnet.store.models import ContentFeatures, ContentSignal
from vangnet.store.vault import derived_key

log = logging.getLogger(__name__)

_SEALED = b"vfs1"  # a sealed row: these 4 bytes, a 12-byte nonce, the AES-GCM ciphertext
_NONCE = 12


class FeatureSeal:
    """Seals and opens stored features with a key derived from the vault key
    (`vangnet.store.vault.derived_key`, purpose ``bank-features``)."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    @classmethod
    def from_settings(cls, settings: Settings) -> FeatureSeal:
        return cls(derived_key(settings, "bank-features"))

    @staticmethod
    def _bound(content_id: int, kind: str) -> bytes:
        return f"features:{content_id}:{kind}".encode()

    def seal(self, content_id: int, kind: str, data: bytes) -> bytes:
        nonce = secrets.token_bytes(_NONCE)
        return _SEALED + nonce + self._aead.encrypt(nonce, data, self._bound(content_id, kind))

    def open(self, content_id: int, kind: str, stored: bytes) -> bytes | None:
        """The packed features, or None when ``stored`` cannot be opened with this key."""
        if not stored.startswith(_SEALED) or len(stored) < len(_SEALED) + _NONCE + 16:
            return None
        nonce = stored[len(_SEALED) : len(_SEALED) + _NONCE]
        try:
            return self._aead.decrypt(
                nonce, stored[len(_SEALED) + _NONCE :], self._bound(content_id, kind)
            )
        except InvalidTag:
            return None


def keep_features(
    session: Session,
    *,
    content_id: int,
    bank_id: int,
    features: Mapping[str, bytes],
    seal: FeatureSeal,
) -> int:
    """Store ``features`` (kind -> packed bytes) of a content item, sealed, each kind it does
    not hold yet; returns how many were added."""
    held = set(
        session.scalars(
            select(ContentFeatures.kind).where(ContentFeatures.content_id == content_id)
        )
    )
    rows = [
        ContentFeatures(
            content_id=content_id,
            bank_id=bank_id,
            kind=kind,
            data=seal.seal(content_id, kind, data),
        )
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


def features_of(
    session: Session, content_ids: Iterable[int], kind: str, seal: FeatureSeal
) -> dict[int, bytes]:
    """The packed features of ``kind`` of each content item that has them (opened; a row
    that cannot be opened is left out and logged)."""
    out: dict[int, bytes] = {}
    unusable: list[int] = []
    for chunk in chunks(sorted(set(content_ids))):
        for content_id, data in session.execute(
            select(ContentFeatures.content_id, ContentFeatures.data).where(
                ContentFeatures.content_id.in_(chunk), ContentFeatures.kind == kind
            )
        ):
            opened = seal.open(int(content_id), kind, bytes(data))
            if opened is None:
                unusable.append(int(content_id))
            else:
                out[int(content_id)] = opened
    if unusable:
        log.warning(
            "local features of %d banked items cannot be opened (another vault key, or "
            "altered rows; items %s): matched as items without features",
            len(unusable),
            unusable[:10],
        )
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


def bank_rows(
    session: Session, bank_id: int, kind: str, seal: FeatureSeal
) -> list[tuple[int, bytes]]:
    """(content id, packed data) of every row of ``kind`` the bank holds (opened; a row that
    cannot be opened is left out and logged)."""
    out: list[tuple[int, bytes]] = []
    unusable = 0
    for content_id, data in session.execute(
        select(ContentFeatures.content_id, ContentFeatures.data).where(
            ContentFeatures.bank_id == bank_id, ContentFeatures.kind == kind
        )
    ):
        opened = seal.open(int(content_id), kind, bytes(data))
        if opened is None:
            unusable += 1
        else:
            out.append((int(content_id), opened))
    if unusable:
        log.warning("%d rows of %s in bank %d cannot be opened: left out", unusable, kind, bank_id)
    return out


def signals_with_features(session: Session, signal_ids: Iterable[int], kind: str) -> set[int]:
    """The signals among ``signal_ids`` whose content item holds features of ``kind`` (what
    the matcher's feature index keeps: `vangnet.match.indexes`)."""
    out: set[int] = set()
    for chunk in chunks(sorted(set(signal_ids))):
        out.update(
            int(i)
            for i in session.scalars(
                select(ContentSignal.id)
                .join(ContentFeatures, ContentFeatures.content_id == ContentSignal.content_id)
                .where(ContentSignal.id.in_(chunk), ContentFeatures.kind == kind)
            )
        )
    return out


def import_has_features(session: Session, import_id: int, kind: str) -> bool:
    """Whether any content item of the import ``import_id`` holds features of ``kind`` (an
    import of hash lists has none: the feature index then skips it without reading it)."""
    return bool(
        session.scalar(
            select(
                exists()
                .where(ContentSignal.import_id == import_id)
                .where(ContentFeatures.content_id == ContentSignal.content_id)
                .where(ContentFeatures.kind == kind)
            )
        )
    )


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
