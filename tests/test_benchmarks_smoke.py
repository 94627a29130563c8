"""Smoke test of the benchmark driver, so the benchmark code can't rot.

Runs the Vangnet-only path (``--no-peers``) at a tiny size and checks the JSON it writes. No
timing is asserted and no peer package is needed: peer rows must say they were skipped.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

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


def _triage_payload() -> dict[str, Any]:
    """A made-up triage result, shaped like bench_triage.run's (no subprocess, no timing)."""
    rows = [
        {"run": f"{src} no OCR", "status": "ok", "files_per_s": 50.0, "photos_per_hour": rate}
        for src, rate in (("folder", 200_000.0), ("zip", 150_000.0), ("e01", 90_000.0))
    ]
    return {
        "benchmark": "triage",
        "workers": 2,
        "rows": rows,
        "hashing": [{"run": "hash x", "impl": "vangnet", "procs": 2, "status": "ok", "wall_s": 1}],
        "datasets": {"all": {"folder": {"status": "ok", "files": 3, "build_s": 0.1}}},
        "photos_per_hour_no_ocr": {r["run"].split()[0]: r["photos_per_hour"] for r in rows},
        "ocr_wired": False,
    }


def test_triage_summary_and_table_rows() -> None:
    from benchmarks import bench_triage

    payload = _triage_payload()
    summary = bench_run.summarize({"triage": payload})
    assert summary["triage_target_met"] is False  # the E01 row is under 100 k photos/h
    assert summary["targets"]["triage_photos_per_hour_min"] == 100_000
    payload["photos_per_hour_no_ocr"] = {"folder": 2e5, "zip": 2e5, "e01": 2e5}
    assert bench_run.summarize({"triage": payload})["triage_target_met"] is True
    payload["photos_per_hour_no_ocr"] = {"folder": 2e5, "zip": None, "e01": 2e5}
    assert bench_run.summarize({"triage": payload})["triage_target_met"] is None
    table = bench_triage.table_rows(payload)
    assert all(len(r) == len(bench_triage.TABLE_COLUMNS) for r in table)
    assert [r[0] for r in table][-1] == "build all folder"
    assert bench_triage.even_sample(list(range(10)), 3) == [0, 3, 6]
    assert bench_triage.default_copies(560) == 4


@pytest.mark.slow
def test_benchmark_triage_tiny(tmp_path: Path, shared_data: Path) -> None:
    """Folder, zip and E01 of 4 photos, 2 of them with OCR, through the CLI (~20-35 s)."""
    code = bench_run.main(
        [
            "--only",
            "triage",
            "--photos",
            "4",
            "--copies",
            "1",
            "--ocr-files",
            "2",
            "--no-peers",
            "--quiet",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    triage = json.loads((tmp_path / "triage.json").read_text())
    assert triage["benchmark"] == "triage"
    assert triage["distinct_photos"] == 4 and triage["copies"] == 1 and triage["ocr_files"] == 2
    rows = {r["run"]: r for r in triage["rows"]}
    expected = {f"{s} no OCR" for s in ("folder", "zip", "e01")} | {
        f"{s} subset {m}" for s in ("folder", "zip", "e01") for m in ("OCR", "no OCR")
    }
    assert set(rows) == expected
    for name, row in rows.items():
        if name.startswith("e01") and str(row["status"]).startswith(NOT_AVAILABLE):
            continue  # ewf-tools / mtools not installed
        assert row["status"] == "ok", (name, row["status"])
        assert row["photos"] == (4 if "subset" not in name else 2)
        assert row["failed"] == 0
        for key in ("wall_s", "files_per_s", "photos_per_hour", "mb_per_s"):
            assert row[key] is not None, key
    hashing = {r["run"]: r for r in triage["hashing"]}
    assert hashing["hash vangnet hash_bytes (2 procs)"]["status"] == "ok"
    assert hashing["hash threatexchange PdqSignal (1 proc)"]["status"].startswith("skipped")
    assert hashing["hash perception PDQHash (2 procs)"]["status"].startswith("skipped")
    assert triage["bank"]["status"] == "ok"
    assert rows["folder no OCR"]["known_total"] == 1  # every 5th distinct photo is banked

    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["benchmarks"] == ["triage"]
    assert set(summary["summary"]["triage_photos_per_hour_no_ocr"]) == {"folder", "zip", "e01"}
    assert "triage_target_met" in summary["summary"]
