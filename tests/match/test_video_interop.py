"""``vpdq`` is Meta's vPDQ (whole frames) and ``vpdq_cropped`` the frames of a video with bars,
bars cut; matching compares each against both, so hashes imported from HMA match, and so
do letterboxed or pillarboxed copies of a banked video (and the bar-less original of a
banked letterboxed copy)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from vangnet.banks.bank import create_bank
from vangnet.banks.contents import add_content
from vangnet.config import get_settings
from vangnet.match.indexes import SignalIndexes
from vangnet.match.service import Matcher
from vangnet.signals import vpdq
from vangnet.signals.hashing import hash_file, signal_values
from vangnet.signals.vpdq import VpdqFrame

VIDEOS = "threatexchange/video"


def reference_frames(path: Path) -> list[VpdqFrame]:
    """Meta's vPDQ output (`frame,quality,pdq_hex,timestamp`), one frame per second."""
    frames = []
    for line in path.read_text().splitlines():
        frame, quality, pdq, timestamp = line.strip().split(",")
        frames.append(VpdqFrame(int(frame), int(quality), pdq, float(timestamp)))
    return frames


def test_barred_video_matches_meta_reference_hashes(db_engine: Engine, shared_data: Path) -> None:
    meta = reference_frames(shared_data / VIDEOS / "vpdq-hashes/chair-orig-22-sd-bar.txt")
    with Session(db_engine) as s:
        create_bank(s, name="FROM_HMA")
        content_id = add_content(s, bank="FROM_HMA", signals={"vpdq": vpdq.serialize(meta)})
        s.commit()
    indexes = SignalIndexes(db_engine)
    indexes.load()
    query = hash_file(
        shared_data / VIDEOS / "sample-videos/chair-20-sd-bar.mp4", settings=get_settings()
    )
    assert "vpdq_cropped" in query  # the video has bars
    with Session(db_engine) as s:
        matcher = Matcher(indexes)
        cropped_only = matcher.match_video(s, vpdq.frames_of(query["vpdq_cropped"]))
        both = matcher.match_hashed(s, query)
    assert cropped_only == []  # cropped frames alone miss Meta's whole-frame hashes
    assert [(m.bank, m.content_id, m.signal_type) for m in both] == [
        ("FROM_HMA", content_id, "vpdq")
    ]
    assert (both[0].query_match_pct or 0) >= 80


def test_unbarred_video_has_one_hash_list(shared_data: Path) -> None:
    hashed = hash_file(
        shared_data / VIDEOS / "sample-videos/doorknob-hd-no-bar.mp4", settings=get_settings()
    )
    assert hashed["vpdq"] and "vpdq_cropped" not in hashed


@cache
def _hashed(path: Path, for_bank: bool) -> dict[str, Any]:
    return hash_file(path, for_bank=for_bank, settings=get_settings())


def test_overlaid_copy_matches_by_halves(db_engine: Engine, shared_data: Path) -> None:
    """A copy with a large logo over the top of the frame matches through the index on its
    bottom halves (signal vpdq_regions), added incrementally after the index loaded."""
    videos = shared_data / VIDEOS / "sample-videos"
    banked = _hashed(videos / "pattern-hd-no-bar.mp4", True)
    query = _hashed(videos / "pattern-sd-with-large-logo-bar.mp4", False)
    indexes = SignalIndexes(db_engine)
    indexes.load()
    with Session(db_engine) as s:
        create_bank(s, name="VIDEOS")
        content_id = add_content(s, bank="VIDEOS", signals=signal_values(banked))
        s.commit()
    indexes.refresh()
    assert set(indexes.indexes) >= {"vpdq", "vpdq_regions"}
    with Session(db_engine) as s:
        matcher = Matcher(indexes)
        found = matcher.match_hashed(s, query)
        assert [(m.content_id, m.signal_type, m.query_match_pct) for m in found] == [
            (content_id, "vpdq_regions", 100.0)
        ]
        regions = signal_values(query)["vpdq_regions"]
        by_hash = matcher.lookup(s, signal_type="vpdq_regions", value=regions)
        assert [m.content_id for m in by_hash] == [content_id]
        whole = matcher.lookup(s, signal_type="vpdq", value=signal_values(query)["vpdq"])
        assert whole == []  # the whole frames are 44-74 bits away
        other = _hashed(videos / "doorknob-hd-no-bar.mp4", False)
        assert matcher.match_hashed(s, other) == []


def _bank(db_engine: Engine, hashed: dict[str, Any]) -> tuple[SignalIndexes, int]:
    with Session(db_engine) as s:
        create_bank(s, name="VIDEOS")
        content_id = add_content(s, bank="VIDEOS", signals=signal_values(hashed))
        s.commit()
    indexes = SignalIndexes(db_engine)
    indexes.load()
    return indexes, content_id


def test_letterboxed_copy_matches_banked_original(db_engine: Engine, shared_data: Path) -> None:
    """Bank the bar-less HD video (standard vpdq only); a grey-barred SD copy matches it on
    its cropped frames, which its standard vpdq (bars included) does not."""
    videos = shared_data / VIDEOS / "sample-videos"
    banked = _hashed(videos / "pattern-hd-no-bar.mp4", True)
    assert "vpdq_cropped" not in banked
    indexes, content_id = _bank(db_engine, banked)
    query = _hashed(videos / "pattern-sd-grey-bar.mp4", False)
    with Session(db_engine) as s:
        matcher = Matcher(indexes)
        assert matcher.match_video(s, vpdq.frames_of(query["vpdq"])) == []  # bars differ
        found = matcher.match_hashed(s, query)
        assert [(m.content_id, m.signal_type, m.query_match_pct) for m in found] == [
            (content_id, "vpdq", 100.0)
        ]
        # hash-only: a partner's vpdq_cropped value finds the banked standard vpdq
        cropped = signal_values(query)["vpdq_cropped"]
        by_hash = matcher.lookup(s, signal_type="vpdq_cropped", value=cropped)
        assert [(m.content_id, m.signal_type) for m in by_hash] == [(content_id, "vpdq")]


def test_original_matches_banked_letterboxed_copy(db_engine: Engine, shared_data: Path) -> None:
    """Bank the barred SD copy (vpdq with bars + vpdq_cropped); the bar-less original matches
    the cropped frames, also by a hash-only lookup of its standard vpdq (HMA, /v1 hashes)."""
    videos = shared_data / VIDEOS / "sample-videos"
    banked = _hashed(videos / "pattern-sd-grey-bar.mp4", True)
    indexes, content_id = _bank(db_engine, banked)
    assert len(indexes.indexes["vpdq"]) == len(indexes.indexes["vpdq_cropped"]) == 1
    query = _hashed(videos / "pattern-hd-no-bar.mp4", False)
    with Session(db_engine) as s:
        matcher = Matcher(indexes)
        assert matcher.match_video(s, vpdq.frames_of(query["vpdq"])) == []
        found = matcher.match_hashed(s, query)
        assert [(m.content_id, m.signal_type, m.query_match_pct) for m in found] == [
            (content_id, "vpdq_cropped", 100.0)
        ]
        by_hash = matcher.lookup(s, signal_type="vpdq", value=signal_values(query)["vpdq"])
        assert [(m.content_id, m.signal_type) for m in by_hash] == [(content_id, "vpdq_cropped")]
        # the banked video's own standard vpdq is found as itself
        same = matcher.lookup(s, signal_type="vpdq", value=signal_values(banked)["vpdq"])
        assert [(m.content_id, m.signal_type, m.distance) for m in same] == [
            (content_id, "vpdq", 0)
        ]
