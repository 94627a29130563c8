"""`vangnet match --json` finds a banked photo rotated by a few degrees, the corners of the
expanded canvas filled black or white (issue 12: rotation by 4 degrees), and says how:
``transform`` ``rotate(-4.0)`` (turned back 4 degrees clockwise), ``region`` the rotated
picture's bounding box in the query's pixels.

Bank: 6 BSDS500 test photos, added with ``vangnet bank add`` (``--dihedral``). Queries,
made at test time into ``tmp_path`` as PNG: each banked photo rotated by 4 and by -7 degrees
(Pillow's ``rotate(..., expand=True)``), corners black and white; three rotated by 4 degrees
on a canvas of their own size (corners cut off); two mirrored as well; the banked photos
themselves; 6 photos never banked, plain and rotated. One ``vangnet match``
run matches them all, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from cli_invoke import invoke, json_lines
from region_composites import load, png

BANKED = 6
ANGLES = (4.0, -7.0)
FILLS = {"black": (0, 0, 0), "white": (255, 255, 255)}


def _rotated(photo: Image.Image, angle: float, fill: tuple[int, int, int]) -> Image.Image:
    return photo.rotate(angle, Image.Resampling.BICUBIC, expand=True, fillcolor=fill)


def test_banked_photos_rotated_by_a_few_degrees_are_found(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, shared_data: Path
) -> None:
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    bsds = shared_data / "photos" / "bsds500"
    banked = sorted((bsds / "test").glob("*.jpg"))[:BANKED]
    unknown = sorted((bsds / "val").glob("*.jpg"))[:BANKED]
    folder = tmp_path / "bank"
    folder.mkdir()
    for path in banked:
        (folder / path.name).symlink_to(path)
    invoke("bank", "create", "KNOWN", "--profile", "vics", "--dihedral")
    added = json_lines("bank", "add", "KNOWN", str(folder), "--category", "vics:1", "--json")
    content_of = {Path(a["path"]).name: a["content_id"] for a in added}
    assert len(content_of) == BANKED

    queries = tmp_path / "queries"
    queries.mkdir()
    # query name -> (content id, transform) expected; None: no match at all
    expected: dict[str, tuple[int, str] | None] = {}
    for i, path in enumerate(banked):
        photo = load(path)
        content = content_of[path.name]
        for angle in ANGLES:
            for fill_name, fill in FILLS.items():
                query = f"rotated{angle:+.0f}-{fill_name}--{path.stem}.png"
                (queries / query).write_bytes(png(_rotated(photo, angle, fill)))
                expected[query] = (content, f"rotate({-angle:.1f})")
        if i < 3:  # rotated on a canvas of its own size: its corners cut off
            same = photo.rotate(4.0, Image.Resampling.BICUBIC, fillcolor=FILLS["black"])
            (queries / f"same-canvas--{path.stem}.png").write_bytes(png(same))
            expected[f"same-canvas--{path.stem}.png"] = (content, "rotate(-4.0)")
        if i < 2:  # mirrored, then seen rotated: turned back, then the mirror variant
            mirrored = _rotated(photo, 4.0, FILLS["black"]).transpose(
                Image.Transpose.FLIP_LEFT_RIGHT
            )
            (queries / f"mirrored--{path.stem}.png").write_bytes(png(mirrored))
            expected[f"mirrored--{path.stem}.png"] = (content, "rotate(4.0)+mirror")
        (queries / f"plain--{path.stem}.png").write_bytes(png(photo))
        expected[f"plain--{path.stem}.png"] = (content, "")
    for path in unknown:
        photo = load(path)
        (queries / f"unknown--{path.stem}.png").write_bytes(png(photo))
        (queries / f"unknown-rotated--{path.stem}.png").write_bytes(
            png(_rotated(photo, 4.0, FILLS["black"]))
        )
        expected[f"unknown--{path.stem}.png"] = None
        expected[f"unknown-rotated--{path.stem}.png"] = None

    rows = json_lines("match", str(queries), "--json")
    assert len(rows) == len(expected)
    for row in rows:
        query = Path(row["path"]).name
        pdq = [m for m in row["matches"] if m["signal_type"] == "pdq"]
        want = expected[query]
        if want is None:
            assert pdq == [], (query, pdq)
            continue
        (match,) = pdq
        content, transform = want
        assert match["content_id"] == content and match["distance"] <= 31, (query, match)
        assert match["bank"] == "KNOWN" and match["category"] == "vics:1"
        if not transform:  # the photo as banked: the whole picture, no region, no turn
            assert match["distance"] == 0 and "region" not in match, (query, match)
            assert "transform" not in match, (query, match)
            continue
        assert match["transform"] == transform, (query, match)
        # the region is the rotated picture's bounding box: the whole (expanded) canvas
        with Image.open(queries / query) as shown:
            width, height = shown.size
        region = match["region"]
        assert abs(region["x"]) <= 2 and abs(region["y"]) <= 2, (query, region)
        assert abs(region["w"] - width) <= 2 and abs(region["h"] - height) <= 2, (query, region)
