"""What the live review-now rule adds to a scored sample: the priority signal (fusing the
scores) and, for a likely sample, its video-call likelihood from image clues (no OCR), on
one core, on the benign BSDS500 photos of ../shared/data shown as 720p frames.

    .venv/bin/python -m benchmarks.bench_review_now            # the 500 photos
    .venv/bin/python -m benchmarks.bench_review_now --quick    # the first 100

Each photo is scaled to fill a 1280x720 frame and then prepared as a live sample is (bars
cropped, at most 512 px on a side: `vangnet.live.samples`); the video-call likelihood is
measured on that sample (what the processor gives it) and on the full 720p frame. CPU time
(``time.thread_time``) per sample; the count of photos reading as a video call at the
default threshold (0.5) is reported as it comes out: none of these photos is a video call,
so each one is a false video-call reading (it can only raise a review-now alert's priority
or, with ``live_review_now_video_call_k``, let fewer likely samples alert). Fusing is
measured on a fixed reading of two classifiers.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

import numpy as np
from PIL import Image

from benchmarks import common
from vangnet.live.samples import HASH_SIDE, crop_bars
from vangnet.signals.classifiers.fusion import Fusion
from vangnet.signals.classifiers.scoring import fit
from vangnet.triage.text_calls import video_call_likelihood

THRESHOLD = 0.5


def frames(quick: bool) -> list[np.ndarray]:
    paths = sorted((common.DATA_DIR / "photos/bsds500/train").glob("*.jpg"))
    paths += sorted((common.DATA_DIR / "photos/bsds500/test").glob("*.jpg"))
    paths += sorted((common.DATA_DIR / "photos/bsds500/val").glob("*.jpg"))
    paths = paths[:100] if quick else paths[:500]
    return [
        np.asarray(Image.open(p).convert("RGB").resize((1280, 720), Image.Resampling.BILINEAR))
        for p in paths
    ]


def cost(pictures: list[np.ndarray]) -> tuple[list[float], int]:
    spent, calls = [], 0
    for rgb in pictures:
        began = time.thread_time()
        found = video_call_likelihood(rgb, None)
        spent.append(time.thread_time() - began)
        calls += found.score >= THRESHOLD
    return spent, calls


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    full = frames(args.quick)
    samples = [fit(crop_bars(f), HASH_SIDE) for f in full]
    rows: list[list[Any]] = []
    out: dict[str, Any] = {}
    for label, pictures in (("live sample (<= 512 px)", samples), ("720p frame", full)):
        spent, calls = cost(pictures)
        ms = [s * 1000 for s in spent]
        out[label] = {
            "pictures": len(pictures),
            "median_ms": common.median(ms),
            "p95_ms": common.percentile(ms, 95),
            "max_ms": max(ms),
            "video_calls_at_0.5": calls,
        }
        rows.append([label, len(pictures), common.median(ms), common.percentile(ms, 95), calls])
    fusion = Fusion.of()  # the installed classifiers, at their default thresholds
    reading = {"opennsfw": 0.8, "faces": 0.3}
    began = time.thread_time()
    for _ in range(10_000):
        fusion.fuse(reading)
    fuse_us = (time.thread_time() - began) / 10_000 * 1e6
    out["fuse_us"] = fuse_us
    common.print_table(
        "video-call likelihood per sample (image clues, one core)",
        ["input", "pictures", "median ms", "p95 ms", "read as a video call"],
        rows,
    )
    print(f"fusing one reading of two classifiers: {fuse_us:.1f} us")
    common.write_json("review_now", {"machine": common.machine_info(), **out})
    return out


if __name__ == "__main__":
    main()
