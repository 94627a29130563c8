"""Smoke test of the benchmark driver, so the benchmark code can't rot.

Runs the Vangnet-only path (``--no-peers``) at a tiny size and checks the JSON it writes. No
timing is asserted and no peer package is needed: peer rows must say they were skipped.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import run as bench_run  # noqa: E402
from benchmarks.common import NOT_AVAILABLE  # noqa: E402


def _vangnet_row_ok(row: dict[str, object], figures: tuple[str, ...]) -> None:
    status = str(row["status"])
    assert status == "ok" or status.startswith(NOT_AVAILABLE), status
    if status == "ok":
        for key in figures:
            assert row[key] is not None, key


def test_benchmark_driver_vangnet_only(tmp_path: Path, shared_data: Path) -> None:
    code = bench_run.main(
        [
            "--only",
            "hashing,index",
            "--sizes",
            "2000",
            "--photos",
            "5",
            "--no-peers",
            "--quiet",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0

    hashing = json.loads((tmp_path / "hashing.json").read_text())
    assert hashing["benchmark"] == "hashing"
    assert set(hashing["datasets"]) == {"12mp-exif", "bsds500"}
    for entry in hashing["datasets"].values():
        assert {"files", "repeats", "rows", "speedups", "agreement"} <= set(entry)
        assert 1 <= entry["files"] <= 5
        rows = {r["impl"]: r for r in entry["rows"]}
        assert set(rows) == {"vangnet hash_file", "vangnet pdq", "threatexchange", "perception"}
        for name in ("vangnet hash_file", "vangnet pdq"):
            _vangnet_row_ok(rows[name], ("photos_per_s", "ms_per_photo", "times_s"))
        for name in ("threatexchange", "perception"):
            assert rows[name]["status"].startswith("skipped")

    index = json.loads((tmp_path / "index.json").read_text())
    assert index["benchmark"] == "index"
    assert index["threshold"] == 31
    entry = index["sizes"]["2000"]
    assert {"rows", "agreement", "ratios"} <= set(entry)
    rows = {r["impl"]: r for r in entry["rows"]}
    assert set(rows) == {"vangnet", "threatexchange"}
    assert rows["threatexchange"]["status"].startswith("skipped")
    _vangnet_row_ok(
        rows["vangnet"],
        ("build_s", "lookup_p50_us", "lookup_p99_us", "batch_qps", "rss_mb", "planted_recall"),
    )
    if rows["vangnet"]["status"] == "ok":
        assert rows["vangnet"]["len"] == 2000
        assert rows["vangnet"]["planted_recall"] == pytest.approx(1.0)
        assert rows["vangnet"]["batch_equals_single"] is True

    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["benchmarks"] == ["hashing", "index"]
    assert {"targets", "index"} <= set(summary["summary"])
    assert "machine" in summary and "versions" in summary
