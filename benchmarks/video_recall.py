"""Recall of banked photos shown in query videos (issue 12, point 2), with and without the
wider net on the videos' sampled frames.

Each query is a short H.264 clip (`vangnet.live.clips.encode_clip`, ``--fps`` frames a
second, ``--size`` pixels): 2 s of a composite of `benchmarks.transforms` showing an
unbanked photo, then 3 s of the same composite kind showing a banked photo (picture-in-
picture inset, player window, video-call grid), each letterboxed into the frame as a player
shows it. Every clip goes the way ``vangnet match`` takes it: `hash_bytes` (vPDQ, the
sampled frames and their regions; with ``verify``, each frame's pixels made again from the
in-memory video when a candidate needs them) and `Matcher.lookup_hashes`. Without
``verify`` the frames are matched within each bank's threshold only (the answer before the
wider net reached videos).

Bank: ``--bank`` BSDS500 test photos added as ``vangnet bank add`` adds them (local features
and crop PDQs kept), SQLite in a temporary folder. Queries: each banked photo in each
composite; distractors: the same clips of as many BSDS500 validation photos (not banked):
any match of theirs is a false positive, as is a match to the wrong banked photo. CPU per
clip (the process's, FFmpeg's decoding threads included: hashing, matching, the checks and
the extra decode) is printed for both modes.

    .venv/bin/python -m benchmarks.video_recall [--bank 30] [--size 1280x720]

Not a timed test: CPU figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image

from benchmarks import common, transforms

BANK = "VIDEO_RECALL"
COMPOSITES = ("pip", "player", "video_call")


def run(
    bank_size: int, composites: tuple[str, ...], size: tuple[int, int], fps: int
) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="vangnet-video-recall-"))
    os.environ["VANGNET_HOME"] = str(home)
    try:
        return _run(home, bank_size, composites, size, fps)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _run(
    home: Path, bank_size: int, composites: tuple[str, ...], size: tuple[int, int], fps: int
) -> dict[str, Any]:
    from sqlalchemy.orm import Session

    from vangnet.banks.bank import create_bank
    from vangnet.banks.contents import add_content
    from vangnet.banks.features import FeatureSeal
    from vangnet.config import get_settings
    from vangnet.live.clips import Shot, encode_clip
    from vangnet.match.indexes import SignalIndexes
    from vangnet.match.service import Matcher
    from vangnet.signals.hashing import hash_bytes, signal_values
    from vangnet.store.db import make_engine
    from vangnet.store.migrate import ensure_schema

    settings = get_settings()
    engine = make_engine(f"sqlite:///{home / 'recall.db'}", home=home)
    ensure_schema(engine)
    bsds = common.DATA_DIR / "photos" / "bsds500"
    banked = sorted((bsds / "test").glob("*.jpg"))[:bank_size]
    unbanked = sorted((bsds / "val").glob("*.jpg"))[:bank_size]
    seal = FeatureSeal.from_settings(settings)
    ids: dict[Path, int] = {}
    with Session(engine) as s:
        create_bank(s, name=BANK, settings=settings)
        for path in banked:
            hashed = hash_bytes(path.read_bytes(), settings=settings, for_bank=True)
            ids[path] = add_content(
                s,
                bank=BANK,
                signals=signal_values(hashed),
                features=hashed.kept_features(),
                seal=seal,
            )
        s.commit()
    indexes = SignalIndexes(engine, snapshot_dir=None)
    indexes.load()
    others = [Image.open(p).convert("RGB") for p in sorted((bsds / "train").glob("*.jpg"))[:40]]
    width, height = size

    def clips(paths: list[Path]) -> list[tuple[str, Path, bytes]]:
        out = []
        for i, path in enumerate(paths):
            img = Image.open(path).convert("RGB")
            for name in composites:
                around = [others[(i * 5 + k) % len(others)] for k in range(5)]
                before = transforms.apply(
                    name, others[(i * 7 + 3) % len(others)], seed=-i - 1, others=around
                )
                shown = transforms.apply(name, img, seed=i, others=around)
                shots = [Shot(before, 2.0, False), Shot(shown, 3.0, False)]
                out.append((name, path, encode_clip(shots, width=width, height=height, fps=fps)))
        return out

    queries = clips(banked)
    distractors = clips(unbanked)
    result: dict[str, Any] = {
        "bank": len(banked),
        "composites": composites,
        "size": f"{width}x{height}",
        "clip": f"5 s at {fps} fps",
    }
    for verify in (False, True):
        matcher = Matcher(indexes, settings=settings)
        hits: dict[str, int] = dict.fromkeys(composites, 0)
        wrong = false = unverified = 0
        verified_hits = 0
        cpu: list[float] = []
        with Session(engine) as session:
            for n, (name, path, data) in enumerate(queries + distractors):
                began = time.process_time()
                hashed = hash_bytes(
                    data, settings=settings, dihedral=True, regions=True, verify=verify
                )
                lookup = matcher.lookup_hashes(session, hashed)
                cpu.append(time.process_time() - began)
                found = {m.content_id for m in lookup.matches}
                unverified += lookup.unverified
                if n < len(queries):
                    if ids[path] in found:
                        hits[name] += 1
                        verified_hits += any(
                            m.content_id == ids[path] and m.inliers for m in lookup.matches
                        )
                    wrong += len(found - {ids[path]})
                else:
                    false += len(found)
        per = len(banked)
        result["verify" if verify else "hash_only"] = {
            "recall": {k: round(v / per, 2) for k, v in hits.items()},
            "found_by_the_wider_net": verified_hits,
            "wrong_photo": wrong,
            "false_positives": false,
            "unverified": unverified,
            "cpu_ms_median": round(statistics.median(cpu) * 1000, 1),
            "cpu_ms_p90": round(sorted(cpu)[int(0.9 * (len(cpu) - 1))] * 1000, 1),
        }
    engine.dispose()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bank", type=int, default=30)
    ap.add_argument("--composites", default=",".join(COMPOSITES))
    ap.add_argument("--size", default="1280x720", help="clip width x height (even)")
    ap.add_argument("--fps", type=int, default=10, help="clip frames a second")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    result = run(args.bank, tuple(args.composites.split(",")), (width, height), args.fps)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
