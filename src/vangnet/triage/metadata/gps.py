"""GPS fixes from EXIF (degrees / minutes / seconds with N/S/E/W refs, the GPS clock),
XMP (``DDD,MM.mmk``) and QuickTime (ISO 6709), checked against impossible positions and
0,0 ("null island")."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from PIL import ExifTags

from vangnet.triage import geo
from vangnet.triage.metadata.models import Gps
from vangnet.triage.metadata.values import Problems, as_number, clean_text
from vangnet.triage.metadata.xmp import Xmp

_XMP_COORD = re.compile(r"(\d{1,3}),(\d{1,2}(?:\.\d+)?)(?:,(\d{1,2}(?:\.\d+)?))?([NSEW])")


def _xmp_coordinate(text: str, axis: str) -> float:
    """XMP ``DDD,MM.mmk`` / ``DDD,MM,SSk`` (k = N/S/E/W) as signed degrees."""
    match = _XMP_COORD.fullmatch(text.strip().upper())
    if not match or match.group(4) not in axis:
        raise ValueError(f"not an XMP {'latitude' if axis == 'NS' else 'longitude'}: {text!r}")
    deg, minutes, seconds, ref = match.groups()
    value = int(deg) + float(minutes) / 60 + float(seconds or 0) / 3600
    return -value if ref in "SW" else value


def rational_text(text: str) -> float | None:
    num, _, den = text.partition("/")
    try:
        value = float(num) / float(den) if den else float(num)
    except (ValueError, ZeroDivisionError):
        return None
    return value if math.isfinite(value) else None


def xmp_gps(xmp: Xmp, problems: Problems) -> Gps | None:
    lat_text, lon_text = xmp.values.get("exif:GPSLatitude"), xmp.values.get("exif:GPSLongitude")
    if not lat_text or not lon_text:
        return None
    try:
        lat, lon = _xmp_coordinate(lat_text, "NS"), _xmp_coordinate(lon_text, "EW")
    except ValueError as exc:
        problems.add(f"XMP GPS dropped: {exc}")
        return None
    altitude = rational_text(xmp.values.get("exif:GPSAltitude", ""))
    if altitude is not None and xmp.values.get("exif:GPSAltitudeRef") == "1":
        altitude = -altitude
    return checked_gps(
        Gps(source="xmp", latitude=lat, longitude=lon, altitude_m=altitude), problems
    )


def checked_gps(gps: Gps, problems: Problems) -> Gps | None:
    """``gps`` rounded to 7 decimals (about 1 cm), flagged at 0,0, or None when unusable."""
    issue = geo.coordinate_issue(gps.latitude, gps.longitude)
    if issue is None or issue is geo.CoordinateIssue.NULL_ISLAND:
        gps = replace(gps, latitude=round(gps.latitude, 7), longitude=round(gps.longitude, 7))
    if issue is geo.CoordinateIssue.NULL_ISLAND:
        problems.add(f"{gps.source} GPS is 0,0 ('null island'): usually a device without a fix")
        return replace(gps, null_island=True)
    if issue is not None:
        problems.add(
            f"{gps.source} GPS dropped: {issue.value} ({gps.latitude!r}, {gps.longitude!r})"
        )
        return None
    return gps


def _ref(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if isinstance(value, str):
        text = value.strip("\x00 ").upper()
        return text or None
    return None


def _dms(value: Any, ref_value: Any, axis: str, problems: Problems) -> float | None:
    """EXIF degrees / minutes / seconds (or a single decimal value) with its N/S/E/W ref."""
    label = "latitude" if axis == "NS" else "longitude"
    parts = value if isinstance(value, tuple) else (value,)
    numbers = [as_number(p) for p in parts[:3]]
    if not numbers or any(n is None for n in numbers):
        problems.add(f"EXIF GPS {label} is malformed ({value!r}); GPS dropped")
        return None
    deg, minutes, seconds = [n or 0.0 for n in [*numbers, 0.0, 0.0][:3]]
    degrees = abs(deg) + abs(minutes) / 60 + abs(seconds) / 3600
    if deg < 0:
        degrees = -degrees
    ref = _ref(ref_value)
    if ref is None:
        problems.add(f"EXIF GPS {label} has no reference ({axis[0]}/{axis[1]}); assumed {axis[0]}")
    elif ref[:1] not in axis:
        problems.add(f"EXIF GPS {label} reference {ref!r} is not {axis[0]}/{axis[1]}; GPS dropped")
        return None
    elif ref[:1] == axis[1]:
        degrees = -abs(degrees)
    return degrees


def _gps_time(gps: Mapping[int, Any], problems: Problems) -> datetime | None:
    date_text = clean_text(gps.get(ExifTags.GPS.GPSDateStamp), "GPSDateStamp", problems)
    time_value = gps.get(ExifTags.GPS.GPSTimeStamp)
    if not date_text or time_value is None:
        return None
    parts = time_value if isinstance(time_value, tuple) else (time_value,)
    numbers = [as_number(p) for p in parts]
    match = re.fullmatch(r"(\d{4})[:\-](\d{2})[:\-](\d{2})", date_text)
    if len(numbers) != 3 or any(n is None for n in numbers) or not match:
        problems.add(f"EXIF GPS date/time is malformed ({date_text!r}, {time_value!r}); ignored")
        return None
    hours, minutes, seconds = (float(n) for n in numbers if n is not None)
    if not (0 <= hours < 24 and 0 <= minutes < 60 and 0 <= seconds < 61):
        problems.add(f"EXIF GPS time is out of range ({time_value!r}); ignored")
        return None
    try:
        day = datetime(int(match[1]), int(match[2]), int(match[3]), tzinfo=UTC)
    except ValueError:
        problems.add(f"EXIF GPS date is not a date ({date_text!r}); ignored")
        return None
    try:
        return day + timedelta(hours=hours, minutes=minutes, seconds=seconds)
    except OverflowError:  # 9999-12-31 plus a leap second
        problems.add(f"EXIF GPS date/time is past the calendar ({date_text!r}); ignored")
        return None


def exif_gps(gps: Mapping[int, Any], problems: Problems) -> Gps | None:
    lat_value, lon_value = gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLongitude)
    if lat_value is None and lon_value is None:
        return None
    if lat_value is None or lon_value is None:
        problems.add("EXIF GPS has only one of latitude / longitude; GPS dropped")
        return None
    lat = _dms(lat_value, gps.get(ExifTags.GPS.GPSLatitudeRef), "NS", problems)
    lon = _dms(lon_value, gps.get(ExifTags.GPS.GPSLongitudeRef), "EW", problems)
    if lat is None or lon is None:
        return None
    altitude = as_number(gps.get(ExifTags.GPS.GPSAltitude))
    alt_ref = gps.get(ExifTags.GPS.GPSAltitudeRef)
    if isinstance(alt_ref, bytes):
        alt_ref = alt_ref[:1] == b"\x01"
    if altitude is not None and (alt_ref is True or alt_ref == 1):
        altitude = -altitude
    direction = as_number(gps.get(ExifTags.GPS.GPSImgDirection))
    if direction is not None and not 0 <= direction <= 360:
        problems.add(f"EXIF GPS image direction {direction} is out of range; ignored")
        direction = None
    accuracy = as_number(gps.get(ExifTags.GPS.GPSHPositioningError))
    return checked_gps(
        Gps(
            source="exif",
            latitude=lat,
            longitude=lon,
            altitude_m=altitude,
            direction_deg=direction,
            direction_ref=(
                _ref(gps.get(ExifTags.GPS.GPSImgDirectionRef)) if direction is not None else None
            ),
            accuracy_m=accuracy if accuracy is not None and accuracy >= 0 else None,
            timestamp=_gps_time(gps, problems),
        ),
        problems,
    )


_ISO6709 = re.compile(
    r"([+-]\d{2,6}(?:\.\d+)?)([+-]\d{3,7}(?:\.\d+)?)([+-]\d+(?:\.\d+)?)?(?:CRS[^/]*)?/?"
)


def _iso6709_part(text: str, degree_digits: int) -> float:
    """One ISO 6709 coordinate: ±DD[D].d, ±DD[D]MM.m or ±DD[D]MMSS.s."""
    sign = -1.0 if text[0] == "-" else 1.0
    whole, _, fraction = text[1:].partition(".")
    frac = float(f"0.{fraction}") if fraction else 0.0
    extra = len(whole) - degree_digits
    if extra == 0:
        value = int(whole) + frac
    elif extra == 2:
        value = int(whole[:degree_digits]) + (int(whole[degree_digits:]) + frac) / 60
    elif extra == 4:
        minutes = int(whole[degree_digits : degree_digits + 2])
        value = int(whole[:degree_digits]) + minutes / 60 + (int(whole[-2:]) + frac) / 3600
    else:
        raise ValueError(f"not an ISO 6709 coordinate: {text!r}")
    return sign * value


def parse_iso6709(text: str) -> tuple[float, float, float | None]:
    """``+52.3702+004.8952+000.000/`` (or the DDMM / DDMMSS forms) as (lat, lon, altitude).
    Raises ValueError when malformed."""
    match = _ISO6709.fullmatch(text.strip())
    if not match:
        raise ValueError(f"not an ISO 6709 location: {text!r}")
    lat_text, lon_text, alt_text = match.groups()
    altitude = float(alt_text) if alt_text else None
    return _iso6709_part(lat_text, 2), _iso6709_part(lon_text, 3), altitude
