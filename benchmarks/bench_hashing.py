"""Hashing benchmark: photos per second, Vangnet against python-threatexchange and perception.

Data sets (benign, read in place from shared/data):

* ``12mp-exif``: the 12 MP phone photo stored with 4 EXIF orientations
  (``threatexchange/pdq/data/reg-test-input/exif-rotn/*.jpg``),
* ``bsds500``: the 500 Berkeley Segmentation Dataset photos (481x321).

Implementations, same files, same run, repeats interleaved so load changes hit all alike:

* ``vangnet hash_file``: ``vangnet.signals.hashing.hash_file`` (PDQ + quality + MD5/SHA-1/SHA-256),
* ``vangnet pdq``: the PDQ-only fast path (``vangnet.media.image.decode_image`` with its
  reduced-size JPEG decode, then ``vangnet.signals.pdq.hash_image``),
* ``threatexchange``: ``PdqSignal.hash_from_file`` (PIL full decode + pdqhash),
* ``perception``: ``perception.hashers.PDQHash().compute`` (OpenCV decode + pdqhash).

Also the PDQ distance between Vangnet's hash and each peer's for the same file (max/mean). Note
that the peers differ in EXIF handling: threatexchange hashes the stored pixels, perception's
OpenCV decode applies the EXIF orientation, so on the rotated 12 MP copies a large distance to one
of them says which convention Vangnet follows, not that a hash is wrong.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks import common, peers
from vangnet.config import get_settings

Hasher = Callable[[Path], str]


def datasets(max_photos: int | None = None) -> dict[str, list[Path]]:
    root = common.DATA_DIR
    sets = {
        "12mp-exif": sorted(
            (root / "threatexchange/pdq/data/reg-test-input/exif-rotn").glob("*.jpg")
        ),
        "bsds500": sorted((root / "photos/bsds500").rglob("*.jpg")),
    }
    if max_photos is not None:
        sets = {k: v[:max_photos] for k, v in sets.items()}
    return {k: v for k, v in sets.items() if v}


def _hex_of(value: Any) -> str:
    """PDQ hex from whatever the fast path returns (str, (hex, quality), dict or object)."""
    if isinstance(value, str):
        return value
    if isinstance(value, tuple | list) and value and isinstance(value[0], str):
        return value[0]
    if isinstance(value, dict):
        return str(value.get("pdq") or value.get("hash") or "")
    for attr in ("pdq", "hash", "hex", "value"):
        got = getattr(value, attr, None)
        if isinstance(got, str):
            return got
    raise TypeError(f"cannot read a PDQ hex from {type(value).__name__}")


def vangnet_hash_file() -> tuple[Hasher | None, str | None]:
    try:
        from vangnet.signals.hashing import hash_file
    except Exception as exc:
        return None, f"{common.NOT_AVAILABLE} ({type(exc).__name__})"

    def run(path: Path) -> str:
        return hash_file(path, settings=get_settings()).value("pdq") or ""

    return run, None


def vangnet_pdq_only() -> tuple[Hasher | None, str | None]:
    """PDQ only: the fast (JPEG draft-mode) decode then ``hash_image``; no file digests."""
    try:
        from vangnet.media.image import decode_image
        from vangnet.signals.pdq import hash_image
    except Exception as exc:
        return None, f"{common.NOT_AVAILABLE} ({type(exc).__name__}: {exc})"

    def run(path: Path) -> str:
        return _hex_of(hash_image(decode_image(path.read_bytes())[0]))

    return run, None


def implementations(with_peers: bool) -> dict[str, tuple[Hasher | None, str | None]]:
    impls = {
        "vangnet hash_file": vangnet_hash_file(),
        "vangnet pdq": vangnet_pdq_only(),
    }
    if not with_peers:
        impls["threatexchange"] = (None, "skipped (--no-peers)")
        impls["perception"] = (None, "skipped (--no-peers)")
        return impls
    st = peers.threatexchange_status()
    impls["threatexchange"] = (peers.threatexchange_hasher(), None) if st is None else (None, st)
    sp = peers.perception_status()
    impls["perception"] = (peers.perception_hasher(), None) if sp is None else (None, sp)
    return impls


def pdq_distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def bench_dataset(
    files: list[Path], impls: dict[str, tuple[Hasher | None, str | None]], repeats: int
) -> dict[str, Any]:
    rows: dict[str, dict[str, Any]] = {}
    live: dict[str, Hasher] = {}
    hashes: dict[str, list[str]] = {}
    for name, (fn, status) in impls.items():
        if fn is None:
            rows[name] = {"impl": name, "status": status}
            continue
        try:
            hashes[name] = [fn(p) for p in files]  # warm-up pass, also the hashes compared
        except Exception as exc:
            rows[name] = {"impl": name, "status": f"error: {type(exc).__name__}: {exc}"}
            continue
        live[name] = fn
        rows[name] = {"impl": name, "status": "ok", "times_s": []}

    for _ in range(repeats):
        for name, fn in live.items():
            t0 = common.now()
            for p in files:
                fn(p)
            rows[name]["times_s"].append(common.now() - t0)

    for name in live:
        # Best pass: the machine is shared (2 cores), and the fastest pass is the one least
        # disturbed by other work; the median pass is kept too.
        t = min(rows[name]["times_s"])
        rows[name]["seconds_per_pass"] = t
        rows[name]["photos_per_s"] = len(files) / t
        rows[name]["ms_per_photo"] = 1000 * t / len(files)
        rows[name]["photos_per_s_median_pass"] = len(files) / common.median(rows[name]["times_s"])

    speedups: dict[str, float] = {}
    for v in ("vangnet hash_file", "vangnet pdq"):
        for p in ("threatexchange", "perception"):
            if v in live and p in live:
                speedups[f"{v} vs {p}"] = rows[v]["photos_per_s"] / rows[p]["photos_per_s"]

    agreement: dict[str, Any] = {}
    ref_name = "vangnet hash_file" if "vangnet hash_file" in hashes else "vangnet pdq"
    ref = hashes.get(ref_name)
    for other in ("vangnet pdq", "threatexchange", "perception"):
        if ref is None or other not in hashes or other == ref_name:
            continue
        theirs = list(hashes[other])
        declined = 0
        if other == "threatexchange":  # PdqSignal returns "" under quality 50: hash anyway
            for i, h in enumerate(theirs):
                if not h:
                    declined += 1
                    theirs[i] = peers.threatexchange_raw_pdq(files[i])[0]
        dists = [pdq_distance(a, b) for a, b in zip(ref, theirs, strict=True) if a and b]
        agreement[f"{ref_name} vs {other}"] = {
            "max": max(dists) if dists else None,
            "mean": sum(dists) / len(dists) if dists else None,
            "compared": len(dists),
            "peer_declined_low_quality": declined,
            "per_file": (
                {p.name: d for p, d in zip(files, dists, strict=False)} if len(files) <= 8 else None
            ),
        }
    return {
        "files": len(files),
        "repeats": repeats,
        "rows": list(rows.values()),
        "speedups": speedups,
        "agreement": agreement,
    }


def _megapixels(path: Path) -> float | None:
    try:
        from PIL import Image

        with Image.open(path) as im:
            return round(im.width * im.height / 1e6, 2)
    except Exception:
        return None


def run(
    *, quick: bool = False, with_peers: bool = True, max_photos: int | None = None
) -> dict[str, Any]:
    impls = implementations(with_peers)
    cap = max_photos if max_photos is not None else (50 if quick else None)
    payload: dict[str, Any] = {"benchmark": "hashing", "datasets": {}}
    for name, files in datasets(cap).items():
        repeats = 1 if quick or max_photos is not None else (5 if name == "12mp-exif" else 3)
        print(f"[hashing] {name}: {len(files)} photos x {repeats} ...", file=sys.stderr, flush=True)
        entry = bench_dataset(files, impls, repeats)
        entry["megapixels"] = _megapixels(files[0])
        payload["datasets"][name] = entry
    return payload


TABLE_COLUMNS = [
    "data set / impl",
    "status",
    "photos/s",
    "ms/photo",
    "speedup vs TE",
    "dist to vangnet max/mean",
]


def table_rows(payload: dict[str, Any]) -> list[list[Any]]:
    out: list[list[Any]] = []
    for ds, entry in payload["datasets"].items():
        rows = {r["impl"]: r for r in entry["rows"]}
        te = rows.get("threatexchange", {}).get("photos_per_s")
        for name, row in rows.items():
            ok = row.get("status") == "ok"
            speed = (
                f"{row['photos_per_s'] / te:.1f}x" if ok and te and row.get("photos_per_s") else "-"
            )
            dist = "-"
            for key, agr in entry["agreement"].items():
                if key.endswith(f" vs {name}") and agr.get("max") is not None:
                    dist = f"{agr['max']} / {agr['mean']:.1f}"
            out.append(
                [
                    f"{ds} ({entry['files']}) {name}",
                    "ok" if ok else row.get("status"),
                    row.get("photos_per_s"),
                    row.get("ms_per_photo"),
                    speed,
                    dist,
                ]
            )
    return out
