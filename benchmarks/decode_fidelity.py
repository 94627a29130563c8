"""Fast JPEG decode vs full decode: PDQ distance on every benign photo, and the speedup.

Usage: .venv/bin/python benchmarks/decode_fidelity.py [--repeat N]
Prints a table and writes benchmarks/results/decode_fidelity.json. Both sides go through
the production pipeline (EXIF transpose, RGB, fit within 512x512 as Meta's reference does,
pdqhash: `vangnet.signals.pdq.hash_image`); "full" decodes at full size, "fast" uses
`vangnet.media.image.decode_image`'s DCT-domain draft (smaller side kept >= FAST_MIN_SIDE).
For context the 12 MP timings also show the pre-fit pipeline (full decode + pdqhash on
all 12 MP), which is what the fast decode used to be compared with.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections import Counter
from pathlib import Path

import numpy as np

from vangnet.media.image import FAST_MIN_SIDE, decode_image
from vangnet.signals.pdq import hash_image, hash_pixels, pdq_distance

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("VANGNET_SHARED_DATA", REPO.parent / "shared" / "data"))
OUT = REPO / "benchmarks" / "results" / "decode_fidelity.json"
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}


def photo_files() -> list[Path]:
    roots = [DATA / "photos", DATA / "threatexchange" / "pdq" / "data"]
    return [p for r in roots for p in sorted(r.rglob("*")) if p.suffix.lower() in PHOTO_SUFFIXES]


def pdq_of(data: bytes, *, fast: bool) -> str:
    return hash_image(decode_image(data, fast=fast)[0])[0]


def pdq_unfitted(data: bytes) -> str:
    """The pipeline before the 512x512 fit: full decode, pdqhash on every pixel."""
    return hash_pixels(np.asarray(decode_image(data, fast=False)[0]))[0]


def seconds(data: bytes, *, fast: bool, repeat: int, unfitted: bool = False) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        if unfitted:
            pdq_unfitted(data)
        else:
            pdq_of(data, fast=fast)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="timing repeats (best of)")
    args = parser.parse_args()

    distances: dict[str, int] = {}
    for path in photo_files():
        data = path.read_bytes()
        distances[str(path.relative_to(DATA))] = pdq_distance(
            pdq_of(data, fast=True), pdq_of(data, fast=False)
        )
    values = list(distances.values())
    histogram = dict(sorted(Counter(values).items()))

    timings = []
    exif = DATA / "threatexchange" / "pdq" / "data" / "reg-test-input" / "exif-rotn"
    for path in sorted(exif.glob("*.jpg")):
        data = path.read_bytes()
        full = seconds(data, fast=False, repeat=args.repeat)
        fast = seconds(data, fast=True, repeat=args.repeat)
        unfitted = seconds(data, fast=False, repeat=args.repeat, unfitted=True)
        timings.append(
            {
                "file": path.name,
                "full_s": full,
                "fast_s": fast,
                "speedup": full / fast,
                "unfitted_full_s": unfitted,
                "speedup_vs_unfitted": unfitted / fast,
            }
        )

    result = {
        "fast_min_side": FAST_MIN_SIDE,
        "photos": len(values),
        "distance_max": max(values),
        "distance_mean": statistics.fmean(values),
        "distance_histogram": {str(k): v for k, v in histogram.items()},
        "worst": sorted(distances.items(), key=lambda kv: -kv[1])[:5],
        "timings_12mp": timings,
        "speedup_min": min(t["speedup"] for t in timings),
    }
    print(f"fast decode (smaller side >= {FAST_MIN_SIDE} px) vs full decode, PDQ distance")
    print(f"  photos: {len(values)}  max: {max(values)}  mean: {statistics.fmean(values):.3f}")
    print("  distance  count")
    for k, v in histogram.items():
        print(f"  {k:8d}  {v:5d}")
    print("12 MP photo      full (s)  fast (s)  speedup  pre-fit full (s)  speedup")
    for t in timings:
        print(
            f"  {t['file']:14} {t['full_s']:8.3f}  {t['fast_s']:8.3f}  {t['speedup']:6.1f}x"
            f"  {t['unfitted_full_s']:16.3f}  {t['speedup_vs_unfitted']:6.1f}x"
        )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {OUT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
