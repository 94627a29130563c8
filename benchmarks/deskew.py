"""Photos rotated by a small angle: found through their regions, and what is out of reach.

For ``--photos`` BSDS500 test photos (benign, read in place from ``../shared/data``), each
rotated by each of ``ANGLES`` degrees in memory, three ways:

* ``expanded``: ``rotate(a, expand=True)``, the corners filled black, white or mid-grey
  (the robustness bench's ``rotate_4``), as PNG and as JPEG q75;
* ``same canvas``: ``rotate(a)`` without expanding, so the photo's corners are cut off and
  small black wedges fill the canvas corners;
* ``straightened``: rotated, then cut to the largest upright rectangle of its aspect that
  holds no corner fill and scaled back to the photo's size (a phone's "straighten"): no
  fill anywhere.

Per row, the share of queries within PDQ 31 of the upright photo: the whole picture
(`hash_image`), the whole picture or one of the regions ``vangnet match`` looks up
(`region_hashes`, 8 regions, sides of 64 px and more), how many got a ``deskewed`` region
and how far its angle was from the truth (the largest error); and, for the two ways
Vangnet does not read, the same share with the true angle given (the picture turned back
by it, then cut to the photo's size about the centre; for ``straightened`` also to the
inner rectangle again): whether deskewing could reach them at all.

    .venv/bin/python -m benchmarks.deskew [--photos 40]

Not a timed test; the figures do not depend on the machine.
"""

from __future__ import annotations

import argparse
import io
import math
import statistics
from collections.abc import Callable
from typing import Any

from PIL import Image

from benchmarks import common

ANGLES = (0.5, 1.0, 2.0, 4.0, -7.0, 10.0, -15.0)
THRESHOLD = 31


def _jpeg(img: Image.Image) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=75)
    with Image.open(io.BytesIO(buf.getvalue())) as out:
        return out.convert("RGB")


def _inner(width: int, height: int, angle: float) -> float:
    """The scale of the largest rectangle of the picture's aspect inside it rotated by
    ``angle`` degrees about its centre (no corner fill)."""
    a = math.radians(abs(angle))
    c, s = math.cos(a), math.sin(a)
    return min(width / (width * c + height * s), height / (width * s + height * c))


def _centre(img: Image.Image, width: float, height: float) -> Image.Image:
    cx, cy = img.width / 2, img.height / 2
    box = (cx - width / 2, cy - height / 2, cx + width / 2, cy + height / 2)
    return img.crop(tuple(round(v) for v in box))


def expanded(fill: int, jpeg: bool) -> Callable[[Image.Image, float], Image.Image]:
    def make(photo: Image.Image, angle: float) -> Image.Image:
        out = photo.rotate(angle, Image.Resampling.BICUBIC, expand=True, fillcolor=(fill,) * 3)
        return _jpeg(out) if jpeg else out

    return make


def same_canvas(photo: Image.Image, angle: float) -> Image.Image:
    return photo.rotate(angle, Image.Resampling.BICUBIC, fillcolor=(0, 0, 0))


def straightened(photo: Image.Image, angle: float) -> Image.Image:
    k = _inner(photo.width, photo.height, angle)
    rotated = same_canvas(photo, angle)
    inner = _centre(rotated, photo.width * k, photo.height * k)
    return inner.resize(photo.size, Image.Resampling.BICUBIC)


def turned_back(query: Image.Image, angle: float, photo: Image.Image, inner: bool) -> Image.Image:
    """The true angle's answer: ``query`` turned back and cut to the photo's size (and to
    the inner rectangle again when ``inner``)."""
    back = query.rotate(-angle, Image.Resampling.BICUBIC, expand=True, fillcolor=(0, 0, 0))
    out = _centre(back, photo.width, photo.height)
    if inner:
        k = _inner(photo.width, photo.height, angle)
        out = _centre(out, photo.width * k, photo.height * k)
    return out


def run(count: int) -> dict[str, Any]:
    from vangnet.signals.pdq import hash_image, pdq_distance
    from vangnet.signals.regions import region_hashes

    paths = sorted((common.DATA_DIR / "photos/bsds500/test").glob("*.jpg"))[:count]
    photos = [Image.open(p).convert("RGB") for p in paths]
    banked = [hash_image(p)[0] for p in photos]
    ways: dict[str, tuple[Callable[[Image.Image, float], Image.Image], bool | None]] = {
        "expanded, black": (expanded(0, False), None),
        "expanded, white": (expanded(255, False), None),
        "expanded, grey": (expanded(128, False), None),
        "expanded, black, JPEG q75": (expanded(0, True), None),
        "expanded, white, JPEG q75": (expanded(255, True), None),
        "same canvas": (same_canvas, False),
        "straightened": (straightened, True),
    }
    rows: list[dict[str, Any]] = []
    for way, (make, inner) in ways.items():
        for angle in ANGLES:
            whole = matched = deskewed = oracle = 0
            errors: list[float] = []
            for photo, want in zip(photos, banked, strict=True):
                query = make(photo, angle)
                plain = pdq_distance(hash_image(query)[0], want) <= THRESHOLD
                found = region_hashes(query, most=8, min_side=64)
                whole += plain
                matched += plain or any(pdq_distance(r.pdq, want) <= THRESHOLD for r in found)
                turned = [r for r in found if r.kind == "deskewed"]
                deskewed += bool(turned)
                errors.extend(abs(r.angle - angle) for r in turned)
                if inner is not None:
                    back = turned_back(query, angle, photo, inner)
                    oracle += pdq_distance(hash_image(back)[0], want) <= THRESHOLD
            n = len(photos)
            rows.append(
                {
                    "way": way,
                    "angle": angle,
                    "whole": whole / n,
                    "matched": matched / n,
                    "deskewed": deskewed / n,
                    "angle_error_max": round(max(errors), 3) if errors else None,
                    "angle_error_median": round(statistics.median(errors), 3) if errors else None,
                    "true_angle": oracle / n if inner is not None else None,
                }
            )
            print(_line(rows[-1]), flush=True)
    return {"photos": len(photos), "threshold": THRESHOLD, "rows": rows}


def _line(row: dict[str, Any]) -> str:
    cells = [f"{row['way']:<26}", f"{row['angle']:+6.1f}"]
    cells += [f"{row[k]:.2f}" for k in ("whole", "matched", "deskewed")]
    cells.append(str(row["angle_error_max"]))
    cells.append("-" if row["true_angle"] is None else f"{row['true_angle']:.2f}")
    return " | ".join(cells)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--photos", type=int, default=40)
    args = parser.parse_args()
    print(
        "way | angle | whole <= 31 | whole or a region <= 31 | deskewed | angle error | true angle"
    )
    payload = run(args.photos)
    common.write_json("deskew", payload)


if __name__ == "__main__":
    main()
