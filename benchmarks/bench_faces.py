"""The ``faces`` classifier on the benign photos of ../shared/data: faces found, the apparent
age of the youngest face per picture, and the cost per picture on one core.

    .venv/bin/python -m benchmarks.bench_faces            # BSDS500 (500) + public-domain (16)
    .venv/bin/python -m benchmarks.bench_faces --quick    # first 100 BSDS500 photos

Every person in these sets is either an adult or, where BSDS500 shows children in everyday
scenes, benign: the count of "apparent minor" readings (minor_probability >= 0.5) is reported
as it comes out, a false-positive rate of that reading on adults only with that caveat. No
picture is labelled here; nothing is claimed about who is in it.

Cost: the process is pinned to one core; CPU time (``time.process_time``) of each step per
picture (detection = shrink + HOG; alignment = landmarks + chip; age = onnxruntime over the
chips of a batch) and the wall time of `score_many` in batches of `FaceAges.batch_size`. The
detector settings table compares upsampling 0 / 1 at 480 px and at 640 px (BSDS500 photos
enlarged to 640 px: the cost of a larger ``max_side``; their faces are no smaller there, so
its recall column is not a recall gain).
"""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from benchmarks import common
from vangnet.media.image import decode_image
from vangnet.signals.classifiers.faces import FaceAges

TABLE_COLUMNS = ["set / setting", "pictures", "with faces", "faces", "value >= 0.5", "ms CPU"]
AGE_BUCKETS = [(0, 12), (13, 17), (18, 24), (25, 39), (40, 59), (60, 80)]
MINOR = 0.5


def load(paths: Sequence[Path], max_side: int) -> list[np.ndarray]:
    """Decoded as the pipeline decodes, shrunk to ``max_side`` as a caller shrinks."""
    out = []
    for path in paths:
        img = decode_image(path.read_bytes(), fast=False)[0]
        if max(img.size) > max_side:
            img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        out.append(np.asarray(img))
    return out


def enlarged(pictures: Sequence[np.ndarray], side: int) -> list[np.ndarray]:
    out = []
    for pic in pictures:
        h, w = pic.shape[:2]
        f = side / max(h, w)
        img = Image.fromarray(pic).resize((round(w * f), round(h * f)), Image.Resampling.BICUBIC)
        out.append(np.asarray(img))
    return out


def variant(max_side: int, upsample: int) -> FaceAges:
    attrs = {"max_side": max_side, "upsample": upsample}
    cls: type[FaceAges] = type(f"FaceAges{max_side}x{upsample}", (FaceAges,), attrs)
    return cls()


def steps(clf: FaceAges, pictures: Sequence[np.ndarray]) -> dict[str, Any]:
    """CPU ms per picture of each step, and the faces found."""
    detect = align = age = 0.0
    faces = 0
    with_faces = 0
    for start in range(0, len(pictures), clf.batch_size):
        batch = pictures[start : start + clf.batch_size]
        chips = []
        for pic in batch:
            t0 = time.process_time()
            found = clf.detect(pic)
            t1 = time.process_time()
            aligned = clf.align(found)
            t2 = time.process_time()
            detect += t1 - t0
            align += t2 - t1
            chips += [f.chip for f in aligned]
            faces += len(aligned)
            with_faces += bool(aligned)
        t0 = time.process_time()
        clf.age_distributions(chips)
        age += time.process_time() - t0
    n = max(1, len(pictures))
    return {
        "pictures": len(pictures),
        "with_faces": with_faces,
        "faces": faces,
        "detect_ms": 1000 * detect / n,
        "align_ms": 1000 * align / n,
        "age_ms": 1000 * age / n,
        "age_ms_per_face": 1000 * age / max(1, faces),
        "total_ms": 1000 * (detect + align + age) / n,
    }


def readings(clf: FaceAges, pictures: Sequence[np.ndarray]) -> dict[str, Any]:
    """`score_many` in batches: the youngest face's apparent age per picture with a face,
    how many read as minors, and the wall and CPU time per picture."""
    scores = []
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for start in range(0, len(pictures), clf.batch_size):
        scores += clf.score_many(pictures[start : start + clf.batch_size])
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    buckets: Counter[str] = Counter()
    values = []
    for score in scores:
        if not score.evidence:
            continue
        youngest = max(score.evidence, key=lambda e: float(e.detail["minor_probability"]))
        lo, hi = youngest.detail["age"]
        middle = (lo + hi) / 2
        for a, b in AGE_BUCKETS:
            if a <= middle < b + 1:
                buckets[f"{a}-{b}"] += 1
        values.append(score.value)
    n = max(1, len(pictures))
    return {
        "pictures": len(pictures),
        "with_faces": len(values),
        "faces": sum(len(s.evidence) for s in scores),
        "youngest_age_buckets": {f"{a}-{b}": buckets[f"{a}-{b}"] for a, b in AGE_BUCKETS},
        "value_ge_0_5": sum(v >= MINOR for v in values),
        "value_ge_0_2": sum(v >= 0.2 for v in values),
        "value_ge_0_1": sum(v >= 0.1 for v in values),
        "values": sorted(round(v, 4) for v in values),
        "wall_ms": 1000 * wall / n,
        "cpu_ms": 1000 * cpu / n,
    }


def pin_one_core() -> int | None:
    try:
        core = sorted(os.sched_getaffinity(0))[-1]
        os.sched_setaffinity(0, {core})
        return core
    except (AttributeError, OSError):
        return None


def run(*, quick: bool = False) -> dict[str, Any]:
    core = pin_one_core()
    data = common.DATA_DIR / "photos"
    bsds = sorted((data / "bsds500").glob("*/*.jpg"))
    if quick:
        bsds = bsds[:100]
    portraits = sorted((data / "public-domain").iterdir())
    common.release_free_memory()
    rss0 = common.rss_mb()
    t0 = time.process_time()
    clf = FaceAges()
    load_s = time.process_time() - t0
    common.release_free_memory()
    load_mb = common.rss_mb() - rss0
    sets = {
        "bsds500": load(bsds, clf.max_side),
        "public-domain": load(portraits, clf.max_side),
    }
    clf.score_many(sets["public-domain"][:4])  # warm-up
    out: dict[str, Any] = {
        "core": core,
        "model_load_cpu_s": load_s,
        "model_load_rss_mb": load_mb,
        "classifier": {
            "name": clf.name,
            "version": clf.version,
            "max_side": clf.max_side,
            "upsample": clf.upsample,
            "min_detection_score": clf.min_detection_score,
        },
        "sets": {},
        "steps": {},
        "settings": [],
    }
    for name, pictures in sets.items():
        out["sets"][name] = readings(clf, pictures)
        out["steps"][name] = steps(clf, pictures)
    portraits_found = [
        (p.name, len(s.evidence), s.summary)
        for p, s in zip(portraits, clf.score_many(sets["public-domain"]), strict=True)
    ]
    out["public_domain_pictures"] = portraits_found
    bsds_pics = sets["bsds500"]
    big = enlarged(bsds_pics, 640)
    for side, pics in ((480, bsds_pics), (640, big)):
        for up in (0, 1):
            row = steps(variant(side, up), pics)
            out["settings"].append({"max_side": side, "upsample": up, **row})
    return out


def table_rows(payload: dict[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for name, r in payload["sets"].items():
        rows.append(
            [name, r["pictures"], r["with_faces"], r["faces"], r["value_ge_0_5"], r["cpu_ms"]]
        )
    for r in payload["settings"]:
        label = f"bsds500 @ {r['max_side']} px, upsample {r['upsample']} (detect + align)"
        rows.append(
            [
                label,
                r["pictures"],
                r["with_faces"],
                r["faces"],
                None,
                r["detect_ms"] + r["align_ms"],
            ]
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="first 100 BSDS500 photos only")
    parser.add_argument("--out", type=Path, default=None, help="results folder")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    payload = run(quick=args.quick)
    payload["elapsed_s"] = time.perf_counter() - t0
    payload["machine"] = common.machine_info()
    path = common.write_json("faces", payload, args.out)
    common.print_table(f"faces ({path})", TABLE_COLUMNS, table_rows(payload))
    step_rows = [
        [name, s["detect_ms"], s["align_ms"], s["age_ms"], s["age_ms_per_face"], s["total_ms"]]
        for name, s in payload["steps"].items()
    ]
    common.print_table(
        "faces: CPU ms per picture by step (one core)",
        ["set", "detect", "align", "age", "age per face", "total"],
        step_rows,
    )
    age_rows = [
        [name, *r["youngest_age_buckets"].values(), r["value_ge_0_5"], r["value_ge_0_2"]]
        for name, r in payload["sets"].items()
    ]
    common.print_table(
        "faces: apparent age of the youngest face (middle of its 70 % range), per picture",
        ["set", *(f"{a}-{b}" for a, b in AGE_BUCKETS), "value >= 0.5", "value >= 0.2"],
        age_rows,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
