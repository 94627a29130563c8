"""An index without snapshots says so with `SnapshotUnsupported` (a named error, not
`NotImplementedError`), and the per-process indexes treat it as "no snapshot": an index
plug-in that claims snapshots but has none is left out of the snapshot, the others are
saved, and after a restart it is built from the database and still matches."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from vangnet.banks.bank import create_bank
from vangnet.banks.contents import add_content
from vangnet.errors import VangnetError
from vangnet.index.base import SignalIndex, SnapshotUnsupported
from vangnet.index.builtins import DigestIndex
from vangnet.index.conformance import check_index
from vangnet.index.registry import get_index, register_index, unregister_index
from vangnet.match.indexes import SignalIndexes
from vangnet.match.service import Matcher
from vangnet.signals.exact import Md5Signal
from vangnet.signals.registry import register_signal_type, unregister_signal_type

if TYPE_CHECKING:
    from typing import Self

    from vangnet.signals.base import SignalType


class ClaimsSnapshots(DigestIndex):
    """A plug-in index that says it keeps snapshots but kept the defaults of save / load."""

    name = "test-claims-snapshots"
    snapshots = True
    save = SignalIndex.save
    load = SignalIndex.__dict__["load"]


class OtherMd5(Md5Signal):
    name = "test_other_md5"
    index = "test-claims-snapshots"
    description = "MD5 served by an index without snapshots (test plug-in)."


@pytest.fixture
def plugins() -> Iterator[None]:
    register_index(ClaimsSnapshots)
    register_signal_type(OtherMd5)
    yield
    unregister_signal_type(OtherMd5.name)
    unregister_index(ClaimsSnapshots.name)


def test_default_save_and_load_raise_snapshot_unsupported(tmp_path: Path) -> None:
    frames = get_index("frames")  # the built-in video index keeps no snapshots
    assert frames.snapshots is False
    with pytest.raises(SnapshotUnsupported):
        frames.load(OtherMd5, tmp_path / "none.idx")
    index = ClaimsSnapshots.build(OtherMd5, ["0" * 32], [1])
    path = tmp_path / "x.idx"
    with pytest.raises(SnapshotUnsupported, match="has no snapshots") as raised:
        index.save(path)
    assert isinstance(raised.value, VangnetError)
    assert not isinstance(raised.value, NotImplementedError)
    assert not path.exists()
    with pytest.raises(SnapshotUnsupported):
        ClaimsSnapshots.load(OtherMd5, path)
    with pytest.raises(AssertionError, match="save / load are not implemented"):
        check_index(ClaimsSnapshots, OtherMd5, ["0" * 32, "1" * 32])


def test_an_index_without_snapshots_is_rebuilt_from_the_database(
    plugins: None, db_engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    value = hashlib.md5(b"benign test bytes").hexdigest()
    with Session(db_engine) as s:
        create_bank(s, name="A")
        content_id = add_content(s, bank="A", signals={"md5": value, "test_other_md5": value})
        s.commit()
    snap = tmp_path / "snap"
    indexes = SignalIndexes(db_engine, snapshot_dir=snap)
    indexes.load()
    assert len(indexes.indexes["test_other_md5"]) == 1
    with caplog.at_level(logging.WARNING, logger="vangnet.match.indexes"):
        assert indexes.save_snapshot() == snap
        assert indexes.save_snapshot() == snap  # said once, not at every snapshot
    warned = [r for r in caplog.records if "claims snapshots but has none" in r.getMessage()]
    assert len(warned) == 1
    manifest = json.loads((snap / "manifest.json").read_text())
    assert manifest["indexes"]["md5"] == "exact"
    assert "test_other_md5" not in manifest["indexes"]
    assert not list(snap.glob("test_other_md5.*"))

    restarted = SignalIndexes(db_engine, snapshot_dir=snap)
    restarted.load()  # md5 from the snapshot, the other from the database
    assert "test_other_md5" not in restarted.failed
    with Session(db_engine) as s:
        found = Matcher(restarted).lookup(s, signal_type="test_other_md5", value=value)
    assert [(m.content_id, m.bank) for m in found] == [(content_id, "A")]


class LegacyNoSnapshots(DigestIndex):
    """An older plug-in index: claims snapshots, its save / load raise NotImplementedError."""

    name = "test-legacy-no-snapshots"
    snapshots = True

    def save(self, path: str | os.PathLike[str]) -> None:
        raise NotImplementedError

    @classmethod
    def load(cls, signal_type: type[SignalType], path: str | os.PathLike[str]) -> Self:
        raise NotImplementedError("no snapshots here")


class LegacyMd5(Md5Signal):
    name = "test_legacy_md5"
    index = "test-legacy-no-snapshots"
    description = "MD5 served by an older index plug-in (test plug-in)."


def test_a_legacy_not_implemented_save_is_skipped_like_snapshot_unsupported(
    db_engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    register_index(LegacyNoSnapshots)
    register_signal_type(LegacyMd5)
    try:
        value = hashlib.md5(b"other benign test bytes").hexdigest()
        with Session(db_engine) as s:
            create_bank(s, name="B")
            content_id = add_content(s, bank="B", signals={"md5": value, "test_legacy_md5": value})
            s.commit()
        snap = tmp_path / "snap"
        indexes = SignalIndexes(db_engine, snapshot_dir=snap)
        indexes.load()
        with caplog.at_level(logging.WARNING, logger="vangnet.match.indexes"):
            assert indexes.save_snapshot() == snap  # the others are still saved
        assert any("claims snapshots but has none" in r.getMessage() for r in caplog.records)
        manifest = json.loads((snap / "manifest.json").read_text())
        assert manifest["indexes"]["md5"] == "exact"
        assert "test_legacy_md5" not in manifest["indexes"]
        restarted = SignalIndexes(db_engine, snapshot_dir=snap)
        restarted.load()
        assert "test_legacy_md5" not in restarted.failed
        with Session(db_engine) as s:
            found = Matcher(restarted).lookup(s, signal_type="test_legacy_md5", value=value)
        assert [(m.content_id, m.bank) for m in found] == [(content_id, "B")]
    finally:
        unregister_signal_type(LegacyMd5.name)
        unregister_index(LegacyNoSnapshots.name)
