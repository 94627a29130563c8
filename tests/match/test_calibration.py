"""Operating points per lookup kind (issue 12, point 3), through ``vangnet match``.

The shipped points come from the robustness benchmark at 99.9 % precision; a deployment's own
file (``VANGNET_MATCH_CALIBRATION``, as ``scripts/bench --only robustness --calibrate FILE``
writes it) replaces them. A region or dihedral-variant match beyond its kind's point is not
kept; a whole-picture match is held to its bank's threshold alone. A file that cannot be used
is refused when the settings load (exit code 6), and nothing is matched."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from cli_invoke import invoke
from region_composites import inset, load, png
from vangnet.calibration import FORMAT, KINDS, CalibrationError, parse
from vangnet.calibration import load as load_calibration
from vangnet.errors import ExitCode


def _pdq(path: Path) -> dict[str, list[dict[str, Any]]]:
    rows = [json.loads(x) for x in invoke("match", str(path), "--json").stdout.splitlines() if x]
    return {
        Path(r["path"]).name: [m for m in r["matches"] if m["signal_type"] == "pdq"] for r in rows
    }


def _points(region: int, variant: int) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "target_precision": 0.999,
        "source": "test: points set by hand",
        "points": {
            "pdq": {
                "whole": {"threshold": 0},
                "variant": {"threshold": variant},
                "region": {"threshold": region},
            }
        },
    }


def test_shipped_points_cover_every_kind_of_pdq_lookup() -> None:
    shipped = load_calibration(None)
    assert shipped.target_precision == 0.999
    assert "scripts/bench --only robustness" in shipped.source
    for kind in KINDS:
        cap = shipped.cap("pdq", kind)
        assert cap is not None and 0 <= cap <= 256, kind
        assert shipped.points["pdq"][kind].measured["false_positives"] >= 0


def test_points_of_each_kind_decide_its_matches(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, shared_data: Path
) -> None:
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    # the operating points alone: the wider net off (a region dropped by its point would
    # otherwise be found again by a banked crop and verified, tests/cli/test_match_crops.py)
    monkeypatch.setenv("VANGNET_PDQ_VERIFY_THRESHOLD", "31")
    bsds = sorted((shared_data / "photos" / "bsds500" / "test").glob("*.jpg"))
    photo, others = bsds[0], [load(p) for p in bsds[5:8]]
    folder = tmp_path / "bank"
    folder.mkdir()
    (folder / photo.name).symlink_to(photo)
    invoke("bank", "create", "KNOWN", "--dihedral")
    invoke("bank", "add", "KNOWN", str(folder))
    queries = tmp_path / "queries"
    queries.mkdir()
    picture = load(photo)
    (queries / "plain.png").write_bytes(png(picture))
    (queries / "mirrored.png").write_bytes(png(picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    (queries / "inset.png").write_bytes(png(inset(picture, others)[0]))

    shipped = _pdq(queries)
    assert [m["distance"] for m in shipped["plain.png"]] == [0]
    assert [m["transform"] for m in shipped["mirrored.png"]] == ["mirror"]
    assert [m["transform"] for m in shipped["inset.png"]] == ["identity"]
    inset_distance = shipped["inset.png"][0]["distance"]
    assert shipped["inset.png"][0]["region"]

    own = tmp_path / "points.json"
    own.write_text(json.dumps(_points(region=max(0, inset_distance - 1), variant=0)))
    monkeypatch.setenv("VANGNET_MATCH_CALIBRATION", str(own))
    capped = _pdq(queries)
    assert capped["inset.png"] == []  # the region's match is beyond its kind's point
    assert capped["mirrored.png"] == []  # a variant only at distance 0
    assert capped["plain.png"] == shipped["plain.png"]  # the whole picture: the bank's 31

    own.write_text(json.dumps(_points(region=inset_distance, variant=256)))
    assert _pdq(queries) == shipped  # at the point itself the match is kept


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("{not json", "is not JSON"),
        (json.dumps({"format": "other"}), "not a calibration file"),
        (json.dumps(_points(region=300, variant=0)), "threshold: 0-256"),
        (
            json.dumps({**_points(0, 0), "points": {"pdq": {"crop": {"threshold": 3}}}}),
            "unknown kind 'crop'",
        ),
    ],
)
def test_a_bad_file_is_refused_and_nothing_is_matched(
    content: str, says: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, shared_data: Path
) -> None:
    monkeypatch.setenv("VANGNET_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    bad = tmp_path / "points.json"
    bad.write_text(content)
    monkeypatch.setenv("VANGNET_MATCH_CALIBRATION", str(bad))
    photo = next((shared_data / "photos" / "bsds500" / "test").glob("*.jpg"))
    result = invoke("match", str(photo), "--json", code=ExitCode.INVALID_DATA)
    assert "VANGNET_MATCH_CALIBRATION" in result.output and says in result.output
    assert not (tmp_path / "none.db").exists()  # refused before anything was opened


def test_a_missing_file_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VANGNET_MATCH_CALIBRATION", str(tmp_path / "absent.json"))
    result = invoke("bank", "list", code=ExitCode.INVALID_DATA)
    assert "cannot read" in result.output
    with pytest.raises(CalibrationError, match="target_precision"):
        parse({**_points(0, 0), "target_precision": 1.5})
