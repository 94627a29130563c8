"""Golden digest of region proposals: what `propose` and `region_hashes` find on a fixed set.

Speeding up the region search (`vangnet.media.regions`, `vangnet.signals.regions`) must not
change what it finds. This script runs both over a fixed corpus and prints one line per
picture (its name and a digest of every box, kind, angle, PDQ, quality and dihedral
variant) and a digest of them all; run it before and after a change and compare:

    .venv/bin/python -m benchmarks.regions_golden --out /tmp/golden-before.txt
    ... change ...
    .venv/bin/python -m benchmarks.regions_golden --check /tmp/golden-before.txt

The corpus (benign, read in place from ``../shared/data``, nothing written but ``--out``):

* the 50 BSDS500 validation photos of `benchmarks.regions_cost` (the stored JPEG bytes);
* its 50 composites (padding, letterbox, picture-in-picture, player window, video call);
* its 20 photos rotated by 4 degrees (a ``deskewed`` region) and its two 12 MP phone photos
  (decoded at reduced size, the boxes mapped back);
* every other transform of the robustness bench (`benchmarks.transforms.TRANSFORMS`) of
  the first 6 photos;
* 3 frames each of 4 sample videos (the live path calls `propose` on frames).

`propose` is also run on the decoded pixels with the live stage's limits, and
`find_regions` (the triage tracer's, insets on) on every picture, so the three entry points
are all covered. Not a test: it reads the shared data set, which tests may not assume.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from benchmarks import common, regions_cost, transforms

VIDEOS = (
    "doorknob-hd-no-bar.mp4",
    "pattern-sd-with-small-logo-bar.mp4",
    "chair-19-sd-bar.mp4",
    "chair-22-with-small-logo-bar.mp4",
)
FRAMES = (0, 40, 80)
EXTRA_PHOTOS = 6
#: `propose` and `find_regions` are also run on the picture shrunk to fit this side.
SMALL_SIDE = 640


def _frames() -> dict[str, bytes]:
    folder = common.DATA_DIR / "threatexchange/video/sample-videos"
    out: dict[str, bytes] = {}
    for name in VIDEOS:
        cap = cv2.VideoCapture(str(folder / name))
        try:
            for index in FRAMES:
                cap.set(cv2.CAP_PROP_POS_FRAMES, index)
                ok, bgr = cap.read()
                if not ok:
                    continue
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                out[f"video/{name}#{index}"] = regions_cost._jpeg(Image.fromarray(rgb))
        finally:
            cap.release()
    return out


def corpus() -> dict[str, bytes]:
    """Name -> encoded picture, in a fixed order."""
    sets = regions_cost.datasets()
    out: dict[str, bytes] = {}
    for name, blobs in sets.items():
        for i, data in enumerate(blobs):
            out[f"{name}/{i}"] = data
    bsds = common.DATA_DIR / "photos" / "bsds500"
    photos = sorted((bsds / "val").glob("*.jpg"))
    pictures = [Image.open(p).convert("RGB") for p in photos[: EXTRA_PHOTOS + 5]]
    for name in transforms.TRANSFORMS:
        for i in range(EXTRA_PHOTOS):
            others = [pictures[i + k] for k in (1, 2, 3, 4, 5)]
            img = transforms.apply(name, pictures[i], seed=f"golden{i}", others=others)
            out[f"transform/{name}/{i}"] = regions_cost._jpeg(img)
    out.update(_frames())
    return out


def describe(data: bytes) -> str:
    """Every output of the region search on one encoded picture, as text."""
    from vangnet.config import get_settings
    from vangnet.media.image import decode_image, upright_size
    from vangnet.media.regions.find import find_regions
    from vangnet.signals.regions import propose, region_hashes

    settings = get_settings()
    picture = decode_image(data)[0]
    size = upright_size(data)
    parts: list[str] = []
    for dihedral in (False, True):
        for r in region_hashes(
            picture,
            most=settings.match_regions_max,
            min_side=settings.match_region_min_side,
            dihedral=dihedral,
            size=size,
        ):
            parts.append(f"hash {r.box} {r.kind} {r.pdq} {r.quality} {r.variants} {r.angle!r}")
    rgb = np.asarray(picture.convert("RGB"), dtype=np.uint8)
    scale = min(1.0, SMALL_SIDE / max(rgb.shape[:2]))
    if scale < 1.0:
        size2 = (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale)))
        rgb = np.asarray(cv2.resize(rgb, size2, interpolation=cv2.INTER_AREA), np.uint8)
    for p in propose(rgb, most=8, min_side=32):
        parts.append(f"propose {p.box} {p.kind} {p.skewed!r}")
    for region in find_regions(rgb):
        parts.append(f"region {region!r} {region.alternatives}")
    return "\n".join(parts)


def run(names: list[str] | None = None) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, data in corpus().items():
        if names and not any(name.startswith(n) for n in names):
            continue
        out[name] = hashlib.sha256(describe(data).encode()).hexdigest()[:16]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--out", type=Path, help="write the digests here")
    ap.add_argument("--check", type=Path, help="compare with digests written by --out")
    ap.add_argument("--show", help="print every output for the picture of this name")
    args = ap.parse_args(argv)
    if args.show:
        print(describe(corpus()[args.show]))
        return 0
    digests = run()
    total = hashlib.sha256("".join(f"{k}={v}\n" for k, v in digests.items()).encode())
    lines = [f"{k} {v}" for k, v in digests.items()] + [f"ALL {total.hexdigest()}"]
    text = "\n".join(lines) + "\n"
    if args.out:
        args.out.write_text(text)
    print(f"{len(digests)} pictures, digest {total.hexdigest()}")
    if args.check:
        want = dict(line.split(" ", 1) for line in args.check.read_text().splitlines())
        diff = [k for k, v in digests.items() if want.get(k) != v]
        if diff or want.get("ALL") != total.hexdigest():
            print(f"DIFFERENT: {len(diff)} pictures: {', '.join(diff[:20])}", file=sys.stderr)
            return 1
        print("identical")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
