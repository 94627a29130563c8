"""How a match was found, as a case keeps it (``case_matches.found``, the case document's
``matches[].found``): `provenance` of a `Match`, `region_of` it, and `describe` in words.

A match of the whole picture as given has nothing to say (``{}``). A match found in a region
of the picture, under a rotation or flip, or confirmed by local features says so with the
keys of `Match.to_dict` beyond the standard ones (`STANDARD_MATCH_KEYS`): ``region``
(``[x, y, w, h]`` in the matched picture's own pixels, EXIF orientation applied),
``transform`` (``identity``, ``rot90``, ``mirror``, ...), ``inliers`` (local features that
agreed) and whatever a later matcher adds. Stored as it was found: a key added later is kept
and shown too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vangnet.match.results import Match

#: The keys of `Match.to_dict` that say *what* matched; every other key says how.
STANDARD_MATCH_KEYS = frozenset(
    {
        "bank",
        "content_id",
        "signal_type",
        "distance",
        "category",
        "signal_id",
        "query_match_pct",
        "index_match_pct",
    }
)


def provenance(match: Match | None) -> dict[str, Any]:
    """How ``match`` was found (see the module docstring); ``{}`` for a match of the whole
    picture as given, or for no match."""
    if match is None:
        return {}
    found = {k: v for k, v in match.to_dict().items() if k not in STANDARD_MATCH_KEYS}
    region = found.get("region")
    if isinstance(region, Mapping):
        found["region"] = [int(region[k]) for k in ("x", "y", "w", "h")]
    return found


def region_of(found: Mapping[str, Any] | None) -> tuple[int, int, int, int] | None:
    """The ``region`` of a stored ``found`` (``[x, y, w, h]``), or of a match's JSON
    (`Match.to_dict`: ``{"x", "y", "w", "h"}``, as triage keeps it), as (x, y, w, h); None
    when it has none (or a malformed one: a region that cannot be drawn is not drawn), or
    when it is a region of one frame of a video (``frame_time``): a preview shows another
    frame, where it would be drawn in the wrong place."""
    if (found or {}).get("frame_time") is not None:
        return None
    raw = (found or {}).get("region")
    if isinstance(raw, Mapping):
        raw = [raw.get(k) for k in ("x", "y", "w", "h")]
    if not isinstance(raw, list | tuple) or len(raw) != 4:
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in raw):
        return None
    x, y, w, h = raw
    if x < 0 or y < 0 or w <= 0 or h <= 0:
        return None
    return x, y, w, h


def describe(found: Mapping[str, Any] | None) -> str:
    """``found`` in words: ``"region 240x160 at (696, 456), transform identity, 57 inliers"``;
    ``"whole picture"`` when empty."""
    if not found:
        return "whole picture"
    parts = []
    region = region_of({k: v for k, v in found.items() if k != "frame_time"})
    if region is not None:
        x, y, w, h = region
        parts.append(f"region {w}x{h} at ({x}, {y})")
    for key, value in found.items():
        if key == "region":
            continue
        if key == "inliers":
            parts.append(f"{value} inliers")
        else:
            parts.append(f"{key.replace('_', ' ')} {value}")
    return ", ".join(parts) or "whole picture"
