"""Robustness benchmark (issue 12, point 5): recall at 99.9 % precision per transform.

Data (generated in memory from ``../shared/data``; no picture is written anywhere):

* **bank**: 300 photos (``--quick``: 30) drawn with a fixed seed from the 516 BSDS500 and
  public-domain photos, held out: no other picture of the run shows them;
* **queries**: the 15 transforms of `benchmarks.transforms` of each bank photo (composites show
  distractor photos and video frames beside it, never another bank photo);
* **distractors**: every other photo of ``../shared/data`` (the rest of BSDS500 and public-domain,
  the ThreatExchange PDQ test photos) and frames of the 14 sample videos (decoded in memory by
  Vangnet's own decoder at `VIDEO_FPS`), each as it is and with the same 15 transforms: more
  than 10,000 pictures (``--quick``: about 600).

Methods, all over the same pictures in the same run:

* ``pdq``: plain PDQ of the whole picture (``vangnet.signals.pdq.hash_image``),
* ``vangnet match``: the code path of ``vangnet match`` (``hash_bytes(..., dihedral=True,
  regions=settings.match_regions)`` of the picture as a lossless BMP: the whole picture and
  the regions that may hold another picture, on by default as in the CLI), then
  ``Matcher.lookup_hashes`` over the indexes of a SQLite database holding the bank, against a
  bank with the default rules (quality floor 50) and ``--dihedral`` off, and against the same
  photos in a ``--dihedral`` bank. The banks' threshold is the search radius `SEARCH_RADIUS` so
  that distances up to it are seen; at 31 (the default threshold) the answers are exactly
  those of ``vangnet match`` today,
* perception's hashers (PHash, PHashU8, DHash, MarrHildreth, ColorMoment, BlockMean, PDQHash)
  when the bench environment has them; a hasher that is missing says so in its row.

Score: per method, each query's nearest bank picture (its distance; right or wrong photo) and
each distractor's nearest distance. One threshold per method (not per transform): the one with
the most true positives whose precision over all queries and distractors is at least 99.9 %
(a query whose nearest bank picture is another photo, or a distractor within the threshold, is
a false positive). Reported: recall per transform at it, the threshold, the false positives at
it, and for the PDQ-based methods also false positives and recall at PDQ's standard 31.

Cost: milliseconds per query for each method on the 12 MP phone photo
(``exif-rotn-1.jpg``), on a bank photo upscaled to 12 MP (JPEG in memory) and on a 720p live
sample (an RGB frame already decoded, as the live monitor holds it).
"""

from __future__ import annotations

import io
import random
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt
from PIL import Image

from benchmarks import common, peers
from benchmarks.transforms import COMPOSITES, TRANSFORMS, apply

SEED = 12
BANK_SIZE = 300
QUICK_BANK_SIZE = 20
QUICK_DISTRACTOR_PHOTOS = 20
QUICK_VIDEOS = 1
VIDEO_FPS = 2.5
QUICK_VIDEO_FPS = 0.5
TARGET_PRECISION = 0.999
PDQ_STANDARD = 31
SEARCH_RADIUS = 96  # the matcher banks' threshold: distances up to this are seen
FILLER_POOL = 120  # distractor pictures kept in memory to fill composites
COST_PHOTOS = 10  # photos upscaled to 12 MP for the cost rows (the median is shown)
QUICK_COST_PHOTOS = 2
PERCEPTION_HASHERS = (
    "PHash",
    "PHashU8",
    "DHash",
    "MarrHildreth",
    "ColorMoment",
    "BlockMean",
    "PDQHash",
)
#: The kinds of PDQ lookup `vangnet match` makes, each scored on its own (`MatcherSetup._kinds`)
#: for its own operating point (`operating_points`; `--calibrate`).
KINDS = {
    "whole": "pdq kind: whole picture",
    "variant": "pdq kind: dihedral variant",
    "region": "pdq kind: region",
}
BIT_METHODS = (
    "pdq",
    "vangnet match",
    "vangnet match --dihedral",
    "perception PDQHash",
    *KINDS.values(),
)
VERIFY_METHOD = "vangnet match + verify"
#: The cost baseline issue 12 names, "today's `vangnet match`" when it was filed: the exact
#: digests and the whole picture's PDQ, looked up (no regions, no variants, no wider net).
BASELINE_METHOD = "vangnet match as filed"

Vector = npt.NDArray[Any]


# --------------------------------------------------------------------------------------------
# Data


def photo_pool() -> list[Path]:
    root = common.DATA_DIR / "photos"
    return sorted((root / "bsds500").rglob("*.jpg")) + sorted(
        p for p in (root / "public-domain").iterdir() if p.suffix in (".jpg", ".png")
    )


def threatexchange_photos() -> list[Path]:
    root = common.DATA_DIR / "threatexchange/pdq/data"
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))


def sample_videos() -> list[Path]:
    return sorted((common.DATA_DIR / "threatexchange/video/sample-videos").glob("*.mp4"))


def split(pool: Sequence[Path], bank_size: int, seed: int = SEED) -> tuple[list[Path], list[Path]]:
    """A seeded choice of ``bank_size`` photos (the bank) and the rest (distractors)."""
    order = list(pool)
    random.Random(seed).shuffle(order)
    return sorted(order[:bank_size]), sorted(order[bank_size:])


def load(path: Path) -> Image.Image:
    """A photo decoded by Vangnet's decoder (full size, EXIF orientation applied), RGB."""
    from vangnet.media.image import decode_image

    return decode_image(path.read_bytes(), fast=False)[0].convert("RGB")


def video_frames(path: Path, fps: float) -> Iterator[Image.Image]:
    """Frames of a video sampled at ``fps``, decoded in memory by Vangnet's decoder."""
    from vangnet.media.video import iter_video_frames

    for frame in iter_video_frames(path.read_bytes(), fps=fps):
        yield Image.fromarray(frame.rgb)


def file_bytes(img: Image.Image) -> bytes:
    """The picture as a file would hold it, losslessly: an uncompressed BMP (PNG encoding
    costs more than the matching measured)."""
    buf = io.BytesIO()
    img.save(buf, format="BMP")
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# Methods


class Method(ABC):
    """A hasher whose nearest bank distance is computed over stored vectors."""

    name: str
    metric: str  # "hamming" (packed bits), "euclidean" or "cosine"

    @abstractmethod
    def vector(self, img: Image.Image) -> Vector:
        """The picture's hash as a vector of the method's `metric`."""


class PdqMethod(Method):
    name = "pdq"
    metric = "hamming"

    def __init__(self) -> None:
        from vangnet.signals.pdq import hash_image

        self._hash = hash_image

    def vector(self, img: Image.Image) -> Vector:
        return np.frombuffer(bytes.fromhex(self._hash(img)[0]), dtype=np.uint8)


class PerceptionMethod(Method):
    def __init__(self, hasher_name: str) -> None:
        import perception.hashers as ph

        self.hasher = getattr(ph, hasher_name)()
        self.name = f"perception {hasher_name}"
        self.metric = str(self.hasher.distance_metric)
        if self.metric not in ("hamming", "euclidean", "cosine"):
            raise ValueError(f"distance metric {self.metric!r} not handled")

    def vector(self, img: Image.Image) -> Vector:
        vec = np.asarray(self.hasher.compute(np.asarray(img), hash_format="vector"))
        if self.metric == "hamming":
            return np.packbits(vec.astype(bool).reshape(-1))
        return vec.astype(np.float32).reshape(-1)


def perception_methods(with_peers: bool) -> tuple[list[Method], dict[str, str]]:
    """perception's hashers that are installed, and a status for each that is not."""
    skipped: dict[str, str] = {}
    methods: list[Method] = []
    status = "skipped (--no-peers)" if not with_peers else peers.perception_status()
    for name in PERCEPTION_HASHERS:
        if status is not None:
            skipped[f"perception {name}"] = status
            continue
        try:
            methods.append(PerceptionMethod(name))
        except Exception as exc:
            skipped[f"perception {name}"] = f"{common.NOT_INSTALLED} ({type(exc).__name__}: {exc})"
    return methods, skipped


_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint16)


def nearest_of(rows: Sequence[Vector | None], bank: Vector, metric: str) -> tuple[Vector, Vector]:
    """`nearest` of the rows a method could hash; the others: no bank photo (-1), infinity."""
    best_i = np.full(len(rows), -1, dtype=np.int64)
    best_d = np.full(len(rows), np.inf, dtype=np.float64)
    have = [k for k, r in enumerate(rows) if r is not None]
    hashed = [r for r in rows if r is not None]
    if hashed:
        i, d = nearest(np.stack(hashed), bank, metric)
        best_i[have], best_d[have] = i, d
    return best_i, best_d


def nearest(queries: Vector, bank: Vector, metric: str) -> tuple[Vector, Vector]:
    """For each query row: the index of its nearest bank row and the distance to it."""
    best_i = np.empty(len(queries), dtype=np.int64)
    best_d = np.empty(len(queries), dtype=np.float64)
    step = 512
    for start in range(0, len(queries), step):
        q = queries[start : start + step]
        if metric == "hamming":
            d = _POPCOUNT[np.bitwise_xor(q[:, None, :], bank[None, :, :])].sum(axis=2)
        elif metric == "euclidean":
            d = np.sqrt(((q[:, None, :] - bank[None, :, :]) ** 2).sum(axis=2))
        else:
            qn = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-12)
            bn = bank / np.maximum(np.linalg.norm(bank, axis=1, keepdims=True), 1e-12)
            d = 1.0 - qn @ bn.T
        i = np.argmin(d, axis=1)
        best_i[start : start + step] = i
        best_d[start : start + step] = d[np.arange(len(q)), i]
    return best_i, best_d


def match_hashes(data: bytes, name: str = "query.bmp") -> Any:
    """``data`` hashed as ``vangnet match`` hashes a file: dihedral variants, regions (as
    the settings say) and the decoded picture kept for the wider net's checks."""
    from vangnet.config import get_settings
    from vangnet.signals.hashing import hash_bytes

    settings = get_settings()
    return hash_bytes(
        data,
        settings=settings,
        path=name,
        dihedral=True,
        regions=settings.match_regions,
        verify=True,
    )


@dataclass
class MatcherSetup:
    """A SQLite database with the bank in two banks (dihedral off / on), its indexes and a
    Matcher: what ``vangnet match`` opens."""

    folder: Path
    engine: Any
    matcher: Any
    content_photo: dict[tuple[str, int], int] = field(default_factory=dict)
    verified: int = 0  # answers of the verify bank found by the wider net
    # the verify bank's answer to each lookup in order: (photo or -1, distance, inliers)
    verify_answers: list[tuple[int, float, int | None]] = field(default_factory=list)

    BANKS: ClassVar[dict[str, str]] = {
        "vangnet match": "ROBUST_PLAIN",
        "vangnet match --dihedral": "ROBUST_DIHEDRAL",
        VERIFY_METHOD: "ROBUST_VERIFY",
    }

    @classmethod
    def build(cls, bank_pictures: Sequence[bytes]) -> MatcherSetup:
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

        settings = get_settings()
        folder = Path(tempfile.mkdtemp(prefix="vangnet-bench-robustness-"))
        engine = make_engine(f"sqlite:///{folder / 'bench.db'}", home=folder)
        ensure_schema(engine)
        content_photo: dict[tuple[str, int], int] = {}
        with Session(engine) as s:
            for method, bank in cls.BANKS.items():
                rules: dict[str, Any] = {
                    "threshold": SEARCH_RADIUS,
                    "dihedral": "dihedral" in method,
                }
                if method == VERIFY_METHOD:  # the default threshold, the wider net to verify
                    rules = {  # everything a media bank can have: variants, the wider net
                        "threshold": PDQ_STANDARD,
                        "dihedral": True,
                        "verify_threshold": settings.pdq_verify_threshold,
                    }
                create_bank(s, name=bank, thresholds={"pdq": rules}, settings=settings)
            seal = FeatureSeal.from_settings(settings)
            for i, data in enumerate(bank_pictures):
                # as `vangnet bank add` hashes a file: with the local features it keeps
                hashed = hash_bytes(data, settings=settings, path=f"bank-{i}.bmp", for_bank=True)
                values = signal_values(hashed)
                for method, bank in cls.BANKS.items():
                    kept = hashed.kept_features() if method == VERIFY_METHOD else None
                    content_id = add_content(s, bank=bank, signals=values, features=kept, seal=seal)
                    content_photo[(bank, content_id)] = i
            s.commit()
        indexes = SignalIndexes(engine, snapshot_dir=None)
        indexes.load()
        return cls(folder, engine, Matcher(indexes, settings=settings), content_photo)

    def lookup(self, data: bytes, name: str = "query.bmp") -> dict[str, tuple[int, float]]:
        """Per matcher method: (nearest bank photo or -1, its PDQ distance or inf); the
        photo's pixels go with it (``verify``) as ``vangnet match`` does."""
        from sqlalchemy.orm import Session

        hashed = match_hashes(data, name)
        out: dict[str, tuple[int, float]] = {}
        with Session(self.engine) as s:
            for method, bank in self.BANKS.items():
                found = self.matcher.lookup_hashes(s, hashed, banks=[bank]).matches
                pdq = [m for m in found if m.signal_type == "pdq"]
                out[method] = self._nearest(bank, pdq)
                if method == VERIFY_METHOD:  # what the wider net found, and how
                    best = min(pdq, key=lambda m: (m.distance, m.content_id)) if pdq else None
                    inliers = best.inliers if best is not None else None
                    self.verified += inliers is not None
                    self.verify_answers.append((*out[method], inliers))
            out.update(self._kinds(s, hashed))
        return out

    def _nearest(self, bank: str, matches: Sequence[Any]) -> tuple[int, float]:
        if not matches:
            return (-1, float("inf"))
        best = min(matches, key=lambda m: (m.distance, m.content_id))
        return (self.content_photo[(bank, best.content_id)], float(best.distance))

    def _kinds(self, s: Any, hashed: Any) -> dict[str, tuple[int, float]]:
        """The nearest bank photo of each kind of PDQ lookup `vangnet match` makes (`KINDS`),
        each looked up on its own in the ``--dihedral`` bank: the whole picture, its dihedral
        variants (the identity left out), its regions (each with its variants)."""
        bank = self.BANKS["vangnet match --dihedral"]
        whole = [hashed.value("pdq")] if hashed.value("pdq") else []
        quality = hashed.quality("pdq")
        asked: dict[str, tuple[list[str], list[int | None], list[Sequence[str]]]] = {
            "whole": (whole, [quality] * len(whole), [()] * len(whole)),
            "variant": (
                list(hashed.dihedral[1:]),
                [quality] * len(hashed.dihedral[1:]),
                [()] * len(hashed.dihedral[1:]),
            ),
            "region": (
                [r.pdq for r in hashed.regions],
                [r.quality for r in hashed.regions],
                [r.variants for r in hashed.regions],
            ),
        }
        out: dict[str, tuple[int, float]] = {}
        for kind, (values, qualities, variants) in asked.items():
            matches: list[Any] = []
            if values:
                for found in self.matcher.lookup_many(
                    s,
                    signal_type="pdq",
                    values=values,
                    qualities=qualities,
                    banks=[bank],
                    variants=variants,
                ):
                    matches.extend(found)
            out[KINDS[kind]] = self._nearest(bank, matches)
        return out

    def close(self) -> None:
        import shutil

        self.engine.dispose()
        shutil.rmtree(self.folder, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Scoring


def operating_point(
    q_dist: Vector, q_right: Vector, d_dist: Vector, precision: float = TARGET_PRECISION
) -> dict[str, Any]:
    """The threshold (distances <= it are matches) with the most true positives whose precision
    over all queries and distractors is >= ``precision``; None when none reaches it."""
    finite = np.concatenate([q_dist[np.isfinite(q_dist)], d_dist[np.isfinite(d_dist)]])
    best: dict[str, Any] = {"threshold": None, "true_positives": 0, "false_positives": 0}
    for t in np.unique(finite):
        tp = int(np.sum((q_dist <= t) & q_right))
        fp = int(np.sum((q_dist <= t) & ~q_right) + np.sum(d_dist <= t))
        if tp + fp and tp / (tp + fp) >= precision and tp > best["true_positives"]:
            best = {"threshold": float(t), "true_positives": tp, "false_positives": fp}
    return best


def at_threshold(
    t: float | None, q_dist: Vector, q_right: Vector, q_transform: Sequence[str], d_dist: Vector
) -> dict[str, Any]:
    """Recall per transform and false positives when distances <= ``t`` match."""
    names = np.asarray(q_transform)
    hit = (q_dist <= t) & q_right if t is not None else np.zeros(len(q_dist), dtype=bool)
    recall = {n: float(hit[names == n].mean()) for n in TRANSFORMS if np.any(names == n)}
    fp_q = int(np.sum((q_dist <= t) & ~q_right)) if t is not None else 0
    fp_d = int(np.sum(d_dist <= t)) if t is not None else 0
    return {
        "recall": recall,
        "false_positives": fp_q + fp_d,
        "fp_queries": fp_q,
        "fp_distractors": fp_d,
    }


def score(
    q_near: Vector,
    q_dist: Vector,
    q_truth: Vector,
    q_transform: Sequence[str],
    d_dist: Vector,
    bits: bool,
) -> dict[str, Any]:
    right = q_near == q_truth
    point = operating_point(q_dist, right, d_dist)
    out: dict[str, Any] = {
        "status": "ok",
        "threshold": point["threshold"],
        **at_threshold(point["threshold"], q_dist, right, q_transform, d_dist),
        "precision_target": TARGET_PRECISION,
        "distractor_nearest_min": float(np.min(d_dist)) if len(d_dist) else None,
    }
    if bits:
        std = at_threshold(PDQ_STANDARD, q_dist, right, q_transform, d_dist)
        out["at_31"] = std
    return out


# --------------------------------------------------------------------------------------------
# The run


@dataclass
class Hashed:
    """Per method: nearest-bank inputs of every picture, in order."""

    vectors: dict[str, list[Vector | None]] = field(default_factory=dict)
    matcher: dict[str, list[tuple[int, float]]] = field(default_factory=dict)

    unhashed: dict[str, list[str]] = field(default_factory=dict)

    def add(
        self,
        img: Image.Image,
        methods: Sequence[Method],
        setup: MatcherSetup | None,
        shapes: dict[str, tuple[int, ...]],
        label: str,
    ) -> None:
        """Hash ``img`` with every method; a picture a method cannot hash (an error, or no
        vector of the bank's shape) is kept as unmatched and listed in `unhashed`."""
        for m in methods:
            try:
                vec: Vector | None = m.vector(img)
                if vec is None or vec.shape != shapes[m.name]:
                    got = None if vec is None else vec.shape
                    raise ValueError(f"vector of shape {got}, not {shapes[m.name]}")
            except Exception as exc:
                vec = None
                self.unhashed.setdefault(m.name, []).append(f"{label}: {exc}"[:200])
            self.vectors.setdefault(m.name, []).append(vec)
        if setup is not None:
            for name, got in setup.lookup(file_bytes(img)).items():
                self.matcher.setdefault(name, []).append(got)


def _progress(what: str, done: int, total: int | None = None) -> None:
    of = f"/{total}" if total else ""
    print(f"[robustness] {what}: {done}{of}", file=sys.stderr, flush=True)


def distractor_sources(
    photos: Sequence[Path], videos: Sequence[Path], fps: float
) -> Iterator[tuple[str, Image.Image]]:
    for path in photos:
        yield path.name, load(path)
    for video in videos:
        for k, frame in enumerate(video_frames(video, fps)):
            yield f"{video.name}#{k}", frame


def fillers(photos: Sequence[Path], videos: Sequence[Path], seed: int = SEED) -> list[Image.Image]:
    """Distractor pictures (never a bank photo) shown beside the photo in composites."""
    rng = random.Random(f"fillers:{seed}")
    chosen = rng.sample(list(photos), min(len(photos), FILLER_POOL * 3 // 4))
    pool = [load(p) for p in chosen]
    for video in videos[:4]:
        frames = list(video_frames(video, 0.25))
        pool.extend(frames[:: max(1, len(frames) // 3)])
    return pool


def run_matching(
    *, quick: bool, with_peers: bool, bank_size: int | None = None
) -> tuple[dict[str, Any], list[Method], MatcherSetup | None, list[Image.Image]]:
    pool = photo_pool()
    size = bank_size or (QUICK_BANK_SIZE if quick else BANK_SIZE)
    bank_paths, rest = split(pool, size)
    d_photos = list(rest) + threatexchange_photos()
    videos = sample_videos()
    fps = VIDEO_FPS
    if quick:
        d_photos = d_photos[:: max(1, len(d_photos) // QUICK_DISTRACTOR_PHOTOS)][
            :QUICK_DISTRACTOR_PHOTOS
        ]
        videos = videos[:QUICK_VIDEOS]
        fps = QUICK_VIDEO_FPS
    methods: list[Method] = [PdqMethod()]
    more, skipped = perception_methods(with_peers)
    methods.extend(more)
    others = fillers(d_photos, videos)
    _progress(f"bank of {len(bank_paths)} photos", 0)
    bank_imgs = [load(p) for p in bank_paths]
    bank_vectors = {m.name: np.stack([m.vector(img) for img in bank_imgs]) for m in methods}
    shapes = {name: tuple(v.shape[1:]) for name, v in bank_vectors.items()}
    setup: MatcherSetup | None
    try:
        setup = MatcherSetup.build([file_bytes(img) for img in bank_imgs])
        matcher_status = None
    except Exception as exc:  # reported in the rows; the other methods still run
        setup, matcher_status = None, f"error: {type(exc).__name__}: {exc}"

    try:  # the temporary database goes with an error too
        queries = Hashed()
        q_truth: list[int] = []
        q_transform: list[str] = []
        for i, img in enumerate(bank_imgs):
            for name in TRANSFORMS:
                pic = apply(name, img, seed=f"query:{i}", others=others)
                queries.add(pic, methods, setup, shapes, f"query {i} {name}")
                q_truth.append(i)
                q_transform.append(name)
            if (i + 1) % 25 == 0:
                _progress("queries of bank photos", i + 1, len(bank_imgs))
        del bank_imgs

        distractors = Hashed()
        kinds: dict[str, int] = {}
        count = 0
        for k, (label, img) in enumerate(distractor_sources(d_photos, videos, fps)):
            distractors.add(img, methods, setup, shapes, label)
            count += 1
            for name in TRANSFORMS:
                pic = apply(name, img, seed=f"distractor:{k}", others=others)
                distractors.add(pic, methods, setup, shapes, f"{label} {name}")
                count += 1
            kind = "video frame" if "#" in label else "photo"
            kinds[kind] = kinds.get(kind, 0) + 1
            if (k + 1) % 50 == 0:
                _progress("distractor sources", k + 1)

        truth = np.asarray(q_truth)
        results: dict[str, Any] = {}
        for m in methods:
            qn, qd = nearest_of(queries.vectors[m.name], bank_vectors[m.name], m.metric)
            _, dd = nearest_of(distractors.vectors[m.name], bank_vectors[m.name], m.metric)
            failed = queries.unhashed.get(m.name, []) + distractors.unhashed.get(m.name, [])
            results[m.name] = {
                "metric": m.metric,
                "unhashed": len(failed),
                "unhashed_examples": failed[:10],
                **score(qn, qd, truth, q_transform, dd, bits=m.name in BIT_METHODS),
            }
        for name in (*MatcherSetup.BANKS, *KINDS.values()):
            if setup is None:
                results[name] = {"status": matcher_status}
                continue
            qn = np.asarray([p for p, _ in queries.matcher[name]])
            qd = np.asarray([d for _, d in queries.matcher[name]])
            dd = np.asarray([d for _, d in distractors.matcher[name]])
            if name == VERIFY_METHOD:  # every answer is a match at the bank's own settings
                from vangnet.config import get_settings

                settings = get_settings()
                radius = settings.pdq_verify_threshold
                at_setting = at_threshold(float(radius), qd, qn == truth, q_transform, dd)
                results[name] = {
                    "status": "ok",
                    "metric": (
                        f"hamming (PDQ bits; threshold {PDQ_STANDARD}, verify_threshold "
                        f"{radius}, crop radius {settings.pdq_crop_threshold}, min inliers "
                        f"{settings.match_verify_min_inliers}, keypoints "
                        f"{settings.bank_features_keypoints})"
                    ),
                    "threshold": float(radius),
                    "verify_threshold": radius,
                    "crop_threshold": settings.pdq_crop_threshold,
                    "min_inliers": settings.match_verify_min_inliers,
                    "keypoints": settings.bank_features_keypoints,
                    "verified_answers": setup.verified,
                    **at_setting,
                    "at_31": at_threshold(PDQ_STANDARD, qd, qn == truth, q_transform, dd),
                }
                continue
            results[name] = {
                "metric": f"hamming (PDQ bits; searched up to {SEARCH_RADIUS})",
                **score(qn, qd, truth, q_transform, dd, bits=True),
            }
        for name, status in skipped.items():
            results[name] = {"status": status}
    except BaseException:
        if setup is not None:
            setup.close()
        raise

    data = {
        "seed": SEED,
        "bank_photos": len(bank_paths),
        "transforms": list(TRANSFORMS),
        "composites": sorted(COMPOSITES),
        "queries": len(q_truth),
        "distractors": count,
        "distractor_sources": kinds,
        "distractor_transforms": ["original", *TRANSFORMS],
        "video_fps": fps,
        "videos": len(videos),
        "search_radius": SEARCH_RADIUS,
    }
    return {"data": data, "methods": results}, methods, setup, others


# --------------------------------------------------------------------------------------------
# Cost


#: The clock `cost` reads: wall time (the full run), or the process's CPU time, every thread
#: of it (``--cost-only --cpu``: what a query costs, however busy the machine is).
_CLOCK: list[Callable[[], float]] = [common.now]


def _ms(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm-up
    clock, spent = _CLOCK[0], []
    for _ in range(repeats):
        t0 = clock()
        fn()
        spent.append(clock() - t0)
    return 1000 * min(spent)


def _decode_and_hash(method: Method, data: bytes) -> Vector:
    from vangnet.media.image import decode_image

    return method.vector(decode_image(data)[0])


def cost(
    methods: Sequence[Method],
    setup: MatcherSetup | None,
    samples: Sequence[Image.Image],
    quick: bool,
) -> dict[str, dict[str, float | str]]:
    """Milliseconds per query: 12 MP phone photo, 12 MP upscaled photo (JPEG bytes), a 720p
    live sample (decoded frame). Each is the best of a few repeats; the upscaled photo's is
    the median over ``samples`` (each photo upscaled: its own regions and wider-net
    candidates, which one photo alone would not show), the live sample is the first sample."""
    from vangnet.signals.pdq import hash_pixels

    phone = common.DATA_DIR / "threatexchange/pdq/data/reg-test-input/exif-rotn/exif-rotn-1.jpg"
    upscaled: list[bytes] = []
    for sample in samples:
        buf = io.BytesIO()
        sample.resize((4240, 2832), Image.Resampling.BICUBIC).save(buf, "JPEG", quality=90)
        upscaled.append(buf.getvalue())
    inputs = {"12 MP phone photo": [phone.read_bytes()], "12 MP upscaled photo": upscaled}
    frame = np.ascontiguousarray(
        np.asarray(samples[0].resize((1280, 720), Image.Resampling.BILINEAR), dtype=np.uint8)
    )
    repeats = 2 if quick else 5

    def median_ms(fn: Callable[[Any], Any], args: Sequence[Any]) -> float:
        return float(np.median([_ms(partial(fn, a), repeats) for a in args]))

    out: dict[str, dict[str, float | str]] = {}
    with tempfile.TemporaryDirectory(prefix="vangnet-bench-robustness-") as folder:
        files = {  # perception reads files itself (OpenCV)
            what: [Path(folder) / f"{k}-{n}.jpg" for n in range(len(datas))]
            for k, (what, datas) in enumerate(inputs.items())
        }
        for what, paths in files.items():
            for path, data in zip(paths, inputs[what], strict=True):
                path.write_bytes(data)
        for m in methods:
            row: dict[str, float | str] = {}
            for what, datas in inputs.items():
                if isinstance(m, PerceptionMethod):
                    row[what] = median_ms(m.hasher.compute, [str(f) for f in files[what]])
                else:  # Vangnet's fast path: reduced-size JPEG decode, then PDQ
                    row[what] = median_ms(partial(_decode_and_hash, m), datas)
            if isinstance(m, PerceptionMethod):
                live_ms = _ms(partial(m.hasher.compute, frame), repeats * 4)
            else:
                live_ms = _ms(lambda: hash_pixels(frame), repeats * 4)
            row["720p live sample"] = live_ms
            out[m.name] = row
    if setup is not None:
        from sqlalchemy.orm import Session

        from vangnet.config import get_settings
        from vangnet.signals.hashing import hash_bytes

        settings = get_settings()
        for name, bank in MatcherSetup.BANKS.items():
            row = {}

            def match(d: bytes, b: str = bank) -> None:
                hashed = match_hashes(d, "q.jpg")
                with Session(setup.engine) as s:
                    setup.matcher.lookup_hashes(s, hashed, banks=[b])

            for what, datas in inputs.items():
                row[what] = median_ms(match, datas)

            def live(b: str = bank) -> None:  # the live processor: hash_pixels + lookup_many
                value, quality = hash_pixels(frame)
                with Session(setup.engine) as s:
                    setup.matcher.lookup_many(
                        s, signal_type="pdq", values=[value], qualities=[quality], banks=[b]
                    )

            row["720p live sample"] = _ms(live, repeats * 4)
            out[name] = row

        def as_filed(d: bytes) -> None:  # `vangnet match` when issue 12 was filed
            hashed = hash_bytes(d, settings=settings, path="q.jpg")
            with Session(setup.engine) as s:
                setup.matcher.lookup_hashes(s, hashed, banks=[MatcherSetup.BANKS["vangnet match"]])

        baseline: dict[str, float | str] = {
            what: median_ms(as_filed, datas) for what, datas in inputs.items()
        }
        baseline["720p live sample"] = out["vangnet match"]["720p live sample"]
        out[BASELINE_METHOD] = baseline
    return out


def cost_samples(bank_size: int, quick: bool = False) -> list[Image.Image]:
    """The photos the cost rows upscale: the first `COST_PHOTOS` (`QUICK_COST_PHOTOS`) photos
    of the seeded split left out of a bank of ``bank_size``."""
    _, rest = split(photo_pool(), bank_size)
    return [load(p) for p in rest[: QUICK_COST_PHOTOS if quick else COST_PHOTOS]]


def run(
    *, quick: bool = False, with_peers: bool = True, bank_size: int | None = None
) -> dict[str, Any]:
    t0 = common.now()
    payload, methods, setup, _ = run_matching(
        quick=quick, with_peers=with_peers, bank_size=bank_size
    )
    payload["matching_s"] = common.now() - t0
    try:
        _progress("cost per query", 0)
        size = bank_size or (QUICK_BANK_SIZE if quick else BANK_SIZE)
        payload["cost_ms"] = cost(methods, setup, cost_samples(size, quick), quick)
    finally:
        if setup is not None:
            setup.close()
    payload["operating_points"] = operating_points(payload)
    return {"benchmark": "robustness", **payload}


def operating_points(payload: dict[str, Any]) -> dict[str, Any]:
    """The calibration file of this run (`vangnet.calibration`): per lookup kind its
    threshold at `TARGET_PRECISION` (0, exact only, when no threshold reaches it), with what
    was measured at it. ``scripts/bench --only robustness --calibrate FILE`` writes it."""
    from vangnet import __version__
    from vangnet.calibration import FORMAT, parse

    d = payload["data"]
    kinds: dict[str, Any] = {}
    for kind, name in KINDS.items():
        m = payload["methods"].get(name, {})
        if m.get("status") != "ok":
            continue
        t = m["threshold"]
        kinds[kind] = {
            "threshold": 0 if t is None else int(t),
            "recall": {k: round(v, 4) for k, v in m["recall"].items()},
            "false_positives": m["false_positives"],
        }
    data = {
        "format": FORMAT,
        "target_precision": TARGET_PRECISION,
        "source": (
            f"scripts/bench --only robustness (vangnet {__version__}, seed {d['seed']}: bank"
            f" {d['bank_photos']} photos, {d['queries']} queries, {d['distractors']}"
            f" distractors; {time.strftime('%Y-%m-%d', time.gmtime())})"
        ),
        "points": {"pdq": kinds},
    }
    parse(data)  # the matcher's own check
    return data


# --------------------------------------------------------------------------------------------
# Table: one row per transform (and figure), one column per method


METHOD_ORDER = (
    "pdq",
    "vangnet match",
    "vangnet match --dihedral",
    VERIFY_METHOD,
    *(f"perception {n}" for n in PERCEPTION_HASHERS),
)
SHORT = {
    "vangnet match --dihedral": "match --dihedral",
    "vangnet match": "vangnet match",
    VERIFY_METHOD: "match + verify",
}
TABLE_COLUMNS = [
    "recall at 99.9 % precision",
    *(SHORT.get(n, n.replace("perception ", "")) for n in METHOD_ORDER),
]


def _two(value: float | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def table_rows(payload: dict[str, Any]) -> list[list[Any]]:
    methods = payload["methods"]
    cols = [methods.get(n, {"status": "not run"}) for n in METHOD_ORDER]

    def ok(m: dict[str, Any]) -> bool:
        return m.get("status") == "ok"

    rows: list[list[Any]] = [["status", *("ok" if ok(m) else m.get("status") for m in cols)]]
    for t in TRANSFORMS:
        rows.append([t, *(_two(m["recall"].get(t)) if ok(m) else None for m in cols)])
    rows.append(["threshold", *(m.get("threshold") if ok(m) else None for m in cols)])
    rows.append(
        ["false positives at it", *(m.get("false_positives") if ok(m) else None for m in cols)]
    )
    rows.append(
        [
            "false positives at 31",
            *(m["at_31"]["false_positives"] if ok(m) and "at_31" in m else None for m in cols),
        ]
    )
    rows.append(
        [
            "mean recall at 31",
            *(
                _two(float(np.mean(list(m["at_31"]["recall"].values()))))
                if ok(m) and "at_31" in m
                else None
                for m in cols
            ),
        ]
    )
    costs = payload.get("cost_ms", {})
    for what in ("12 MP phone photo", "12 MP upscaled photo", "720p live sample"):
        rows.append([f"ms per {what}", *(costs.get(n, {}).get(what) for n in METHOD_ORDER)])
    d = payload["data"]
    rows.append(
        [
            f"(bank {d['bank_photos']}, queries {d['queries']}, distractors {d['distractors']})",
            *("" for _ in METHOD_ORDER),
        ]
    )
    return rows


def cost_only(*, bank_size: int = BANK_SIZE, with_peers: bool = True) -> dict[str, Any]:
    """`cost` alone, against the full run's bank (the same ``bank_size`` photos of the same
    seeded split, banked as the full run banks them) without the recall run: issue 12's cost
    target measured in minutes instead of an hour (`cost_samples`: the photos upscaled)."""
    bank_paths, _ = split(photo_pool(), bank_size)
    methods: list[Method] = [PdqMethod()]
    more, _skipped = perception_methods(with_peers)
    methods.extend(more)
    _progress(f"bank of {len(bank_paths)} photos", 0)
    setup = MatcherSetup.build([file_bytes(load(p)) for p in bank_paths])
    try:
        _progress("cost per query", 0)
        return {
            "bank_photos": len(bank_paths),
            "cost_photos": COST_PHOTOS,
            "cost_ms": cost(methods, setup, cost_samples(bank_size), False),
        }
    finally:
        setup.close()


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description="robustness benchmark: the cost rows alone")
    ap.add_argument("--cost-only", action="store_true", required=True)
    ap.add_argument("--bank", type=int, default=BANK_SIZE, help="bank photos (default 300)")
    ap.add_argument("--no-peers", action="store_true", help="without perception")
    ap.add_argument("--cpu", action="store_true", help="the process's CPU time, not wall time")
    args = ap.parse_args(argv)
    if args.cpu:
        _CLOCK[0] = time.process_time
    found = cost_only(bank_size=args.bank, with_peers=not args.no_peers)
    whats = ("12 MP phone photo", "12 MP upscaled photo", "720p live sample")
    common.print_table(
        f"cost per query, {'CPU' if args.cpu else 'wall'} ms "
        f"(bank of {found['bank_photos']} photos; upscaled: median of "
        f"{found['cost_photos']} photos)",
        ["method", *whats],
        [[name, *(row.get(w) for w in whats)] for name, row in found["cost_ms"].items()],
    )
    common.write_json("robustness_cost", {"clock": "cpu" if args.cpu else "wall", **found})
    return 0


if __name__ == "__main__":
    sys.exit(main())
