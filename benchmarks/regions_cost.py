"""Cost of region-aware matching (issue 12): a photo matched with and without its regions.

What ``vangnet match PHOTO`` does per photo, in-process and without start-up: `hash_bytes`
(decode, exact digests, PDQ with its 8 dihedral variants) and `Matcher.lookup_hashes` over a
SQLite bank of 20 BSDS500 photos (dihedral on), once with ``regions=False`` (whole-picture
matching, what `vangnet match` did before regions) and once with ``regions=True``. CPU time
(``time.process_time``) per query, the median of ``--repeats`` runs, the two interleaved so
load changes hit both alike. Sets (benign, read in place from ``../shared/data``):

* ``bsds500``: 50 BSDS500 validation photos (481x321 / 321x481), the stored JPEG bytes;
* ``composites``: 50 composites of those photos made with `benchmarks.transforms` (padding,
  letterbox, picture-in-picture, player window, video-call grid; 10 each), JPEG q92 in memory;
* ``12mp``: the 12 MP phone photo ``exif-rotn-1.jpg`` and ``exif-rotn-6.jpg``;
* ``rotated``: the first 20 of those photos rotated by 4 degrees, corners black (the
  robustness bench's ``rotate_4``), JPEG q92 in memory: the photos that get a ``deskewed``
  region (`vangnet.media.regions.deskew`).

Per set: the median and total of both costs and their ratio (the issue's target: at most 3x).
``--profile`` also prints a cProfile of the regions part (`region_hashes`) over the small sets.

    .venv/bin/python -m benchmarks.regions_cost [--repeats 5] [--profile]

``--wider 0,100000,1000000`` measures the wider net's cost beside hash-only banks instead
(`wider_cost`): a bank of `BANKED` BSDS500 test photos banked from their pixels (local
features kept, verify_threshold 100) beside a hash-only bank of that many random PDQs
(imported as records); per photo ``lookup_hashes`` of its hashes (dihedral, regions, as
``vangnet match`` hashes it) with its pixels (the wider net on) and without them (off), CPU
ms per lookup (hashing not included: the median hashing cost is printed beside it). Queries:
`WIDER_QUERIES` BSDS500 validation photos, as many composites of them (as ``composites``
above: regions) and as many banked photos with 25 % cut away (found by the wider net).

    .venv/bin/python -m benchmarks.regions_cost --wider 0,100000,1000000 [--repeats 3]

Not a timed test: the figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from PIL import Image

from benchmarks import common, transforms

BANKED = 20
PHOTOS = 50
COMPOSITES = ("pad_20", "letterbox_16_9", "pip", "player", "video_call")
ROTATED = 20
BANK = "REGIONS_COST"


def _jpeg(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def datasets() -> dict[str, list[bytes]]:
    bsds = common.DATA_DIR / "photos" / "bsds500"
    photos = sorted((bsds / "val").glob("*.jpg"))[:PHOTOS]
    pictures = [Image.open(p).convert("RGB") for p in photos]
    composites: list[bytes] = []
    for i, img in enumerate(pictures):
        name = COMPOSITES[i % len(COMPOSITES)]
        others = [pictures[(i + k) % len(pictures)] for k in (1, 2, 3, 4, 5)]
        composites.append(_jpeg(transforms.apply(name, img, seed=i, others=others)))
    exif = common.DATA_DIR / "threatexchange/pdq/data/reg-test-input/exif-rotn"
    return {
        "bsds500": [p.read_bytes() for p in photos],
        "composites": composites,
        "12mp": [(exif / f"exif-rotn-{n}.jpg").read_bytes() for n in (1, 6)],
        "rotated": [
            _jpeg(transforms.apply("rotate_4", img, seed=i))
            for i, img in enumerate(pictures[:ROTATED])
        ],
    }


class Setup:
    """A SQLite bank of `BANKED` BSDS500 test photos (PDQ, dihedral) and its Matcher."""

    def __init__(self) -> None:
        from sqlalchemy.orm import Session

        from vangnet.banks.bank import create_bank
        from vangnet.banks.contents import add_content
        from vangnet.config import get_settings
        from vangnet.match.indexes import SignalIndexes
        from vangnet.match.service import Matcher
        from vangnet.signals.hashing import hash_bytes, signal_values
        from vangnet.store.db import make_engine
        from vangnet.store.migrate import ensure_schema

        self.settings = get_settings()
        self.folder = Path(tempfile.mkdtemp(prefix="vangnet-regions-cost-"))
        self.engine = make_engine(f"sqlite:///{self.folder / 'cost.db'}", home=self.folder)
        ensure_schema(self.engine)
        banked = sorted((common.DATA_DIR / "photos/bsds500/test").glob("*.jpg"))[:BANKED]
        with Session(self.engine) as s:
            create_bank(
                s, name=BANK, thresholds={"pdq": {"dihedral": True}}, settings=self.settings
            )
            for path in banked:
                hashed = hash_bytes(path.read_bytes(), settings=self.settings)
                add_content(s, bank=BANK, signals=signal_values(hashed))
            s.commit()
        indexes = SignalIndexes(self.engine, snapshot_dir=None)
        indexes.load()
        self.matcher = Matcher(indexes, settings=self.settings)

    def match(self, data: bytes, regions: bool) -> None:
        from sqlalchemy.orm import Session

        from vangnet.signals.hashing import hash_bytes

        hashed = hash_bytes(data, settings=self.settings, dihedral=True, regions=regions)
        with Session(self.engine) as s:
            self.matcher.lookup_hashes(s, hashed, banks=[BANK])

    def close(self) -> None:
        self.engine.dispose()
        shutil.rmtree(self.folder, ignore_errors=True)


WIDER_QUERIES = 10
WIDER_MEDIA = "WIDER_MEDIA"
WIDER_HASHES = "WIDER_HASHES"


class WiderSetup:
    """A SQLite database with a bank banked from pixels (features) and a hash-only bank that
    grows (`grow`), and a Matcher whose indexes follow it."""

    def __init__(self) -> None:
        from sqlalchemy.orm import Session

        from vangnet.banks.bank import create_bank
        from vangnet.banks.contents import add_content
        from vangnet.banks.features import FeatureSeal
        from vangnet.config import get_settings
        from vangnet.match.indexes import SignalIndexes
        from vangnet.match.service import Matcher
        from vangnet.signals.hashing import hash_bytes, signal_values
        from vangnet.store.db import make_engine
        from vangnet.store.migrate import ensure_schema

        self.settings = get_settings()
        self.folder = Path(tempfile.mkdtemp(prefix="vangnet-wider-cost-"))
        self.engine = make_engine(f"sqlite:///{self.folder / 'wider.db'}", home=self.folder)
        ensure_schema(self.engine)
        self.banked = sorted((common.DATA_DIR / "photos/bsds500/test").glob("*.jpg"))[:BANKED]
        seal = FeatureSeal.from_settings(self.settings)
        with Session(self.engine) as s:
            create_bank(
                s,
                name=WIDER_MEDIA,
                thresholds={"pdq": {"dihedral": True, "verify_threshold": 100}},
                settings=self.settings,
            )
            create_bank(s, name=WIDER_HASHES, settings=self.settings)
            for path in self.banked:
                hashed = hash_bytes(
                    path.read_bytes(), settings=self.settings, for_bank=True, features=True
                )
                add_content(
                    s,
                    bank=WIDER_MEDIA,
                    signals=signal_values(hashed),
                    features=hashed.kept_features(),
                    seal=seal,
                )
            s.commit()
        self.size = 0
        self.indexes = SignalIndexes(self.engine, snapshot_dir=None)
        self.indexes.load()
        self.matcher = Matcher(self.indexes, settings=self.settings)

    def grow(self, size: int, seed: int = 20261207) -> None:
        """The hash-only bank to ``size`` random PDQs (imported as records), indexes caught up."""
        import numpy as np
        from sqlalchemy.orm import Session

        from vangnet.banks.formats.base import BankRecord
        from vangnet.banks.records import import_records

        more = size - self.size
        if more <= 0:
            return
        rng = np.random.default_rng(seed + self.size)
        blob = rng.integers(0, 256, size=(more, 32), dtype=np.uint8).tobytes().hex()
        records = (BankRecord("pdq", blob[i : i + 64]) for i in range(0, len(blob), 64))
        with Session(self.engine) as s:
            import_records(s, bank=WIDER_HASHES, records=records)
            s.commit()
        self.indexes.refresh()
        self.size = size

    def queries(self) -> list[Any]:
        """The query photos hashed as `vangnet match` hashes them (pixels kept)."""
        from vangnet.signals.hashing import hash_bytes

        val = sorted((common.DATA_DIR / "photos/bsds500/val").glob("*.jpg"))[:WIDER_QUERIES]
        blobs = [p.read_bytes() for p in val]
        pictures = [Image.open(p).convert("RGB") for p in val]
        for i, img in enumerate(pictures):  # regions: up to 72 lookups a photo
            name = COMPOSITES[i % len(COMPOSITES)]
            others = [pictures[(i + k) % len(pictures)] for k in (1, 2, 3, 4, 5)]
            blobs.append(_jpeg(transforms.apply(name, img, seed=i, others=others)))
        for path in self.banked[:WIDER_QUERIES]:
            photo = Image.open(path).convert("RGB")
            cut_w, cut_h = round(photo.width * 0.25), round(photo.height * 0.25)
            box = (cut_w // 2, cut_h // 2, photo.width - cut_w // 2, photo.height - cut_h // 2)
            blobs.append(_jpeg(photo.crop(box)))
        return [
            hash_bytes(
                d,
                settings=self.settings,
                dihedral=True,
                regions=self.settings.match_regions,
                verify=True,
            )
            for d in blobs
        ]

    def lookup(self, hashed: Any) -> Any:
        from sqlalchemy.orm import Session

        with Session(self.engine) as s:
            return self.matcher.lookup_hashes(s, hashed)

    def close(self) -> None:
        self.engine.dispose()
        shutil.rmtree(self.folder, ignore_errors=True)


def wider_cost(sizes: list[int], repeats: int) -> dict[str, Any]:
    """Per hash-only bank size: median CPU ms per photo lookup with and without the wider
    net, and how many photos matched with it (the crops: by their features)."""
    from dataclasses import replace

    setup = WiderSetup()
    try:
        t0 = time.process_time()
        queries = setup.queries()
        hash_ms = (time.process_time() - t0) * 1000 / len(queries)
        out: dict[str, Any] = {"hash_ms_per_photo": hash_ms, "sizes": {}}
        for size in sorted(sizes):
            setup.grow(size)
            on: list[float] = []
            off: list[float] = []
            matched = 0
            answers: list[Any] = []  # per photo: its matches with and without the wider net
            for hashed in queries:
                bare = replace(hashed, picture=None)
                setup.lookup(hashed)  # warm up
                a: list[float] = []
                b: list[float] = []
                for _ in range(repeats):
                    a.append(_cpu_ms(partial(setup.lookup, hashed)))
                    b.append(_cpu_ms(partial(setup.lookup, bare)))
                on.append(statistics.median(a))
                off.append(statistics.median(b))
                found = setup.lookup(hashed).matches
                matched += any(m.bank == WIDER_MEDIA for m in found)
                answers.append(
                    [
                        sorted((m.bank, m.content_id, m.distance, m.inliers) for m in found),
                        sorted(
                            (m.bank, m.content_id, m.distance) for m in setup.lookup(bare).matches
                        ),
                    ]
                )
            per_photo = [(1 + len(h.regions)) * max(1, len(h.dihedral)) for h in queries]
            out["sizes"][str(size)] = {
                "queries": len(queries),
                "lookups_per_photo": statistics.median(per_photo),
                "lookups_per_photo_max": max(per_photo),
                "answers": answers,
                "median_ms_wider": statistics.median(on),
                "median_ms_without": statistics.median(off),
                "max_ms_wider": max(on),
                "max_ms_without": max(off),
                "matched_wider": matched,
            }
    finally:
        setup.close()
    return out


def _cpu_ms(fn: Callable[[], Any]) -> float:
    start = time.process_time()
    fn()
    return (time.process_time() - start) * 1000


def measure(setup: Setup, blobs: list[bytes], repeats: int) -> dict[str, float]:
    """Per query, the median CPU ms of ``repeats`` runs without and with regions."""
    without: list[float] = []
    with_: list[float] = []
    for data in blobs:
        setup.match(data, True)  # warm caches (imports, index) before timing
        a: list[float] = []
        b: list[float] = []
        for _ in range(repeats):
            a.append(_cpu_ms(partial(setup.match, data, False)))
            b.append(_cpu_ms(partial(setup.match, data, True)))
        without.append(statistics.median(a))
        with_.append(statistics.median(b))
    return {
        "queries": len(blobs),
        "median_ms_without": statistics.median(without),
        "median_ms_with": statistics.median(with_),
        "total_ms_without": sum(without),
        "total_ms_with": sum(with_),
        "ratio": sum(with_) / sum(without),
    }


def profile(blobs: list[bytes], sort: str = "cumulative") -> str:
    """cProfile of `region_hashes` over ``blobs`` (decoded as `hash_bytes` does)."""
    from vangnet.config import get_settings
    from vangnet.media.image import decode_image, upright_size
    from vangnet.signals.regions import region_hashes

    settings = get_settings()
    decoded = [(decode_image(d)[0], upright_size(d)) for d in blobs]
    prof = cProfile.Profile()
    prof.enable()
    for picture, size in decoded:
        region_hashes(
            picture,
            most=settings.match_regions_max,
            min_side=settings.match_region_min_side,
            dihedral=True,
            size=size,
        )
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats(sort).print_stats(30)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--repeats", type=int, default=5, help="runs per query (median)")
    ap.add_argument("--profile", action="store_true", help="cProfile region_hashes")
    ap.add_argument(
        "--wider",
        default=None,
        help="instead: the wider net's cost beside hash-only banks of these sizes (0,100000)",
    )
    args = ap.parse_args(argv)
    if args.wider is not None:
        sizes = [int(x) for x in args.wider.split(",") if x.strip()]
        found = wider_cost(sizes, args.repeats)
        common.print_table(
            "wider net cost: lookup_hashes of a photo (dihedral, regions) beside a hash-only "
            f"bank, CPU ms (hashing {found['hash_ms_per_photo']:.0f} ms a photo, not included)",
            [
                "hash-only PDQs",
                "n",
                "median with",
                "median without",
                "max with",
                "max without",
                "matched with",
                "PDQs a photo",
            ],
            [
                [
                    size,
                    r["queries"],
                    r["median_ms_wider"],
                    r["median_ms_without"],
                    r["max_ms_wider"],
                    r["max_ms_without"],
                    r["matched_wider"],
                    f"{r['lookups_per_photo']:.0f}-{r['lookups_per_photo_max']}",
                ]
                for size, r in found["sizes"].items()
            ],
        )
        common.write_json("regions_cost_wider", {"repeats": args.repeats, **found})
        return 0
    sets = datasets()
    setup = Setup()
    try:
        rows: list[list[Any]] = []
        results: dict[str, Any] = {}
        for name, blobs in sets.items():
            r = measure(setup, blobs, args.repeats)
            results[name] = r
            rows.append(
                [
                    name,
                    r["queries"],
                    r["median_ms_without"],
                    r["median_ms_with"],
                    r["total_ms_without"],
                    r["total_ms_with"],
                    f"{r['ratio']:.2f}x",
                ]
            )
    finally:
        setup.close()
    common.print_table(
        "regions cost: hash_bytes(dihedral) + lookup_hashes, CPU ms per query",
        ["set", "n", "median without", "median with", "total without", "total with", "ratio"],
        rows,
    )
    common.write_json("regions_cost", {"repeats": args.repeats, "sets": results})
    if args.profile:
        print(profile(sets["bsds500"] + sets["composites"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
