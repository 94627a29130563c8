"""`vangnet match --json` finds banked photos shown inside other pictures (issue 12, point 1):
padded, letterboxed, as a picture-in-picture inset, in a player window, as a video-call
tile, with zero false positives on distractors and their own composites.

Bank: 20 BSDS500 test photos, added with ``vangnet bank add`` (a folder of links to the
shared benign files). Queries, composed at test time into ``tmp_path`` as PNG: each banked
photo under each transform (`region_composites.TRANSFORMS`), and 50 BSDS500 validation
photos (never banked) plain and each under one transform. One ``vangnet match`` run matches
them all, on SQLite: the matcher reads its indexes, not the database (region matches through
PostgreSQL: tests/triage/test_triage_regions.py runs ``vangnet match`` on both)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from cli_invoke import invoke, json_lines
from region_composites import TRANSFORMS, load, png

BANKED = 20
DISTRACTORS = 50
#: Found of 20 per transform (measured: padded 20, letterboxed 20, inset 15, player 20,
#: call tile 12 -- the name label drawn over the tile costs the rest).
REQUIRED = {"padded": 19, "letterboxed": 19, "inset": 13, "player": 19, "call_tile": 11}
#: A match's region is where the photo was pasted, each side within this many pixels.
SLACK = 8


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_banked_photos_inside_other_pictures_are_found(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, shared_data: Path
) -> None:
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    # regions alone: the wider net (local features kept by `bank add`) is measured by
    # tests/cli/test_match_verify.py and the robustness benchmark
    monkeypatch.setenv("VANGNET_PDQ_VERIFY_THRESHOLD", "31")
    bsds = shared_data / "photos" / "bsds500"
    banked = sorted((bsds / "test").glob("*.jpg"))[:BANKED]
    distractors = sorted((bsds / "val").glob("*.jpg"))[:DISTRACTORS]
    folder = tmp_path / "bank"
    folder.mkdir()
    for path in banked:
        (folder / path.name).symlink_to(path)
    invoke("bank", "create", "KNOWN", "--profile", "vics")
    added = json_lines("bank", "add", "KNOWN", str(folder), "--category", "vics:1", "--json")
    content_of = {Path(a["path"]).name: a["content_id"] for a in added}
    assert len(content_of) == BANKED

    queries = tmp_path / "queries"
    queries.mkdir()
    expected: dict[str, tuple[int, tuple[int, int, int, int]]] = {}
    pictures = [load(p) for p in distractors]
    for i, path in enumerate(banked):
        photo = load(path)
        others = pictures[i : i + 3]
        for name, build in TRANSFORMS.items():
            composite, pasted = build(photo, others)
            query = f"{name}--{path.stem}.png"
            (queries / query).write_bytes(png(composite))
            expected[query] = (content_of[path.name], pasted)
    names = list(TRANSFORMS)
    for i, (path, photo) in enumerate(zip(distractors, pictures, strict=True)):
        (queries / f"distractor--{path.stem}.png").write_bytes(png(photo))
        others = pictures[i + 1 : i + 4] or pictures[:3]
        composite, _ = TRANSFORMS[names[i % len(names)]](photo, others)
        (queries / f"distractor-{names[i % len(names)]}--{path.stem}.png").write_bytes(
            png(composite)
        )

    rows = json_lines("match", str(queries), "--json")
    assert len(rows) == len(expected) + 2 * DISTRACTORS
    found = dict.fromkeys(TRANSFORMS, 0)
    false_positives: list[tuple[str, dict[str, Any]]] = []
    for row in rows:
        query = Path(row["path"]).name
        pdq = [m for m in row["matches"] if m["signal_type"] == "pdq"]
        want = expected.get(query)
        wrong = [m for m in pdq if want is None or m["content_id"] != want[0]]
        false_positives.extend((query, m) for m in wrong)
        right = [m for m in pdq if want is not None and m["content_id"] == want[0]]
        if not right:
            continue
        found[query.split("--")[0]] += 1
        (match,) = right
        assert match["bank"] == "KNOWN" and match["category"] == "vics:1"
        assert match["distance"] <= 31 and match["transform"] == "identity"
        region, (x, y, w, h) = match["region"], want[1]
        assert set(region) == {"x", "y", "w", "h"}
        assert abs(region["x"] - x) <= SLACK and abs(region["y"] - y) <= SLACK, (query, region)
        assert abs(region["x"] + region["w"] - x - w) <= SLACK, (query, region)
        assert abs(region["y"] + region["h"] - y - h) <= SLACK, (query, region)
    print(f"\nfound of {BANKED} per transform: {found}")
    assert false_positives == []
    for name, need in REQUIRED.items():
        assert found[name] >= need, (name, found)


def _match_peak(query: Path, *, regions: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`vangnet match --json` of ``query`` and the peak of memory traced meanwhile."""
    monkeypatch.setenv("VANGNET_MATCH_REGIONS", "true" if regions else "false")
    tracemalloc.start()
    try:
        rows = json_lines("match", str(query), "--json")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return rows, peak


def test_regions_of_a_large_photo_make_no_full_size_copy_of_it(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, shared_data: Path
) -> None:
    """A photo near the pixel cap (``max_image_pixels`` keeps one decode at the cap under
    ~600 MB) is decoded once; looking up its regions reads them on a reduced copy, not on a
    second full-size array of its pixels, and still finds the banked photo where it was
    pasted. tracemalloc sees NumPy's and Python's allocations (not the decode's own): the
    peak with regions may exceed the peak without them by less than one copy of the photo's
    pixels (the working pictures of at most 1024 pixels a side and their cues)."""
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    photo = load(sorted((shared_data / "photos" / "bsds500" / "test").glob("*.jpg"))[0])
    large = photo.resize((photo.width * 8, photo.height * 8))  # 10 MP, padded 19 MP
    folder = tmp_path / "bank"
    folder.mkdir()
    (folder / "large.png").write_bytes(png(large))
    invoke("bank", "create", "KNOWN", "--profile", "vics")
    (added,) = json_lines("bank", "add", "KNOWN", str(folder), "--category", "vics:1", "--json")
    composite, (x, y, w, h) = TRANSFORMS["padded"](large, [])
    query = tmp_path / "padded-large.png"
    query.write_bytes(png(composite))
    del large, photo
    pixels = composite.width * composite.height * 3
    del composite
    # a file is read into a buffer of max_file_bytes + 1 (4 GB by default), then shrunk to
    # its size: that buffer would be both peaks
    monkeypatch.setenv("VANGNET_MAX_FILE_BYTES", str(query.stat().st_size + 1024))

    _, without = _match_peak(query, regions=False, monkeypatch=monkeypatch)
    (row,), with_regions = _match_peak(query, regions=True, monkeypatch=monkeypatch)
    (match,) = [m for m in row["matches"] if m["signal_type"] == "pdq"]
    assert match["content_id"] == added["content_id"]
    region = match["region"]
    assert abs(region["x"] - x) <= SLACK * 8 and abs(region["y"] - y) <= SLACK * 8, region
    assert abs(region["w"] - w) <= SLACK * 8 and abs(region["h"] - h) <= SLACK * 8, region
    extra = with_regions - without
    assert extra < pixels, (extra // 2**20, pixels // 2**20)
