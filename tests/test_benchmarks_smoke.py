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


def _capacity(clip: str, streams: int, passed: bool, *, regions: bool = True) -> dict[str, Any]:
    """A made-up capacity row, shaped like bench_live.capacity_run's."""
    return {
        "streams": streams,
        "clip": clip,
        "regions": regions,
        "status": "ok",
        "passed": passed,
        "dropped": 0,
        "input_lost_s": 0.0,
        "alerts_expected": 1,
        "alerted_streams": 1,
        "missed_alerts": 0 if passed else 1,
        "behind_p95_s": 0.1,
        "behind_max_s": 0.1,
        "falling_behind": 0,
        "samples_per_stream_s": 1.0,
        "cpu_share_of_core": 0.5,
        "stage_cpu_s": {"decode": 1.0},
        "keyframes_only": 0,
    }


def test_live_capacity_rows_per_clip_kind() -> None:
    """Each capacity clip (photos, camera-like, real camera) has its row set, its own
    streams-per-core figure in the summary, and a row that says why when it cannot run."""
    from benchmarks import bench_live

    assert bench_live.CLIP_KINDS == ("photos", "camera", "real camera")
    payload: dict[str, Any] = {
        "latency": [],
        "capacity": [
            _capacity("photos", 4, True),
            _capacity("photos", 8, True, regions=False),
            _capacity("camera", 4, True),
            _capacity("real camera", 4, True),
            _capacity("real camera", 8, False),
        ],
        "streams_per_core": 4,
        "streams_per_core_regions_off": 8,
        "camera_streams_per_core": 4,
        "real_camera_streams_per_core": 4,
    }
    summary = bench_run.summarize({"live": payload})
    assert summary["live_streams_per_core"] == 4
    assert summary["live_streams_per_core_regions_off"] == 8
    assert summary["live_real_camera_streams_per_core"] == 4
    assert summary["live_camera_streams_per_core"] == 4
    rows = bench_live.table_rows(payload)
    assert all(len(r) == len(bench_live.TABLE_COLUMNS) for r in rows)
    assert [r[0] for r in rows][:2] == [
        "capacity (photos, regions on): 4 x 720p30 UDP on 1 core",
        "capacity (photos, regions off): 8 x 720p30 UDP on 1 core",
    ]
    assert [r[0] for r in rows][-2:] == [
        "capacity (real camera, regions on): 4 x 720p30 UDP on 1 core",
        "capacity (real camera, regions on): 8 x 720p30 UDP on 1 core",
    ]
    assert [r[1] for r in rows] == ["passed", "passed", "passed", "passed", "failed"]
    assert "missed 1" in rows[-1][2]
    missing = {"streams": 0, "clip": "real camera", "status": f"{NOT_AVAILABLE} (no videos)"}
    assert bench_live.table_rows({"capacity": [missing]})[0][1] == missing["status"]


def test_live_capacity_alert_expected_window() -> None:
    """When a stream must have alerted: the banked shot (4-6 s into a 36 s loop) lies in the
    stream's sampled part of the loop, less a key frame and the decision margin."""
    from benchmarks.bench_live import alert_expected

    def expected(offset: float, first: float, end: float, keyframe_s: float = 2.0) -> bool:
        return alert_expected(
            offset=offset,
            published_at=100.0,
            watched=(100.0 + first, 100.0 + end),
            clip_seconds=36.0,
            banked=(4.0, 6.0),
            keyframe_s=keyframe_s,
        )

    assert expected(0.0, first=1.0, end=12.0)  # 4-6 s: sampled from 1.5 s to 8 s
    assert not expected(0.0, first=1.0, end=9.0)  # 6 s + key frame + decision > 9 s
    assert expected(0.0, first=1.0, end=9.0, keyframe_s=0.0)
    assert not expected(0.0, first=4.0, end=20.0)  # sampling began during the shot
    assert not expected(5.0, first=0.5, end=20.0)  # started in the shot, next loop at 35 s
    assert expected(26.0, first=8.0, end=22.0)  # the next loop: 40-42 s = 14-16 s after
    assert not expected(26.0, first=15.0, end=22.0)


@pytest.mark.slow
def test_live_capacity_real_camera_clip_alerts(tmp_path: Path, shared_data: Path) -> None:
    """The real camera capacity clip (TMK sample videos, 720p30, a key frame every 2 s, the
    banked photo once per loop) is built, watched on one core and alerts (~80 s)."""
    import itertools
    import subprocess

    from benchmarks import bench_live

    assert bench_live.availability() is None, bench_live.availability()
    clip, banked, keyframe_s = bench_live.capacity_clip("real camera", tmp_path)
    assert keyframe_s == 2.0
    seconds = bench_live._duration(clip)
    assert 34.0 < seconds < 38.0
    assert banked == pytest.approx((4.0, 6.0), abs=0.05)
    ffprobe = ["ffprobe", "-v", "error", "-select_streams", "v:0"]
    entries = "stream=codec_name,width,height,r_frame_rate"
    probe = subprocess.run(
        [*ffprobe, "-show_entries", entries, "-of", "json", str(clip)],
        capture_output=True,
        text=True,
        check=True,
    )
    (stream,) = json.loads(probe.stdout)["streams"]
    assert stream == {"codec_name": "h264", "width": 1280, "height": 720, "r_frame_rate": "30/1"}
    key_frames = ["-skip_frame", "nokey", "-show_entries", "frame=pts_time"]
    keys = subprocess.run(
        [*ffprobe, *key_frames, "-of", "csv=p=0", str(clip)],
        capture_output=True,
        text=True,
        check=True,
    )
    times = [float(t.strip(", ")) for t in keys.stdout.split() if t.strip(", ")]
    gaps = {round(b - a, 2) for a, b in itertools.pairwise(times)}
    assert len(times) >= 17 and gaps == {2.0}, gaps

    # One stream that starts 26 s in: the banked photo comes 14 s later, in the next loop. The
    # run lasts 25 s: the check wants the shot's end (about 16 s after the publisher starts) a
    # key-frame interval and a decision margin (4 s) before the run's end, and the publisher
    # starts about 3 s into the run (22 s left that to a few tenths of a second).
    result = bench_live.capacity_run(1, tmp_path, 25.0, clip="real camera", offsets=[26.0])
    assert result["status"] == "ok", result
    assert result["clip"] == "real camera"
    assert result["alerts_expected"] == 1, result
    assert result["stream_alerts"] == [1] and result["missed_alerts"] == 0, result
    assert result["dropped"] == 0 and result["live"] == 1


#: Banked photos of the robustness smoke run: the first 10 of the quick run's 20 (the same
#: seeded order), the quick distractors; the code path is the quick run's.
SMOKE_BANK = 10


def test_benchmark_robustness_quick(tmp_path: Path, shared_data: Path) -> None:
    """The robustness benchmark at its quick size, Vangnet only (~40-60 s): every transform
    scored for plain PDQ and the ``vangnet match`` path (with and without ``--dihedral``) at
    one operating point per method that keeps 99.9 % precision, and the cost rows."""
    from benchmarks.bench_robustness import BASELINE_METHOD, TABLE_COLUMNS, table_rows
    from benchmarks.transforms import TRANSFORMS

    code = bench_run.main(
        [
            *("--only", "robustness", "--quick", "--bank", str(SMOKE_BANK)),
            *("--no-peers", "--quiet", "--out", str(tmp_path)),
        ]
    )
    assert code == 0
    result = json.loads((tmp_path / "robustness.json").read_text())
    data = result["data"]
    assert data["bank_photos"] == SMOKE_BANK
    assert data["queries"] == SMOKE_BANK * len(TRANSFORMS)
    assert data["distractors"] >= 300
    assert data["distractor_sources"]["photo"] >= 10
    assert data["distractor_sources"]["video frame"] >= 1
    methods = result["methods"]
    for name in ("pdq", "vangnet match", "vangnet match --dihedral"):
        m = methods[name]
        assert m["status"] == "ok", (name, m["status"])
        assert list(m["recall"]) == list(TRANSFORMS)
        for easy in ("jpeg_q30", "grey", "blur"):
            assert m["recall"][easy] >= 0.9, (name, easy, m["recall"][easy])
        assert m["threshold"] is not None
        true_positives = sum(m["recall"].values()) * SMOKE_BANK
        assert true_positives / (true_positives + m["false_positives"]) >= 0.999
        assert set(m["at_31"]["recall"]) == set(TRANSFORMS)
    # Today: a mirrored copy matches only in a --dihedral bank; composites not at all.
    assert methods["vangnet match"]["at_31"]["recall"]["mirror"] == 0.0
    assert methods["vangnet match --dihedral"]["at_31"]["recall"]["mirror"] >= 0.9
    for name in ("PHash", "PDQHash"):
        assert methods[f"perception {name}"]["status"].startswith("skipped")
    for name in ("pdq", "vangnet match", "vangnet match --dihedral", BASELINE_METHOD):
        row = result["cost_ms"][name]
        assert set(row) == {"12 MP phone photo", "12 MP upscaled photo", "720p live sample"}
        assert all(v > 0 for v in row.values())
    assert all(len(r) == len(TABLE_COLUMNS) for r in table_rows(result))
    summary = json.loads((tmp_path / "summary.json").read_text())["summary"]
    assert summary["robustness"]["pdq"]["target_met"] is False  # crops and composites fail


def test_robustness_operating_point() -> None:
    """One threshold per method: the most true positives at the target precision, a wrong
    nearest photo and a distractor within it both counting as false positives."""
    import numpy as np
    from benchmarks.bench_robustness import at_threshold, operating_point

    q_dist = np.array([1.0, 2.0, 3.0, 10.0, np.inf])
    q_right = np.array([True, True, False, True, False])
    d_dist = np.array([5.0, 20.0])
    assert operating_point(q_dist, q_right, d_dist, precision=0.999) == {
        "threshold": 2.0,
        "true_positives": 2,
        "false_positives": 0,
    }
    assert operating_point(q_dist, q_right, d_dist, precision=0.5)["threshold"] == 10.0
    assert operating_point(q_dist, ~q_right, d_dist, precision=0.999)["threshold"] is None
    names = ["grey", "grey", "mirror", "mirror", "mirror"]
    got = at_threshold(5.0, q_dist, q_right, names, d_dist)
    assert got["recall"] == {"grey": 1.0, "mirror": 0.0}
    assert (got["fp_queries"], got["fp_distractors"]) == (1, 1)
    none = at_threshold(None, q_dist, q_right, names, d_dist)
    assert none["recall"] == {"grey": 0.0, "mirror": 0.0} and none["false_positives"] == 0


def test_wider_radius_summary() -> None:
    """`benchmarks.wider_radius`: a banked photo counts as found at a radius when it matched
    within the bank's threshold, or was confirmed from a candidate at that radius or closer,
    or from a banked crop (whatever its distance); boxes count each query's boxes holding a
    candidate at the radius; a confirmed wrong photo is not the banked photo found."""
    from benchmarks.wider_radius import Candidate, Query, summarise

    region = (10, 10, 50, 50)
    queries = [
        Query("player", 0, (0,), False, (Candidate(0, 98, False, region, True, 40),), 1),
        Query("player", 1, (1,), False, (Candidate(1, 99, True, None, True, 30),), 1),
        Query("player", 2, (2,), True, (), 0),
        Query("player", 3, (5,), False, (Candidate(5, 90, False, None, True, 14),), 1),
        Query(
            "d-upscaled",
            -1,
            (),
            False,
            (Candidate(7, 97, False, None, False), Candidate(8, 99, False, region, False)),
            2,
        ),
    ]
    out = summarise(queries, [96, 100])
    player, upscaled = out["kinds"]["player"], out["kinds"]["d-upscaled"]
    assert player["found@100"] == 0.75 and player["found@96"] == 0.5
    assert player["boxes@100"] == 0.75 and player["boxes@96"] == 0.5
    assert upscaled["boxes@100"] == 2 and upscaled["boxes@96"] == 0
    assert "found@96" not in upscaled and upscaled["extractions"] == 2
    assert out["false_positives_at_widest"] == 1
    assert out["fewest_inliers"] == 30  # the wrong photo's 14 is not a banked photo's


def test_robustness_transforms_are_seeded_pure_functions() -> None:
    """Each transform: RGB in, a new RGB picture out, the same for the same seed; the sizes
    the names promise; composites need other pictures and vary with the seed."""
    from benchmarks.transforms import COMPOSITES, TRANSFORMS, apply
    from PIL import Image

    photo = Image.radial_gradient("L").resize((300, 200)).convert("RGB")
    before = photo.tobytes()
    others = [Image.new("RGB", (320, 240), c) for c in ("red", "green", "blue", "white")]
    for name in TRANSFORMS:
        first = apply(name, photo, seed=1, others=others)
        again = apply(name, photo, seed=1, others=others)
        assert first.mode == "RGB", name
        assert first.size == again.size and first.tobytes() == again.tobytes(), name
    assert photo.tobytes() == before  # the input is left alone
    assert apply("crop_10", photo, seed=1).size == (270, 180)
    assert apply("crop_25", photo, seed=1).size == (225, 150)
    assert apply("pad_20", photo, seed=1).size == (360, 240)
    assert apply("rotate_90", photo, seed=1).size == (200, 300)
    assert apply("resize_0.4", photo, seed=1).size == (120, 80)
    assert apply("letterbox_16_9", photo, seed=1).size == (1280, 720)
    for name in sorted(COMPOSITES):
        a = apply(name, photo, seed=1, others=others).tobytes()
        assert any(apply(name, photo, seed=s, others=others).tobytes() != a for s in (2, 3, 4))
    for name in ("pip", "video_call"):  # a player's wallpaper may be drawn instead
        with pytest.raises(ValueError, match="other pictures"):
            apply(name, photo, seed=1)
    with pytest.raises(ValueError, match="unknown transform"):
        apply("sepia", photo, seed=1)


def test_classifier_benchmark_runs(tmp_path: Path, shared_data: Path) -> None:
    """`--only classifiers` on 5 pictures a set: the benign sets scored, the false-positive
    rate and the cost per picture written (no figure asserted)."""
    code = bench_run.main(
        ["--only", "classifiers", "--photos", "5", "--quiet", "--out", str(tmp_path)]
    )
    assert code == 0
    result = json.loads((tmp_path / "classifiers.json").read_text())
    assert result["classifier"] == "opennsfw" and result["threshold"] == 0.5
    assert set(result["sets"]) == {"bsds500", "public-domain", "video-frames", "player-screenshots"}
    for entry in result["sets"].values():
        assert entry["pictures"] == 5 and entry["errors"] == 0
        assert 0 <= entry["fpr"] <= 1 and entry["max"] is not None
    for mode in ("batch", "single"):
        assert result["cost"][mode]["pictures_per_s"] > 0
    summary = json.loads((tmp_path / "summary.json").read_text())["summary"]
    assert summary["classifiers_fpr"]["all"] == result["all"]["fpr"]


def test_context_benchmark_quick(tmp_path: Path) -> None:
    """`--only context --quick`: a small synthetic population scored, recall per typology at
    the fixed alert rates and the single-rule baseline written beside it (no figure is
    asserted beyond what the data makes certain)."""
    code = bench_run.main(["--only", "context", "--quick", "--quiet", "--out", str(tmp_path)])
    assert code == 0
    result = json.loads((tmp_path / "context.json").read_text())
    assert result["senders"] == 1000 and result["payments"] > 1000
    assert result["payments_per_s"] > 0
    assert result["two_workers"]["status"].startswith("skipped")
    for who in ("vangnet", "baseline"):
        for rate in ("1/1000", "1/100"):
            entry = result[who]["at_rate"][rate]
            assert entry["alerts"] == (1 if rate == "1/1000" else 10)
            assert set(entry["recall"]) == set(result["typologies"])
    assert "No peer" in result["peers"]
    summary = json.loads((tmp_path / "summary.json").read_text())["summary"]
    assert summary["context_payments_per_s"] == result["payments_per_s"]
    assert summary["targets"]["context_payments_per_s_min"] == 50_000
