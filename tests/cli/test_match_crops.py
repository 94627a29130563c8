"""The wider net's crop candidates (issue 12, point 1): `vangnet bank add` keeps the PDQs of
standard crops of each banked photo next to its local features, and `vangnet match` finds a
25 %-cropped copy by them (its own PDQ is far beyond the bank's verify_threshold) when the
local features confirm it. The crop hashes are never the bank's signals: not counted as PDQ,
not exported.

Bank: 3 BSDS500 test photos added with ``vangnet bank add``, default settings (threshold 31,
the default verify_threshold). Queries, made at test time into ``tmp_path`` as PNG: the first banked
photo with 25 % of each side cut away (at the centre, and off-centre, between the grid's
crops) and unrelated BSDS500 validation photos. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from cli_invoke import invoke, json_lines
from region_composites import load, png
from vangnet.config import Settings
from vangnet.signals.crops import KIND as CROPS_KIND
from vangnet.signals.crops import crop_boxes, unpack
from vangnet.signals.features import KIND
from vangnet.signals.pdq import pdq_distance

BANKED = 3


def _banked(shared_data: Path) -> list[Path]:
    return sorted((shared_data / "photos" / "bsds500" / "test").glob("*.jpg"))[:BANKED]


def _bank(tmp_path: Path, shared_data: Path, *, features: bool = True) -> dict[str, int]:
    """Bank the photos with `vangnet bank add` (default thresholds); content ids by name."""
    folder = tmp_path / "bank"
    folder.mkdir()
    for path in _banked(shared_data):
        (folder / path.name).symlink_to(path)
    invoke("bank", "create", "KNOWN", "--profile", "vics")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("VANGNET_BANK_FEATURES", "true" if features else "false")
        added = json_lines("bank", "add", "KNOWN", str(folder), "--category", "vics:1", "--json")
    return {Path(a["path"]).name: a["content_id"] for a in added}


def _crop_25(photo: Image.Image, fx: float, fy: float) -> Image.Image:
    """25 % of each side cut away, the share ``fx`` / ``fy`` of the cut at the left / top."""
    cut_w, cut_h = round(photo.width * 0.25), round(photo.height * 0.25)
    x, y = round(cut_w * fx), round(cut_h * fy)
    return photo.crop((x, y, x + photo.width - cut_w, y + photo.height - cut_h))


def _queries(tmp_path: Path, shared_data: Path, unrelated: int = 0) -> dict[str, Path]:
    folder = tmp_path / "queries"
    folder.mkdir()
    photo = load(_banked(shared_data)[0])
    out = {
        "centre": folder / "crop25-centre.png",
        "off": folder / "crop25-off.png",  # 0.2 / 0.7 of the cut: between the grid's crops
    }
    out["centre"].write_bytes(png(_crop_25(photo, 0.5, 0.5)))
    out["off"].write_bytes(png(_crop_25(photo, 0.2, 0.7)))
    for path in sorted((shared_data / "photos" / "bsds500" / "val").glob("*.jpg"))[:unrelated]:
        out[path.stem] = folder / f"unrelated-{path.stem}.png"
        out[path.stem].write_bytes(png(load(path)))
    return out


def _pdq(row: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in row["matches"] if m["signal_type"] == "pdq"]


def _rows(folder: Path) -> dict[str, dict[str, Any]]:
    return {Path(r["path"]).name: r for r in json_lines("match", str(folder), "--json")}


def test_a_25_percent_crop_is_found_by_the_banked_photos_standard_crops(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, shared_data: Path
) -> None:
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    content = _bank(tmp_path, shared_data)
    bank = json.loads(invoke("bank", "show", "KNOWN", "--json").stdout)
    assert bank["crop_candidates"] == BANKED and bank["local_features"] == {KIND: BANKED}
    assert bank["stats"]["signals_by_type"]["pdq"] == BANKED  # crops are not its PDQs
    assert bank["pdq_verify_threshold"] == Settings().pdq_verify_threshold

    queries = _queries(tmp_path, shared_data, unrelated=4)
    rows = _rows(tmp_path / "queries")
    assert len(rows) == len(queries)
    first = _banked(shared_data)[0]
    (own,) = json_lines("hash", str(first), "--json")
    for name in ("centre", "off"):
        row = rows[queries[name].name]
        # the crop's own PDQ is beyond the wider net's radius: only a banked crop finds it
        assert pdq_distance(row["pdq"], own["pdq"]) > bank["pdq_verify_threshold"]
        (match,) = _pdq(row)
        assert match["content_id"] == content[first.name] and match["bank"] == "KNOWN"
        assert match["inliers"] >= 20 and match["category"] == "vics:1"
        assert len(match["crop"]) == 4 and match["crop"][2] == 0.75
        assert match["distance"] <= 80  # pdq_crop_threshold: the distance to that crop
    centre = _pdq(rows[queries["centre"].name])[0]
    assert centre["crop"] == [0.125, 0.125, 0.75, 0.75]
    for name, row in rows.items():
        if not name.startswith("crop25-"):
            assert _pdq(row) == [], (name, row["matches"])

    # the wider net off (verify_threshold at the threshold): no crop is looked up
    invoke("bank", "update", "KNOWN", "--pdq-verify-threshold", "31")
    assert _pdq(_rows(tmp_path / "queries")[queries["centre"].name]) == []


def test_crop_candidates_need_local_features(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, shared_data: Path
) -> None:
    """Banked without features: no crop hashes kept, the crop is not found; a crop hash
    without the features to verify it is never a match either."""
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    _bank(tmp_path, shared_data, features=False)
    bank = json.loads(invoke("bank", "show", "KNOWN", "--json").stdout)
    assert bank["crop_candidates"] == 0 and bank["local_features"] == {}
    queries = _queries(tmp_path, shared_data)
    assert _pdq(json_lines("match", str(queries["centre"]), "--json")[0]) == []

    # crop hashes alone (the features removed): candidates, never matches
    with monkeypatch.context() as env:
        env.setenv("VANGNET_BANK_FEATURES", "true")
        invoke("bank", "add", "KNOWN", str(tmp_path / "bank"), "--json")
    from sqlalchemy import create_engine, delete

    from vangnet.store.models import ContentFeatures

    (match,) = _pdq(json_lines("match", str(queries["centre"]), "--json")[0])
    assert "crop" in match  # back-filled with the features: found
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(delete(ContentFeatures).where(ContentFeatures.kind == KIND))
    finally:
        engine.dispose()
    assert json.loads(invoke("bank", "show", "KNOWN", "--json").stdout)["crop_candidates"] == 3
    assert _pdq(json_lines("match", str(queries["centre"]), "--json")[0]) == []


def test_bank_export_holds_no_crop_hashes(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, shared_data: Path
) -> None:
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    _bank(tmp_path, shared_data)
    from sqlalchemy import create_engine, select

    from vangnet.store.models import ContentFeatures

    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            packed = conn.scalars(
                select(ContentFeatures.data).where(ContentFeatures.kind == CROPS_KIND)
            ).all()
    finally:
        engine.dispose()
    crops = {h for data in packed for h in unpack(bytes(data))}
    assert len(packed) == BANKED and len(crops) > BANKED * (len(crop_boxes()) - 5)
    own = {json_lines("hash", str(p), "--json")[0]["pdq"] for p in _banked(shared_data)}
    assert not crops & own
    for fmt in ("vics2", "vics1", "hma-csv"):
        text = invoke("bank", "export", "KNOWN", "-f", fmt).stdout.lower()
        assert all(h in text for h in own), fmt
        assert not any(h in text for h in crops), fmt
    plain = invoke("bank", "export", "KNOWN", "-f", "plain", "--signal-type", "pdq").stdout
    lines = [x for x in plain.split("\n") if x.strip() and not x.startswith("#")]
    assert sorted(lines) == sorted(own)
