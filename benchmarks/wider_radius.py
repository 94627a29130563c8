"""The wider net's radius (``pdq_verify_threshold``): what each radius finds, what it costs.

One run of `vangnet match`'s code (`hash_bytes` with dihedral variants, regions and the
pixels kept, then `Matcher.lookup_hashes`) at the widest radius asked, on a sample of the
robustness benchmark's data: the same seeded split and the same bank of 300 photos banked as
the full run banks them (`benchmarks.bench_robustness.MatcherSetup`, its wider-net bank),
``--photos`` banked photos in each of the 15 transforms, and as many photos left out of the
bank, each as it is, in each transform and upscaled to 12 MP (JPEG q90). Composites are
filled with other photos left out of the bank. Every wider-net candidate the matcher sends
to its checks is recorded: its PDQ distance, whether it came from a banked crop (those keep
``pdq_crop_threshold``, whatever the radius), whether local features confirmed it; and the
SIFT extractions each query made.

Per radius R and transform it prints:

* **found**: the share of queries whose banked photo is found at R: within the bank's
  threshold, or confirmed from a candidate at R or closer, or from a banked crop. A lower
  bound: a smaller radius leaves fewer candidates, so the checks reach the ones kept at
  least as early as at the widest radius;
* **boxes**: per query, the boxes (the whole picture, regions) holding a candidate at R or
  closer: each costs at most one SIFT extraction, and the queries left out of the bank show
  what unrelated candidates cost.

False positives are counted at the widest radius (a smaller one confirms a subset), and
the fewest inliers any banked photo was confirmed with (``match_verify_min_inliers`` asks
12): how much room the query's side (``VANGNET_MATCH_VERIFY_SIDE``) leaves.

    .venv/bin/python -m benchmarks.wider_radius [--photos 60] [--radii 90,92,94,96,98,100]

Not a timed test: it reads what the matcher did, not how long it took.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from PIL import Image

from benchmarks import common

RADII = (90, 92, 94, 96, 98, 100)


@dataclass(frozen=True)
class Candidate:
    item: int  # the banked item (content id; the banked photo in a `Query`)
    distance: int
    crop: bool
    box: Any  # the region's box, None for the whole picture
    confirmed: bool
    inliers: int | None = None  # of the item's confirmed candidate


@dataclass(frozen=True)
class Query:
    kind: str  # the transform, "d-" in front for a photo left out of the bank
    truth: int  # the banked photo shown, -1 for none
    found: tuple[int, ...]  # the banked photos matched
    within: bool  # the banked photo was matched within the bank's threshold
    candidates: tuple[Candidate, ...]
    extractions: int


def _recording_matcher(base: Any) -> Any:
    """A `Matcher` like ``base`` whose `_verified` also records the candidates it is given
    and which of them local features confirmed (in ``.seen``, reset by the caller)."""
    from vangnet.match.service import Matcher

    class Recording(Matcher):
        seen: list[Candidate]

        def _verified(self, session: Any, pictures: Any, candidates: Any) -> Any:
            out, left = super()._verified(session, pictures, candidates)
            confirmed = {(m.bank, m.content_id): m.inliers for _, m in out}
            for key, entries in candidates.items():
                for _, m in entries:
                    self.seen.append(
                        Candidate(
                            m.content_id,
                            m.distance,
                            m.crop is not None,
                            m.region,
                            key in confirmed,
                            confirmed.get(key),
                        )
                    )
            return out, left

    matcher = Recording(base.indexes, settings=base.settings)
    matcher.seen = []
    return matcher


def run(photos: int, radii: Sequence[int]) -> dict[str, Any]:
    os.environ["VANGNET_PDQ_VERIFY_THRESHOLD"] = str(max(radii))  # the bank's radius
    from sqlalchemy.orm import Session

    from benchmarks import bench_robustness as rb
    from benchmarks.transforms import TRANSFORMS, apply

    bank_paths, rest = rb.split(rb.photo_pool(), rb.BANK_SIZE)
    bank_imgs = [rb.load(p) for p in bank_paths]
    setup = rb.MatcherSetup.build([rb.file_bytes(img) for img in bank_imgs])
    matcher = _recording_matcher(setup.matcher)
    bank = rb.MatcherSetup.BANKS[rb.VERIFY_METHOD]
    others = rb.fillers(rest[photos:], [])
    queries: list[Query] = []

    def ask(kind: str, truth: int, data: bytes) -> None:
        matcher.seen = []
        hashed = rb.match_hashes(data, "q")
        with Session(setup.engine) as s:
            found = [m for m in matcher.lookup_hashes(s, hashed, banks=[bank]).matches]
        pdq = [m for m in found if m.signal_type == "pdq"]
        shown = tuple(setup.content_photo[(bank, m.content_id)] for m in pdq)
        within = any(
            setup.content_photo[(bank, m.content_id)] == truth and m.inliers is None for m in pdq
        )
        made = hashed.picture.extractions if hashed.picture is not None else 0
        seen = tuple(replace(c, item=setup.content_photo[(bank, c.item)]) for c in matcher.seen)
        queries.append(Query(kind, truth, shown, within, seen, made))

    try:
        for i, img in enumerate(bank_imgs[:photos]):
            for name in TRANSFORMS:
                ask(name, i, rb.file_bytes(apply(name, img, seed=f"query:{i}", others=others)))
            rb._progress("banked photos", i + 1, photos)
        for k, path in enumerate(rest[:photos]):
            img = rb.load(path)
            ask("d-original", -1, rb.file_bytes(img))
            for name in TRANSFORMS:
                pic = apply(name, img, seed=f"distractor:{k}", others=others)
                ask(f"d-{name}", -1, rb.file_bytes(pic))
            buf = io.BytesIO()
            img.resize((4240, 2832), Image.Resampling.BICUBIC).save(buf, "JPEG", quality=90)
            ask("d-upscaled 12 MP", -1, buf.getvalue())
            rb._progress("photos left out", k + 1, photos)
    finally:
        setup.close()
    return summarise(queries, radii)


def summarise(queries: Sequence[Query], radii: Sequence[int]) -> dict[str, Any]:
    """Per kind of query: found (banked photos) and boxes per query at each radius, the
    extractions made at the widest; false positives at the widest."""
    kinds: dict[str, list[Query]] = {}
    for q in queries:
        kinds.setdefault(q.kind, []).append(q)
    rows: dict[str, Any] = {}
    for kind, qs in kinds.items():
        row: dict[str, Any] = {"queries": len(qs)}
        for r in radii:
            kept = [[c for c in q.candidates if c.crop or c.distance <= r] for q in qs]
            row[f"boxes@{r}"] = sum(len({c.box for c in k}) for k in kept) / len(qs)
            if qs[0].truth >= 0:
                hits = sum(
                    q.within or any(c.confirmed and c.item == q.truth for c in k)
                    for q, k in zip(qs, kept, strict=True)
                )
                row[f"found@{r}"] = hits / len(qs)
        row["extractions"] = sum(q.extractions for q in qs) / len(qs)
        rows[kind] = row
    wrong = sum(any(f != q.truth for f in q.found) for q in queries)
    inliers = [
        c.inliers
        for q in queries
        for c in q.candidates
        if c.confirmed and c.item == q.truth and c.inliers is not None
    ]
    return {
        "radii": list(radii),
        "kinds": rows,
        "false_positives_at_widest": wrong,
        "fewest_inliers": min(inliers, default=None),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="the wider net's radius: found and cost")
    ap.add_argument("--photos", type=int, default=60)
    ap.add_argument("--radii", default=",".join(map(str, RADII)))
    args = ap.parse_args(argv)
    radii = sorted(int(r) for r in args.radii.split(","))
    out = run(args.photos, radii)
    columns = ["queries", *(f"{w}@{r}" for r in radii for w in ("found", "boxes"))]
    columns.append("extractions")
    rows = [
        [
            kind,
            *(f"{row[c]:.2f}" if isinstance(row.get(c), float) else row.get(c) for c in columns),
        ]
        for kind, row in out["kinds"].items()
    ]
    common.print_table(
        f"the wider net by radius (false positives at {radii[-1]}: "
        f"{out['false_positives_at_widest']}; fewest inliers of a banked photo confirmed: "
        f"{out['fewest_inliers']})",
        ["query", *columns],
        rows,
    )
    common.write_json("wider_radius", {"photos": args.photos, **out})
    return 0


if __name__ == "__main__":
    sys.exit(main())
