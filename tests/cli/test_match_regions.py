"""`vangnet match --json` finds banked photos shown inside other pictures (issue 12, point 1):
padded, letterboxed, as a picture-in-picture inset, in a player window, as a video-call
tile, with zero false positives on distractors and their own composites.

Bank: 20 BSDS500 test photos, added with ``vangnet bank add`` (a folder of links to the
shared benign files). Queries, composed at test time into ``tmp_path`` as PNG: each banked
photo under each transform (`region_composites.TRANSFORMS`), and 50 BSDS500 validation
photos (never banked) plain and each under one transform. One ``vangnet match`` run matches
them all, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from region_composites import TRANSFORMS, load, png
from vangnet.cli import app
from vangnet.config import reset_settings

BANKED = 20
DISTRACTORS = 50
#: Found of 20 per transform (measured: padded 20, letterboxed 20, inset 15, player 20,
#: call tile 12 -- the name label drawn over the tile costs the rest).
REQUIRED = {"padded": 19, "letterboxed": 19, "inset": 13, "player": 19, "call_tile": 11}
#: A match's region is where the photo was pasted, each side within this many pixels.
SLACK = 8


def _run(*args: str, code: int = 0) -> Any:
    reset_settings()
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == code, (args, result.exit_code, result.output)
    return result


def _lines(*args: str) -> list[dict[str, Any]]:
    return [json.loads(x) for x in _run(*args).stdout.splitlines() if x.strip()]


def test_banked_photos_inside_other_pictures_are_found(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, shared_data: Path
) -> None:
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    bsds = shared_data / "photos" / "bsds500"
    banked = sorted((bsds / "test").glob("*.jpg"))[:BANKED]
    distractors = sorted((bsds / "val").glob("*.jpg"))[:DISTRACTORS]
    folder = tmp_path / "bank"
    folder.mkdir()
    for path in banked:
        (folder / path.name).symlink_to(path)
    _run("bank", "create", "KNOWN", "--profile", "vics")
    added = _lines("bank", "add", "KNOWN", str(folder), "--category", "vics:1", "--json")
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

    rows = _lines("match", str(queries), "--json")
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
