"""The feature index (issue 12, the wider net's cost): beside each PDQ index a second index
holds only the signals whose banked item keeps local features, kept in step with the change
log (banking, removal, bank changes, an item given features later, another process,
snapshots); the matcher searches it, not the whole index, to a bank's verify_threshold, so
the entries of hash-only banks are never visited beyond their own threshold.

Features: real SIFT features (`vangnet.signals.features`) of one BSDS500 photo, kept with
items whose PDQ is set by the test (the index takes an item by whether it holds features,
whatever they show). Query: another BSDS500 photo hashed as ``vangnet match`` hashes it."""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from vangnet.banks.bank import create_bank, set_bank_enabled
from vangnet.banks.categories import Category
from vangnet.banks.contents import add_content, delete_content
from vangnet.banks.features import FeatureSeal
from vangnet.config import get_settings
from vangnet.index.base import Found, RulesOf, SignalIndex
from vangnet.match.indexes import SignalIndexes
from vangnet.match.service import Matcher
from vangnet.signals.hashing import hash_bytes

rng = random.Random(12)


def flip(hex_value: str, bits: int) -> str:
    value = int(hex_value, 16)
    for bit in rng.sample(range(256), bits):
        value ^= 1 << bit
    return f"{value:064x}"


def random_pdq() -> str:
    return f"{rng.getrandbits(256):064x}"


@pytest.fixture
def features(shared_data: Path) -> dict[str, bytes]:
    """The local features (and crop hashes) a bank keeps of one BSDS500 test photo."""
    photo = sorted((shared_data / "photos" / "bsds500" / "test").glob("*.jpg"))[0]
    hashed = hash_bytes(photo.read_bytes(), settings=get_settings(), for_bank=True, features=True)
    kept = hashed.kept_features()
    assert kept
    return kept


def _add(
    engine: Engine, bank: str, pdq: str, features: dict[str, bytes] | None = None
) -> tuple[int, int]:
    """Bank one item; its content id and PDQ signal id."""
    from vangnet.banks.features import pdq_signal_ids

    with Session(engine) as s:
        content_id = add_content(
            s,
            bank=bank,
            signals={"pdq": pdq},
            category=Category.parse("vics:1"),
            features=features,
            seal=FeatureSeal.from_settings(get_settings()) if features else None,
        )
        signal_id = pdq_signal_ids(s, [content_id])[content_id]
        s.commit()
    return content_id, signal_id


def _bank(engine: Engine, name: str, **thresholds: Any) -> None:
    with Session(engine) as s:
        create_bank(s, name=name, thresholds={"pdq": thresholds} if thresholds else None)
        s.commit()


def _ids(index: SignalIndex | None) -> set[int]:
    assert index is not None
    return {i for i, _ in index.query_many(["0" * 64], 256)[0]}


def test_the_feature_index_follows_banking_removal_bank_changes_and_snapshots(
    db_engine: Engine, tmp_path: Path, features: dict[str, bytes]
) -> None:
    _bank(db_engine, "MEDIA")
    _bank(db_engine, "HASHES")
    _, kept = _add(db_engine, "MEDIA", random_pdq(), features)
    _, bare = _add(db_engine, "MEDIA", random_pdq())  # banked from a hash: no features
    hashes = [_add(db_engine, "HASHES", random_pdq())[1] for _ in range(20)]
    snap = tmp_path / "snap"
    indexes = SignalIndexes(db_engine, snapshot_dir=snap)
    indexes.load()
    assert _ids(indexes.get_featured("pdq")) == {kept}
    assert _ids(indexes.get("pdq")) == {kept, bare, *hashes}
    assert indexes.get_featured("md5") is None  # only types with a wider net have one
    other = SignalIndexes(db_engine, snapshot_dir=None)  # another process: from the database
    other.load()

    # banking, as the change log tells every process
    _, late = _add(db_engine, "MEDIA", random_pdq(), features)
    more_hashes = _add(db_engine, "HASHES", random_pdq())[1]
    for ix in (indexes, other):
        ix.refresh()
        assert _ids(ix.get_featured("pdq")) == {kept, late}
        assert more_hashes in _ids(ix.get("pdq"))

    # an item banked from a hash, given its features later (the same picture added again)
    with Session(db_engine) as s:
        assert (
            add_content(
                s,
                bank="MEDIA",
                signals={"pdq": _value(db_engine, bare)},
                features=features,
                seal=FeatureSeal.from_settings(get_settings()),
            )
            > 0
        )
        s.commit()
    for ix in (indexes, other):
        ix.refresh()
        assert _ids(ix.get_featured("pdq")) == {kept, late, bare}

    # removal, and a bank disabled then enabled again
    with Session(db_engine) as s:
        delete_content(s, _content_of(s, late))
        set_bank_enabled(s, "MEDIA", enabled=False)
        s.commit()
    for ix in (indexes, other):
        ix.refresh()
        assert _ids(ix.get_featured("pdq")) == set()
        assert kept not in _ids(ix.get("pdq"))
    with Session(db_engine) as s:
        set_bank_enabled(s, "MEDIA", enabled=True)
        s.commit()
    for ix in (indexes, other):
        ix.refresh()
        assert _ids(ix.get_featured("pdq")) == {kept, bare}
    assert indexes.featured_sizes() == {"pdq": 2}

    # a snapshot keeps it; a process started from the snapshot catches up from the log
    indexes.save_snapshot()
    assert sorted(p.name for p in snap.glob("pdq*.idx")) == [
        f"pdq.featured.{indexes.get('pdq').name}.idx",  # type: ignore[union-attr]
        f"pdq.{indexes.get('pdq').name}.idx",  # type: ignore[union-attr]
    ]
    _, after = _add(db_engine, "MEDIA", random_pdq(), features)
    started = SignalIndexes(db_engine, snapshot_dir=snap)
    started.load()
    assert _ids(started.get_featured("pdq")) == {kept, bare, after}
    assert _ids(started.get("pdq")) == {kept, bare, after, *hashes, more_hashes}


def _value(engine: Engine, signal_id: int) -> str:
    from vangnet.banks.matchable import describe_signals

    with Session(engine) as s:
        return describe_signals(s, [signal_id])[signal_id].value


def _content_of(session: Session, signal_id: int) -> int:
    from vangnet.banks.matchable import describe_signals

    return describe_signals(session, [signal_id])[signal_id].content_id


class _Visits(SignalIndex):
    """A serving index as it is, recording every id its searches hand to the banks' rules:
    the entries a search visits within its radius (counted, not timed)."""

    name = "visits"

    def __init__(self, index: SignalIndex) -> None:
        self.index = index
        self.visited: set[int] = set()

    @classmethod
    def build(cls, signal_type: Any, values: Sequence[str], ids: Sequence[int]) -> _Visits:
        raise NotImplementedError

    def query_many(self, values: Sequence[str], threshold: int) -> list[list[tuple[int, int]]]:
        return self.index.query_many(values, threshold)

    def add(self, values: Sequence[str], ids: Sequence[int]) -> None:
        self.index.add(values, ids)

    def remove(self, ids: Sequence[int]) -> None:
        self.index.remove(ids)

    def __len__(self) -> int:
        return len(self.index)

    def lookup(
        self,
        values: Sequence[str],
        threshold: int,
        rules_of: RulesOf,
        qualities: Sequence[int | None] | None = None,
    ) -> list[list[Found]]:
        def counted(ids: Sequence[int]) -> Any:
            self.visited.update(ids)
            return rules_of(ids)

        return self.index.lookup(values, threshold, counted, qualities)


def test_the_wider_net_never_visits_hash_only_entries_beyond_their_threshold(
    db_engine: Engine, shared_data: Path, features: dict[str, bytes]
) -> None:
    """A hash-only bank with entries 10-100 bits from the query photo's PDQ beside a bank
    that keeps features (verify_threshold 100): the lookup with the wider net finds the same
    hash-only match as without it, and visits none of the hash-only entries beyond 31 (the
    whole index was searched to 100 before); the item with features at 60 bits is visited
    (in the feature index) and verified (its features show another photo: no match)."""
    photo = sorted((shared_data / "photos" / "bsds500" / "val").glob("*.jpg"))[0]
    hashed = hash_bytes(photo.read_bytes(), settings=get_settings(), dihedral=True, verify=True)
    query = hashed.value("pdq")
    assert query is not None and hashed.picture is not None
    _bank(db_engine, "MEDIA", verify_threshold=100)
    _bank(db_engine, "HASHES", verify_threshold=100)  # asks for it, has nothing to verify
    _, candidate = _add(db_engine, "MEDIA", flip(query, 60), features)
    near = _add(db_engine, "HASHES", flip(query, 10))
    far = {bits: _add(db_engine, "HASHES", flip(query, bits))[1] for bits in (40, 60, 80, 100)}
    indexes = SignalIndexes(db_engine, snapshot_dir=None)
    indexes.load()
    whole = indexes.indexes["pdq"] = _Visits(indexes.indexes["pdq"])
    featured = indexes.featured["pdq"] = _Visits(indexes.featured["pdq"])
    matcher = Matcher(indexes, settings=get_settings())
    with Session(db_engine) as s:
        wider = matcher.lookup_hashes(s, hashed)
        assert [(m.bank, m.content_id, m.distance) for m in wider.matches] == [
            ("HASHES", near[0], 10)
        ]
        assert wider.unverified == 0
        assert whole.visited.isdisjoint(far.values()), "hash-only entries beyond 31 visited"
        assert featured.visited == {candidate}
        assert near[1] in whole.visited
        # the same answer without the wider net (no pixels to verify against)
        from dataclasses import replace

        plain = matcher.lookup_hashes(s, replace(hashed, picture=None))
        assert plain.matches == wider.matches
