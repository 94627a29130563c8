"""What a match is, and the answer for one hashed file (`Lookup`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from vangnet.media.regions.edges import Box

if TYPE_CHECKING:
    from vangnet.signals.hashes import Hashes


@dataclass(frozen=True, slots=True)
class Match:
    """One banked item that a query matched, under that bank's thresholds.

    How it was found, when not by the whole picture as given: ``region`` (x, y, w, h in the
    query photo's pixels) when a region of the photo matched, ``transform`` (``identity``,
    ``rot90``, ``mirror``, ... `vangnet.signals.pdq.TRANSFORMS`) when a region or a dihedral
    variant matched; a picture found rotated by a small angle in the region (``deskewed``)
    was turned back first: ``rotate(-4.0)`` (degrees counter-clockwise, one decimal: the
    region shows the picture rotated 4 degrees counter-clockwise), ``rotate(-4.0)+mirror``
    (`vangnet.signals.regions.RegionHash.transform`). ``frame_time`` (seconds) when a banked
    photo was found in a frame of a query video, ``inliers`` when the match was found by the
    wider net: a candidate beyond the bank's threshold (``distance``) that local features
    verified, with this many agreeing keypoints (`vangnet.signals.features`); ``crop`` (left,
    top, width, height as fractions of the banked picture) when the candidate was one of the
    banked picture's standard crops (`vangnet.signals.crops`; ``distance`` is then the
    crop's). Each is left
    out of the JSON when not set."""

    bank: str
    content_id: int
    signal_type: str
    distance: int
    category: str | None  # "profile:code", e.g. "vics:1"
    signal_id: int
    # vPDQ only: share (%) of query frames / banked frames that matched
    query_match_pct: float | None = None
    index_match_pct: float | None = None
    region: Box | None = None
    transform: str | None = None
    inliers: int | None = None
    #: A banked photo found in a frame of a query video: that frame's time (seconds).
    frame_time: float | None = None
    crop: tuple[float, float, float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The one JSON shape of a match (``vangnet match --json``, ``/v1/match``, ...)."""
        data = asdict(self)
        if self.query_match_pct is None:
            del data["query_match_pct"], data["index_match_pct"]
        if self.region is None:
            del data["region"]
        if self.transform is None:
            del data["transform"]
        if self.inliers is None:
            del data["inliers"]
        if self.frame_time is None:
            del data["frame_time"]
        if self.crop is None:
            del data["crop"]
        else:
            data["crop"] = [round(v, 4) for v in self.crop]
        return data


@dataclass(frozen=True, slots=True)
class Matched:
    """The matches of one file, and how many banked items the wider net left unverified
    because its budget (``match_verify_max``) was spent: they might have matched."""

    matches: tuple[Match, ...]
    unverified: int = 0


@dataclass(frozen=True, slots=True)
class Lookup:
    """The answer for one hashed file: its hashes and the banked items they matched (per
    signal type, and for a video per frame signal, in the order the matcher found them).
    ``unverified``: banked items within the wider net left unverified because
    ``match_verify_max`` was spent (0: none; they might have matched)."""

    hashes: Hashes
    matches: tuple[Match, ...]
    unverified: int = 0

    def match_dicts(self) -> list[dict[str, Any]]:
        return [m.to_dict() for m in self.matches]

    def to_json(self) -> dict[str, Any]:
        """The ``/v1/match`` object: ``{"hashes": {...}, "matches": [...],
        "unverified": n}``."""
        return {
            "hashes": self.hashes.to_json(),
            "matches": self.match_dicts(),
            "unverified": self.unverified,
        }

    def to_json_line(self) -> dict[str, Any]:
        """A line of ``vangnet match --json``: the hashes' keys, then ``matches`` and
        ``unverified``."""
        return {
            **self.hashes.to_json(),
            "matches": self.match_dicts(),
            "unverified": self.unverified,
        }
