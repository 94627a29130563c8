"""Operating points of the matcher's lookup kinds, measured by a benchmark at a target precision.

`vangnet match` looks a photo up in several ways: the whole picture, its dihedral variants
(rotated, mirrored) and the regions that may hold another picture (`vangnet.signals.regions`),
each region with its variants. Every extra lookup is another chance for an unrelated banked
picture to come near, so each kind gets its own operating point: the largest distance at which
its matches keep the target precision (99.9 %) on the robustness benchmark
(``scripts/bench --only robustness --calibrate FILE``: 300 banked photos, 15 transforms of each,
more than 10,000 distractor pictures with the same transforms). A match of a variant or a region
is kept only within both its bank's threshold and its kind's point; a whole-picture match is
held to its bank's threshold alone (the bank's own data: Meta's 31 by default).

The points ship with Vangnet (``operating_points.json``, from the run its ``measured`` field
names); a deployment with its own benchmark data sets ``VANGNET_MATCH_CALIBRATION`` to the file
its run wrote. A file that cannot be read, or says something impossible, is refused when the
settings load.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

#: The kinds of lookup a photo's PDQ is matched by (`vangnet.match.service`).
Kind = Literal["whole", "variant", "region"]
KINDS: tuple[Kind, ...] = ("whole", "variant", "region")
#: The file shipped with Vangnet.
SHIPPED = "operating_points.json"
FORMAT = "vangnet-operating-points/1"


class CalibrationError(ValueError):
    """A calibration file that cannot be used (unreadable, malformed, impossible values)."""


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    """One kind's point: matches at a distance up to ``threshold`` are kept. ``measured``: what
    the benchmark saw at it (recall, false positives, ...), for people, not for the matcher."""

    threshold: int
    measured: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Calibration:
    """Per signal type and kind, its operating point; ``target_precision`` and ``source`` (the
    command and run that measured them) say where they come from."""

    target_precision: float
    source: str
    points: dict[str, dict[Kind, OperatingPoint]]

    def cap(self, signal_type: str, kind: Kind) -> int | None:
        """The most distance a ``kind`` match of ``signal_type`` may have; None: no point
        measured (the bank's threshold alone decides)."""
        point = self.points.get(signal_type, {}).get(kind)
        return None if point is None else point.threshold

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "target_precision": self.target_precision,
            "source": self.source,
            "points": {
                t: {k: {"threshold": p.threshold, **p.measured} for k, p in kinds.items()}
                for t, kinds in self.points.items()
            },
        }


def parse(data: Any) -> Calibration:
    """A `Calibration` from its JSON object; `CalibrationError` saying what is wrong."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CalibrationError(f"not a calibration file (format {FORMAT!r} expected)")
    target = data.get("target_precision")
    if not isinstance(target, int | float) or not 0.5 <= float(target) < 1.0:
        raise CalibrationError("target_precision must be a number in [0.5, 1)")
    source = data.get("source")
    if not isinstance(source, str) or not source.strip():
        raise CalibrationError("source must name the command and run that measured the points")
    points_in = data.get("points")
    if not isinstance(points_in, dict):
        raise CalibrationError("points must be an object: {signal type: {kind: {threshold}}}")
    points: dict[str, dict[Kind, OperatingPoint]] = {}
    for signal_type, kinds in points_in.items():
        if not isinstance(kinds, dict):
            raise CalibrationError(f"points.{signal_type} must be an object of kinds")
        mine: dict[Kind, OperatingPoint] = {}
        for kind, point in kinds.items():
            if kind not in KINDS:
                raise CalibrationError(f"points.{signal_type}: unknown kind {kind!r} ({KINDS})")
            threshold = point.get("threshold") if isinstance(point, dict) else None
            if isinstance(threshold, bool) or not isinstance(threshold, int):
                raise CalibrationError(f"points.{signal_type}.{kind}.threshold: an integer")
            if not 0 <= threshold <= 256:
                raise CalibrationError(f"points.{signal_type}.{kind}.threshold: 0-256")
            measured = {k: v for k, v in point.items() if k != "threshold"}
            mine[kind] = OperatingPoint(threshold, measured)
        points[str(signal_type)] = mine
    return Calibration(float(target), source, points)


def read(path: Path) -> Calibration:
    """The calibration in ``path``; `CalibrationError` when it cannot be read or used."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise CalibrationError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise CalibrationError(f"{path} is not JSON: {error}") from None
    try:
        return parse(data)
    except CalibrationError as error:
        raise CalibrationError(f"{path}: {error}") from None


@lru_cache(maxsize=8)
def _cached(path: str | None, _version: tuple[int, int]) -> Calibration:
    if path is not None:
        return read(Path(path))
    shipped = resources.files("vangnet").joinpath(SHIPPED)
    return parse(json.loads(shipped.read_text(encoding="utf-8")))


def load(path: Path | None) -> Calibration:
    """The deployment's calibration (``path``, the ``match_calibration`` setting) or, when
    none is set, the one shipped with Vangnet; read again only when the file changed."""
    if path is None:
        return _cached(None, (0, 0))
    try:
        stat = path.stat()
    except OSError as error:
        raise CalibrationError(f"cannot read {path}: {error.strerror or error}") from None
    return _cached(str(path), (stat.st_mtime_ns, stat.st_size))
