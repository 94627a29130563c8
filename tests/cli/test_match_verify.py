"""The wider net (issue 12, point 2): `vangnet bank add` keeps local features of each banked
photo, and `vangnet match` finds a crop of it beyond the bank's PDQ threshold when those
features confirm the candidate against the query's pixels.

Bank: 3 BSDS500 test photos added with ``vangnet bank add``. Queries, written at test time
into ``tmp_path`` as PNG: a banked photo with 25 % of each side cut away (PDQ 40-90 bits
from the banked one), and unrelated BSDS500 validation photos. SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from cli_invoke import invoke, json_lines
from region_composites import load, png
from vangnet.banks.features import FeatureSeal
from vangnet.config import get_settings
from vangnet.signals.features import KIND, packed_size

BANKED = 3
WIDE = 160


def _crop(photo: Image.Image, share: float) -> Image.Image:
    """``share`` of each side cut away, the cut split evenly between its two edges."""
    cut_w, cut_h = round(photo.width * share), round(photo.height * share)
    return photo.crop(
        (
            cut_w // 2,
            cut_h // 2,
            photo.width - cut_w + cut_w // 2,
            photo.height - cut_h + cut_h // 2,
        )
    )


def _bank(tmp_path: Path, shared_data: Path, *, features: bool = True) -> dict[str, int]:
    """Bank ``BANKED`` photos with `vangnet bank add`; their content ids by file name."""
    banked = sorted((shared_data / "photos" / "bsds500" / "test").glob("*.jpg"))[:BANKED]
    folder = tmp_path / "bank"
    folder.mkdir()
    for path in banked:
        (folder / path.name).symlink_to(path)
    # a 25 % crop of these small photos is 110-150 PDQ bits away: a radius wider than the
    # default (which suits large banks), given at creation as data
    invoke("bank", "create", "KNOWN", "--profile", "vics", "--pdq-verify-threshold", str(WIDE))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("VANGNET_BANK_FEATURES", "true" if features else "false")
        added = json_lines("bank", "add", "KNOWN", str(folder), "--category", "vics:1", "--json")
    return {Path(a["path"]).name: a["content_id"] for a in added}


def _queries(tmp_path: Path, shared_data: Path, unrelated: int = 0) -> dict[str, Path]:
    """The first banked photo cropped by 25 % (``crop``) and ``unrelated`` other photos."""
    banked = sorted((shared_data / "photos" / "bsds500" / "test").glob("*.jpg"))[0]
    folder = tmp_path / "queries"
    folder.mkdir()
    out = {"crop": folder / "crop_25.png"}
    out["crop"].write_bytes(png(_crop(load(banked), 0.25)))
    val = sorted((shared_data / "photos" / "bsds500" / "val").glob("*.jpg"))[:unrelated]
    for path in val:
        out[path.stem] = folder / f"unrelated-{path.stem}.png"
        out[path.stem].write_bytes(png(load(path)))
    return out


def _pdq(row: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in row["matches"] if m["signal_type"] == "pdq"]


def test_bank_add_keeps_local_features_and_a_crop_matches_by_them(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, shared_data: Path
) -> None:
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    content = _bank(tmp_path, shared_data)
    shown = invoke("bank", "show", "KNOWN", "--json")
    bank = json.loads(shown.stdout)
    assert bank["local_features"] == {KIND: BANKED}
    assert bank["pdq_verify_threshold"] == WIDE and bank["thresholds"]["pdq"]["threshold"] == 31
    assert bank["thresholds"]["pdq"]["verify_threshold"] == WIDE

    # the kept features are keypoints, no pixels: at most the configured count of them
    from sqlalchemy import create_engine, select

    from vangnet.store.models import ContentFeatures

    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(ContentFeatures.content_id, ContentFeatures.data).where(
                    ContentFeatures.kind == KIND
                )
            ).all()
    finally:
        engine.dispose()
    assert sorted(r[0] for r in rows) == sorted(content.values())
    # stored sealed (AES-GCM, a key derived from the vault key, bound to the item and kind)
    seal = FeatureSeal.from_settings(get_settings())
    assert all(r[1].startswith(b"vfs1") for r in rows)
    opened = [seal.open(r[0], KIND, r[1]) for r in rows]
    assert all(o is not None and packed_size(16) <= len(o) <= packed_size(512) for o in opened)
    assert seal.open(rows[0][0] + 1000, KIND, rows[0][1]) is None  # not another item's

    query = _queries(tmp_path, shared_data)["crop"]
    (row,) = json_lines("match", str(query), "--json")
    (match,) = _pdq(row)
    first = sorted(content)[0]
    assert match["content_id"] == content[first] and match["bank"] == "KNOWN"
    # the closest candidate is verified first: this centred crop is one of the banked
    # photo's standard crops (`crop`, tests/cli/test_match_crops.py), found at its distance
    assert match["distance"] <= bank["pdq_verify_threshold"]
    assert "crop" in match or match["distance"] > 31
    assert match["inliers"] >= 20
    assert set(match) >= {"bank", "content_id", "signal_type", "distance", "category"}

    # under another vault key the features cannot be opened: matched as without them
    monkeypatch.setenv("VANGNET_VAULT_KEY", base64.b64encode(b"k" * 32).decode())
    (row,) = json_lines("match", str(query), "--json")
    assert _pdq(row) == []
    monkeypatch.delenv("VANGNET_VAULT_KEY")

    # verification off (verify_threshold = threshold): the crop is too far for PDQ alone
    invoke("bank", "update", "KNOWN", "--pdq-verify-threshold", "31")
    (row,) = json_lines("match", str(query), "--json")
    assert _pdq(row) == []


def test_the_wider_net_keeps_only_what_local_features_confirm(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, shared_data: Path
) -> None:
    """verify_threshold 256: every banked photo is a candidate of every query; only the
    banked photo the crop shows is kept, no unrelated photo matches anything."""
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    content = _bank(tmp_path, shared_data)
    invoke("bank", "update", "KNOWN", "--pdq-verify-threshold", "256")
    queries = _queries(tmp_path, shared_data, unrelated=4)
    rows = {
        Path(r["path"]).name: r for r in json_lines("match", str(tmp_path / "queries"), "--json")
    }
    assert len(rows) == len(queries)
    (match,) = _pdq(rows["crop_25.png"])
    assert match["content_id"] == content[sorted(content)[0]] and match["inliers"] >= 20
    for name, row in rows.items():
        if name != "crop_25.png":
            assert _pdq(row) == [], (name, row["matches"])


def test_a_bank_without_local_features_matches_as_before(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, shared_data: Path
) -> None:
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    content = _bank(tmp_path, shared_data, features=False)
    bank = json.loads(invoke("bank", "show", "KNOWN", "--json").stdout)
    assert bank["local_features"] == {}
    assert "none: candidates" in invoke("bank", "show", "KNOWN").stdout  # said so to people
    invoke("bank", "update", "KNOWN", "--pdq-verify-threshold", "256")
    query = _queries(tmp_path, shared_data)["crop"]
    (row,) = json_lines("match", str(query), "--json")
    assert _pdq(row) == []  # beyond the threshold, and nothing to verify against
    # the banked photo itself still matches on its hash, without `inliers`
    first = sorted((shared_data / "photos" / "bsds500" / "test").glob("*.jpg"))[0]
    (row,) = json_lines("match", str(first), "--json")
    (match,) = _pdq(row)
    assert match["content_id"] == content[first.name] and match["distance"] <= 31
    assert "inliers" not in match

    # adding the same photos again keeps their features: the crop is then found
    with monkeypatch.context() as env:
        env.setenv("VANGNET_BANK_FEATURES", "true")
        invoke("bank", "add", "KNOWN", str(tmp_path / "bank"), "--json")
    assert json.loads(invoke("bank", "show", "KNOWN", "--json").stdout)["local_features"] == {
        KIND: BANKED
    }
    (row,) = json_lines("match", str(query), "--json")
    (match,) = _pdq(row)
    assert match["content_id"] == content[first.name] and match["inliers"] >= 20


def test_candidates_beyond_the_verification_budget_are_reported(
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    shared_data: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """match_verify_max 1 with every banked photo a candidate: one is verified, the other
    two are said in the answer (``unverified``) and counted in a warning, not dropped in
    silence; with the default budget none is left."""
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    _bank(tmp_path, shared_data)
    invoke("bank", "update", "KNOWN", "--pdq-verify-threshold", "256")
    query = _queries(tmp_path, shared_data, unrelated=1)
    monkeypatch.setenv("VANGNET_MATCH_VERIFY_MAX", "1")
    with caplog.at_level("WARNING", logger="vangnet.match.service"):
        (row,) = json_lines(
            "match", str(next(p for k, p in query.items() if k != "crop")), "--json"
        )
    assert _pdq(row) == []
    assert row["unverified"] == BANKED - 1
    said = [r.getMessage() for r in caplog.records if "wider net" in r.getMessage()]
    assert said == [
        f"wider net: {BANKED - 1} banked items within verify_threshold not verified "
        "(match_verify_max 1 spent)"
    ]
    (row,) = json_lines("match", str(query["crop"]), "--json")  # only the closest is tried
    assert row["unverified"] == BANKED - 1
    monkeypatch.delenv("VANGNET_MATCH_VERIFY_MAX")
    (row,) = json_lines("match", str(query["crop"]), "--json")
    assert row["unverified"] == 0 and len(_pdq(row)) == 1


def test_a_turned_copy_matches_by_its_variant_when_it_is_also_a_wider_candidate(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, shared_data: Path
) -> None:
    """The transpose of this photo has its PDQ within 100 bits of the photo's own: the
    picture as given is a wider-net candidate (features of an unturned copy do not agree),
    and its dihedral variant is an exact match, which must win (it was dropped as a
    duplicate of the candidate)."""
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    source = shared_data / "photos" / "bsds500" / "test" / "117025.jpg"
    folder = tmp_path / "bank"
    folder.mkdir()
    (folder / source.name).symlink_to(source)
    invoke("bank", "create", "KNOWN", "--dihedral", "--pdq-verify-threshold", "100")
    invoke("bank", "add", "KNOWN", str(folder))
    query = tmp_path / "transposed.png"
    query.write_bytes(png(load(source).transpose(Image.Transpose.TRANSPOSE)))
    (row,) = json_lines("match", str(query), "--json")
    assert [(m["distance"], m["transform"]) for m in _pdq(row)] == [(0, "rot90_flip")]
