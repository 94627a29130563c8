"""The wider net for a query video's sampled frames (issue 12, point 2): `vangnet match
--json` of a short video showing a banked photo as a video-call tile, at a size where its
PDQ is beyond the bank's threshold (plain matching misses it: checked first, with
``VANGNET_MATCH_VERIFY_MAX=0``), finds it when the photo's banked local features confirm
the frame's pixels, decoded again from the in-memory video: the match says ``inliers``,
``frame_time``, ``region`` and ``transform``. A call of other people finds nothing; a
hash-only bank of the same photo (no features) answers as before (nothing). The clips are
composed at test time from benign photos (``tests/region_composites.py``) into
``tmp_path``; SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

import region_composites as rc
from cli_invoke import invoke, json_lines
from video_composites import call_clips

#: The banked photo shown as the tile (BSDS500 train, sorted).
SHOWN = 1


def _photos(shared_data: Path) -> list[Image.Image]:
    paths = sorted((shared_data / "photos" / "bsds500" / "train").glob("*.jpg"))
    return [rc.load(p) for p in paths[:24]]


def _bank(tmp_path: Path, shared_data: Path, name: str, *, features: bool) -> dict[str, int]:
    """Bank BSDS500 train photos 0-2 with `vangnet bank add` (``features``: keep local
    features); their content ids by file name."""
    paths = sorted((shared_data / "photos" / "bsds500" / "train").glob("*.jpg"))[:3]
    folder = tmp_path / f"bank-{name}"
    folder.mkdir()
    for path in paths:
        (folder / path.name).symlink_to(path)
    invoke("bank", "create", name, "--profile", "vics")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("VANGNET_BANK_FEATURES", "true" if features else "false")
        added = json_lines("bank", "add", name, str(folder), "--category", "vics:1", "--json")
    return {Path(a["path"]).name: a["content_id"] for a in added}


def videos(tmp_path: Path, shared_data: Path) -> tuple[Path, Path, tuple[int, int, int, int]]:
    """``call.mp4`` (the banked photo `SHOWN` as a tile from 2 s on) and ``other.mp4`` (other
    people only), and where the tile is (`video_composites.call_clips`)."""
    pictures = _photos(shared_data)
    clip, other_clip, shown = call_clips(pictures[SHOWN], [pictures[10], *pictures[20:24]])
    call, other = tmp_path / "call.mp4", tmp_path / "other.mp4"
    call.write_bytes(clip)
    other.write_bytes(other_clip)
    return call, other, shown


def test_a_banked_photo_in_a_video_call_beyond_the_threshold_is_found_by_its_features(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, shared_data: Path
) -> None:
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    content = _bank(tmp_path, shared_data, "KNOWN", features=True)
    shown_id = content[sorted(content)[SHOWN]]
    call, other, shown = videos(tmp_path, shared_data)

    monkeypatch.setenv("VANGNET_MATCH_VERIFY_MAX", "0")  # plain PDQ, regions and all
    (plain,) = json_lines("match", str(call), "--json")
    assert plain["matches"] == [], plain
    monkeypatch.delenv("VANGNET_MATCH_VERIFY_MAX")

    rows = {Path(r["path"]).name: r for r in json_lines("match", str(call), str(other), "--json")}
    (match,) = rows["call.mp4"]["matches"]
    assert match["content_id"] == shown_id and match["signal_type"] == "pdq", match
    assert match["distance"] > 31 and match["inliers"] >= 12, match
    assert 2.0 <= match["frame_time"] < 5.0, match
    region = match["region"]
    assert rc.near((region["x"], region["y"], region["w"], region["h"]), shown, 0.15), match
    assert match["transform"] == "identity", match
    assert rows["call.mp4"]["unverified"] == 0, rows["call.mp4"]
    assert rows["other.mp4"]["matches"] == [], rows["other.mp4"]


def test_a_hash_only_bank_answers_as_before(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, shared_data: Path
) -> None:
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    _bank(tmp_path, shared_data, "HASHES", features=False)
    call, other, _ = videos(tmp_path, shared_data)
    rows = json_lines("match", str(call), str(other), "--json")
    assert [r["matches"] for r in rows] == [[], []], rows


def test_one_budget_for_all_the_frames_and_what_it_leaves_is_said(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, shared_data: Path
) -> None:
    """Every banked photo a candidate in every frame (verify_threshold 256) and
    ``match_verify_max`` 1: one item is checked for the whole video, the other two are said
    in the answer (``unverified``: per banked item, not per frame)."""
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    _bank(tmp_path, shared_data, "KNOWN", features=True)
    invoke("bank", "update", "KNOWN", "--pdq-verify-threshold", "256")
    _, other, _ = videos(tmp_path, shared_data)
    monkeypatch.setenv("VANGNET_MATCH_VERIFY_MAX", "1")
    (row,) = json_lines("match", str(other), "--json")
    assert row["matches"] == [] and row["unverified"] == 2, row
