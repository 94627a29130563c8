"""The known pictures and videos a screenshot is traced against, hashed per part.

Every picture and every sampled video frame (black bars cropped, as the bank does) is held
as the PDQ of five parts: the whole frame and its top, bottom, left and right halves
(`vangnet.signals.vpdq.REGIONS`). A screenshot region whose bottom is covered by player
controls still matches on its top half, one with a caption over the top on its bottom half.

Two kinds of entries:

- **ingested** (`FrameLibrary.add_video`, `FrameLibrary.add_image`): hashed here from the
  pixels, shrunk first to fit `CANONICAL_SIDE` (the query region is shrunk the same way, so
  both sides hash near-identical small pictures; 4-5x faster than full size). The bytes are
  kept so the frame a candidate points at can be decoded again and checked with local
  features.
- **hash-only** (`FrameLibrary.add_hashes`, e.g. a bank's ``vpdq`` + ``vpdq_regions``
  frames): full-size hashes as `vangnet.signals.hashing.hash_bytes` makes them; no pixels, so a
  match can only be accepted on a tight hash distance.

`FrameLibrary.search` is a brute-force Hamming scan (XOR + popcount over uint64 words):
candidates are wanted at loose distances (60-70 bits), where a multi-index search such as
`vangnet.index.pdq_index.PDQIndex` scans everything anyway.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from vangnet.config import Settings
from vangnet.errors import ConflictError, InvalidHashError, MediaError
from vangnet.index.pdq_index import hex_to_words
from vangnet.media.image import decode_image
from vangnet.media.regions.edges import Box
from vangnet.signals.features import SIDE, Features, extract, fit_within
from vangnet.signals.pdq import RgbArray, hash_pixels
from vangnet.signals.vpdq import REGIONS, VpdqFrame, region_pixels
from vangnet.triage.screenshot_frames import frames_at, sampled_frames
from vangnet.triage.tuning import default

#: The parts hashed per picture / frame, in this order: whole, then the `REGIONS` halves.
PARTS: tuple[str, ...] = ("whole", *REGIONS)
#: Ingested pictures / frames (and the query regions compared with them) are hashed after
#: shrinking to fit this square.
CANONICAL_SIDE = 256
#: Pictures are kept for verification shrunk to fit this square.
KEEP_SIDE = 1024
#: Sets of candidate frames kept with their local features (`FrameLibrary.checks`): a set
#: is an entry's ``frames_per_entry`` nearest frames (3 by default), each at most 512 px
#: across (under 1 MB) until its features (800 keypoints, under 0.5 MB) are extracted;
#: about 100 MB at most with the defaults.
CHECKS_KEPT = 32
#: Frames per chunk in the Hamming scan (bounds the memory of one step).
SCAN_CHUNK = 8192

EntryKind = Literal["video", "image"]
HashScale = Literal["canonical", "native"]
WordArray = npt.NDArray[np.uint64]
_MISSING = -1  # quality of a part that was not hashed (or not imported)


def part_hashes(rgb: RgbArray, scale: HashScale) -> tuple[WordArray, npt.NDArray[np.int16]]:
    """PDQ of the `PARTS` of ``rgb`` as ((5, 4) uint64 words, (5,) qualities); ``canonical``
    shrinks to `CANONICAL_SIDE` first, ``native`` hashes the pixels as given."""
    pixels = fit_within(rgb, CANONICAL_SIDE) if scale == "canonical" else rgb
    parts = [("whole", pixels), *region_pixels(pixels)]
    hexes: list[str] = []
    quality = np.full(len(PARTS), _MISSING, np.int16)
    for i, (_, part) in enumerate(parts):
        if part.shape[0] < 2 or part.shape[1] < 2:
            hexes.append("0" * 64)
            continue
        pdq, q = hash_pixels(np.ascontiguousarray(part))
        hexes.append(pdq)
        quality[i] = q
    return hex_to_words(hexes), quality


@dataclass
class EntryHashes:
    """Hashes of one entry: per kept frame, the `PARTS` (words, qualities), frame number and
    seconds from the start (0 for a picture)."""

    words: WordArray  # (n, 5, 4)
    quality: npt.NDArray[np.int16]  # (n, 5); -1 where the part is missing
    frames: npt.NDArray[np.int64]  # (n,)
    timestamps: npt.NDArray[np.float64]  # (n,)

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    @classmethod
    def stack(
        cls, rows: Sequence[tuple[WordArray, npt.NDArray[np.int16], int, float]]
    ) -> EntryHashes:
        if not rows:
            raise MediaError("no frame could be hashed")
        return cls(
            np.stack([r[0] for r in rows]),
            np.stack([r[1] for r in rows]),
            np.array([r[2] for r in rows], np.int64),
            np.array([r[3] for r in rows], np.float64),
        )


@dataclass
class LibraryEntry:
    """A known picture or video. ``video`` / ``picture`` hold its pixels when it was
    ingested (then candidates can be verified with local features)."""

    name: str
    kind: EntryKind
    scale: HashScale
    hashes: EntryHashes
    video: bytes | None = None
    fps: float | None = None  # the sampling its frame numbers refer to
    picture: RgbArray | None = None

    @property
    def has_pixels(self) -> bool:
        return self.video is not None or self.picture is not None

    def pixels(self, rows: Iterable[int]) -> dict[int, RgbArray]:
        """RGB of the given rows' frames, bars cropped (`frames_at`); a picture is its only
        row."""
        wanted = sorted(set(rows))
        if self.picture is not None:
            return {row: self.picture for row in wanted}
        if self.video is None or not wanted:
            return {}
        numbers = [int(self.hashes.frames[row]) for row in wanted]
        times = [float(self.hashes.timestamps[row]) for row in wanted]
        frames = frames_at(self.video, numbers, times, fps=self.fps)
        return {row: frames[n] for row, n in zip(wanted, numbers, strict=True) if n in frames}


class FrameChecks:
    """Candidate frames of a library entry by row, kept fitted within `SIDE` (all that
    `extract` looks at), and their local features, computed on first use (the pixels are
    dropped then)."""

    def __init__(self, frames: Mapping[int, RgbArray]) -> None:
        self._pixels = {row: fit_within(rgb, SIDE) for row, rgb in frames.items()}
        self._features: dict[int, Features] = {}

    def features(self, row: int) -> Features | None:
        """The local features of row ``row``'s frame; None when it could not be decoded."""
        if row not in self._features:
            pixels = self._pixels.pop(row, None)
            if pixels is None:
                return None
            self._features[row] = extract(pixels, fitted=True)
        return self._features[row]


@dataclass(frozen=True)
class QueryHashes:
    """The `PARTS` hashes of one or more readings (boxes) of a screenshot region."""

    boxes: tuple[Box, ...]
    words: WordArray  # (n_boxes, 5, 4)
    quality: npt.NDArray[np.int16]  # (n_boxes, 5)

    @classmethod
    def of(cls, rgb: RgbArray, boxes: Sequence[Box], scale: HashScale) -> QueryHashes:
        hashed = [part_hashes(box.crop(rgb), scale) for box in boxes]
        return cls(tuple(boxes), np.stack([h[0] for h in hashed]), np.stack([h[1] for h in hashed]))


@dataclass(frozen=True)
class Candidate:
    """A frame of an entry near a query: its row in the entry, the distance (best part of
    the best box), which part and which box gave it."""

    entry: LibraryEntry
    row: int
    distance: int
    part: str
    box: Box

    @property
    def frame(self) -> int:
        return int(self.entry.hashes.frames[self.row])

    @property
    def timestamp(self) -> float:
        return float(self.entry.hashes.timestamps[self.row])


def _distances(
    entry: EntryHashes, query: QueryHashes, floor: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Per frame of ``entry``: the smallest distance over boxes and parts (same part on both
    sides, both of usable quality; 256 when none is) and the flat (box, part) index of it."""
    n_boxes, n_parts = query.quality.shape
    best = np.full(len(entry), 256, np.int64)
    which = np.zeros(len(entry), np.int64)
    q_ok = query.quality >= floor  # (boxes, parts)
    for start in range(0, len(entry), SCAN_CHUNK):
        words = entry.words[start : start + SCAN_CHUNK]
        ok = (entry.quality[start : start + SCAN_CHUNK] >= floor)[None] & q_ok[:, None]
        bits = np.bitwise_count(words[None] ^ query.words[:, None]).sum(axis=-1, dtype=np.int64)
        bits = np.where(ok, bits, 256)  # (boxes, frames, parts)
        flat = bits.transpose(1, 0, 2).reshape(bits.shape[1], n_boxes * n_parts)
        which[start : start + SCAN_CHUNK] = flat.argmin(axis=1)
        best[start : start + SCAN_CHUNK] = flat.min(axis=1)
    return best, which


def video_hashes(data: bytes, fps: float | None, dedupe_bits: int) -> EntryHashes:
    """The `PARTS` hashes (canonical scale) of ``data``'s frames sampled at ``fps``, bars
    cropped, a frame whose parts are all within ``dedupe_bits`` of the last one kept dropped
    (``dedupe_bits`` < 0: none): what `FrameLibrary.add_video` keeps of a video. A plain
    function of its arguments, so that a process pool can hash several videos at once.
    Raises `MediaError` subclasses for bad video."""
    rows: list[tuple[WordArray, npt.NDArray[np.int16], int, float]] = []
    last: WordArray | None = None
    for frame in sampled_frames(data, fps):
        words, quality = part_hashes(frame.rgb, "canonical")
        if last is not None and dedupe_bits >= 0:
            bits = np.bitwise_count(words ^ last).sum(axis=1)
            if int(bits.max()) <= dedupe_bits:
                continue
        last = words
        rows.append((words, quality, frame.number, frame.timestamp))
    return EntryHashes.stack(rows)


class FrameLibrary:
    """Known pictures and videos, hashed per part, to trace screenshot regions to.

    ``fps`` / ``dedupe_bits`` (default: the documented defaults of ``bank_video_fps``, every
    frame, and ``bank_video_dedupe_bits``; the caller passes the values in force) set how
    densely ingested videos are hashed: a screenshot can show any moment, so every frame is
    hashed unless told otherwise, and a frame whose parts are all within ``dedupe_bits`` of
    the last one kept is dropped. ``quality_floor``: parts of lower PDQ quality are not
    compared (default: that of ``pdq_quality_floor``)."""

    def __init__(
        self,
        *,
        settings: Settings | None = None,
        fps: float | None = None,
        dedupe_bits: int | None = None,
        quality_floor: int | None = None,
    ) -> None:
        # the values in force when the caller passes its settings, else the documented defaults
        def pick(name: str) -> Any:
            return getattr(settings, name) if settings is not None else default(name)

        self.fps: float = pick("bank_video_fps") if fps is None else fps
        self.dedupe_bits: int = (
            pick("bank_video_dedupe_bits") if dedupe_bits is None else dedupe_bits
        )
        self.quality_floor: int = (
            pick("pdq_quality_floor") if quality_floor is None else quality_floor
        )
        self._entries: dict[str, LibraryEntry] = {}
        self._checks: OrderedDict[tuple[str, tuple[int, ...]], FrameChecks] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def entries(self) -> list[LibraryEntry]:
        return list(self._entries.values())

    def scales(self) -> set[HashScale]:
        return {e.scale for e in self._entries.values()}

    def _add(self, entry: LibraryEntry) -> LibraryEntry:
        if entry.name in self._entries:
            raise ConflictError(f"{entry.name!r} is already in the frame library")
        self._entries[entry.name] = entry
        return entry

    def add_video(self, name: str, data: bytes, *, fps: float | None = None) -> LibraryEntry:
        """Decode ``data`` in memory and hash its frames (sampled at ``fps``, default the
        library's). Raises `MediaError` subclasses for bad video."""
        if name in self._entries:
            raise ConflictError(f"{name!r} is already in the frame library")
        rate = self.fps if fps is None else fps
        return self.add_hashed_video(name, data, video_hashes(data, rate, self.dedupe_bits), rate)

    def add_hashed_video(
        self, name: str, data: bytes, hashes: EntryHashes, fps: float
    ) -> LibraryEntry:
        """Add a video whose frames `video_hashes` hashed (at ``fps``, with this library's
        ``dedupe_bits``), e.g. in a worker process: what `add_video` adds."""
        return self._add(LibraryEntry(name, "video", "canonical", hashes, data, fps))

    def add_image(self, name: str, data: bytes) -> LibraryEntry:
        """Decode ``data`` in memory (EXIF orientation applied) and hash it. Raises
        `MediaError` subclasses for bad images."""
        rgb = np.asarray(decode_image(data)[0], dtype=np.uint8)
        return self.add_picture(name, rgb)

    def add_picture(self, name: str, rgb: RgbArray) -> LibraryEntry:
        """Hash an already decoded RGB picture (uint8 H x W x 3)."""
        words, quality = part_hashes(rgb, "canonical")
        hashes = EntryHashes.stack([(words, quality, 0, 0.0)])
        kept = fit_within(np.ascontiguousarray(rgb), KEEP_SIDE)
        return self._add(LibraryEntry(name, "image", "canonical", hashes, picture=kept))

    def add_hashes(
        self, name: str, frames: Iterable[VpdqFrame], *, kind: EntryKind = "video"
    ) -> LibraryEntry:
        """Add a hash-only entry: full-size PDQ frames as `vangnet.signals.hashing.hash_bytes` makes
        them (``vpdq`` frames, region ``""``, and ``vpdq_regions`` halves; a picture is one
        frame holding its ``pdq``). Each hash is its own row, so whole frames and halves need
        not line up (parsed vPDQ values number their frames by position). Raises
        `InvalidHashError`."""
        rows: list[tuple[WordArray, npt.NDArray[np.int16], int, float]] = []
        for f in frames:
            part = f.region or "whole"
            if part not in PARTS:
                raise InvalidHashError(f"unknown frame region {f.region!r}")
            index = PARTS.index(part)
            hexes = ["0" * 64] * len(PARTS)
            hexes[index] = f.pdq
            quality = np.full(len(PARTS), _MISSING, np.int16)
            quality[index] = f.quality
            rows.append((hex_to_words(hexes), quality, f.frame, f.timestamp))
        if not rows:
            raise InvalidHashError(f"no frames given for {name!r}")
        return self._add(LibraryEntry(name, kind, "native", EntryHashes.stack(rows)))

    @classmethod
    def from_hashes(
        cls, items: Mapping[str, Iterable[VpdqFrame]], *, settings: Settings
    ) -> FrameLibrary:
        """A hash-only library of videos, e.g. from a bank's vPDQ (+ regions) frames."""
        library = cls(settings=settings)
        for name, frames in items.items():
            library.add_hashes(name, frames)
        return library

    def checks(self, entry: LibraryEntry, rows: Iterable[int]) -> FrameChecks:
        """The frames of ``entry``'s given rows (`LibraryEntry.pixels`) with their local
        features, each computed once: the same candidate frames come up region after region
        and screenshot after screenshot (every player screenshot of a video's opening shows
        its first frames), and decoding them again and extracting their features is most of
        a check's cost. The same rows asked together get the same `FrameChecks`, so a check
        sees exactly the pixels it would see decoded afresh; the `CHECKS_KEPT` sets used
        last are kept."""
        key = (entry.name, tuple(sorted(set(rows))))
        found = self._checks.pop(key, None)
        if found is None:
            found = FrameChecks(entry.pixels(key[1]))
        self._checks[key] = found  # the most recently used last
        while len(self._checks) > CHECKS_KEPT:
            self._checks.popitem(last=False)
        return found

    def search(
        self, queries: Mapping[HashScale, QueryHashes], *, per_entry: int = 3
    ) -> list[list[Candidate]]:
        """For each entry, its ``per_entry`` nearest frames to the query (of the entry's hash
        scale), nearest first; entries ordered by their nearest frame."""
        found: list[list[Candidate]] = []
        for entry in self._entries.values():
            query = queries.get(entry.scale)
            if query is None:
                continue
            best, which = _distances(entry.hashes, query, self.quality_floor)
            rows = np.argsort(best, kind="stable")[:per_entry]
            picks = [
                Candidate(
                    entry,
                    int(row),
                    int(best[row]),
                    PARTS[int(which[row]) % len(PARTS)],
                    query.boxes[int(which[row]) // len(PARTS)],
                )
                for row in rows
                if best[row] < 256
            ]
            if picks:
                found.append(picks)
        found.sort(key=lambda picks: picks[0].distance)
        return found
