"""PDQ hashing: equality with pdqhash, dihedral variants, reference conformance, near-dups."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pdqhash
import pytest
from PIL import Image

from vangnet.media.image import decode_image
from vangnet.signals.pdq import (
    PDQ_MAX_SIDE,
    dihedral_hashes,
    fit_for_pdq,
    hash_image,
    hash_pixels,
    pdq_distance,
)

EXPECTED = "threatexchange/pdq/expected"
PDQ_DATA = "threatexchange/pdq/data"


def load(root: Path, rel: str, *, fast: bool = True) -> Image.Image:
    return decode_image((root / rel).read_bytes(), fast=fast)[0]


def test_hash_pixels_equals_pdqhash_compute(shared_data: Path) -> None:
    rgb = np.asarray(load(shared_data, f"{PDQ_DATA}/bridge-mods/aaa-orig.jpg"))
    bits, quality = pdqhash.compute(rgb)
    expected = "".join(
        f"{int(''.join(str(int(b)) for b in bits[i : i + 4]), 2):x}" for i in range(0, 256, 4)
    )
    assert hash_pixels(rgb) == (expected, int(quality))


def test_hash_image_is_hash_pixels_of_the_picture_fitted_to_512(shared_data: Path) -> None:
    picture = load(shared_data, f"{PDQ_DATA}/bridge-mods/aaa-orig.jpg")  # 1600x1004
    fitted = fit_for_pdq(picture)
    assert fitted.size == (PDQ_MAX_SIDE, 321) and picture.size == (1600, 1004)
    thumb = picture.copy()
    thumb.thumbnail((512, 512))  # Meta's reference step, Pillow's defaults
    assert np.array_equal(np.asarray(fitted), np.asarray(thumb))
    assert hash_image(picture) == hash_pixels(np.asarray(fitted))
    assert dihedral_hashes(picture)[0][0] == hash_image(picture)[0]
    small = Image.new("RGB", (512, 300), (10, 200, 30))
    assert fit_for_pdq(small) is small


def test_dihedral_hashes(shared_data: Path) -> None:
    rgb = np.asarray(load(shared_data, f"{PDQ_DATA}/bridge-mods/aaa-orig.jpg"))
    hashes, quality = dihedral_hashes(rgb)
    assert len(hashes) == 8 and len(set(hashes)) == 8
    assert (hashes[0], quality) == hash_pixels(rgb)
    rotated = np.ascontiguousarray(np.rot90(rgb))
    assert min(pdq_distance(hash_pixels(rotated)[0], h) for h in hashes) <= 8


def _reference_rows(root: Path) -> list[tuple[str, str, str]]:
    rows = []
    with (root / EXPECTED / "bridge_mods.csv").open() as f:
        rows += [("bridge_mods", r["path"], r["pdq_hex"]) for r in csv.DictReader(f)]
    with (root / EXPECTED / "python_reference.csv").open() as f:
        rows += [
            ("python_reference", r["path"], r["pdq_hex_expected_python_reference"])
            for r in csv.DictReader(f)
        ]
    with (root / EXPECTED / "wasm_pdq_md5.csv").open() as f:
        prefix = "../../../../data/"
        rows += [
            ("wasm", f"{PDQ_DATA}/{r['FilePath'].removeprefix(prefix)}", r["Hash"])
            for r in csv.DictReader(f)
        ]
    # misc-images/b.jpg is absent upstream; wasm_pdq_md5.csv also lists video files
    return [r for r in rows if (root / r[1]).is_file() and Path(r[1]).suffix != ".mp4"]


def test_conformance_with_reference_hashes(shared_data: Path) -> None:
    """Reference ports differ by up to ~10 bits on quality >= 80 images.

    The production pipeline (fast decode, EXIF transpose, RGB, fit within 512x512 as Meta's
    Python tooling does, pdqhash) is compared. Measured: 0-2 bits on bridge_mods.csv and
    python_reference.csv, at most 8 on wasm_pdq_md5.csv (sharpen-a-lot); without the fit
    step it was 12.
    """
    worst: dict[str, int] = {}
    rows = _reference_rows(shared_data)
    assert len(rows) > 40
    for source, rel, expected in rows:
        ours, quality = hash_image(load(shared_data, rel))
        if quality >= 80:
            worst[source] = max(worst.get(source, 0), pdq_distance(ours, expected))
    assert set(worst) == {"bridge_mods", "python_reference", "wasm"}
    assert max(worst.values()) <= 10, worst
    assert max(worst["bridge_mods"], worst["python_reference"]) <= 4, worst


def _near_duplicates(root: Path, prefix: str) -> list[dict[str, str]]:
    with (root / "near_duplicates.csv").open() as f:
        return [r for r in csv.DictReader(f) if r["group"].startswith(prefix)]


@pytest.mark.parametrize(
    "group", ["pdq_bridge_mods", "pdq_bridge_dihedral", "pdq_bridge_colormodes", "hard_negative"]
)
def test_near_duplicate_groups(shared_data: Path, group: str) -> None:
    rows = [r for r in _near_duplicates(shared_data, group) if r["group"] == group]
    assert rows
    for row in rows:
        query = load(shared_data, row["query"])
        reference = hash_image(load(shared_data, row["reference"]))[0]
        plain = pdq_distance(hash_image(query)[0], reference)
        expected = row["expected"]
        if expected == "match":
            assert plain <= 31, row
        elif expected == "match_if_dihedral_hashing":
            assert min(pdq_distance(h, reference) for h in dihedral_hashes(query)[0]) <= 31, row
        elif expected == "no_match":
            assert plain > 31, row
        else:
            pytest.fail(f"unexpected label {expected}")
