"""A photo's metadata, put together from its EXIF, XMP, GPS, device and thumbnail."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from PIL import ExifTags

from vangnet.media.image import quiet_pillow
from vangnet.signals.base import ContentType
from vangnet.triage import geo
from vangnet.triage.metadata.device import photo_device
from vangnet.triage.metadata.exif import (
    Exif,
    exif_tags,
    exif_time,
    open_exif,
    read_exif,
    read_orientation,
)
from vangnet.triage.metadata.gps import exif_gps, xmp_gps
from vangnet.triage.metadata.models import Device, Document, Gps, Metadata, Timestamp
from vangnet.triage.metadata.thumbnail import main_picture_pdq, read_thumbnail
from vangnet.triage.metadata.values import MAX_TAGS, Problems, clean_text, dedupe, infer_offset
from vangnet.triage.metadata.xmp import Xmp, read_xmp, xmp_time
from vangnet.triage.tuning import MetadataOptions

#: (captured, modified, all times)
Times = tuple[Timestamp | None, Timestamp | None, tuple[Timestamp, ...]]


def photo_times(
    ex: Exif, xmp: Xmp | None, gps: Gps | None, problems: Problems, *, gps_tolerance: timedelta
) -> Times:
    """(captured, modified, all times) of a photo; an offset is inferred from the GPS clock
    when the two agree within ``gps_tolerance`` of a whole quarter hour."""
    base = ExifTags.Base
    original = exif_time(
        ex, base.DateTimeOriginal, base.OffsetTimeOriginal, base.SubsecTimeOriginal, problems
    )
    digitized = exif_time(
        ex, base.DateTimeDigitized, base.OffsetTimeDigitized, base.SubsecTimeDigitized, problems
    )
    changed = exif_time(ex, base.DateTime, base.OffsetTime, base.SubsecTime, problems)
    xmp_original = xmp_time(xmp, "exif:DateTimeOriginal", problems)
    xmp_created = xmp_time(xmp, "photoshop:DateCreated", problems)
    xmp_create = xmp_time(xmp, "xmp:CreateDate", problems)
    xmp_modify = xmp_time(xmp, "xmp:ModifyDate", problems)
    xmp_metadata = xmp_time(xmp, "xmp:MetadataDate", problems)
    gps_time = (
        Timestamp(source="exif:GPSDateStamp", local=None, utc=gps.timestamp)
        if gps is not None and gps.timestamp is not None
        else None
    )
    inferred: timedelta | None = None
    reference = original or digitized
    if reference is not None and reference.local is not None and gps_time is not None:
        assert gps_time.utc is not None
        inferred = infer_offset(reference.local, gps_time.utc, gps_tolerance)

    def with_inferred(stamp: Timestamp | None) -> Timestamp | None:
        if stamp is None or stamp.offset is not None or inferred is None:
            return stamp
        return replace(stamp, inferred_offset=inferred)

    original, digitized, changed = (with_inferred(t) for t in (original, digitized, changed))
    everything = (
        original,
        digitized,
        changed,
        gps_time,
        xmp_original,
        xmp_created,
        xmp_create,
        xmp_modify,
        xmp_metadata,
    )
    times = tuple(t for t in everything if t is not None)
    captured = original or xmp_original or xmp_created or digitized or xmp_create
    return captured, changed or xmp_modify, times


def read_photo(data: bytes, fmt: str, pdq: str | None, options: MetadataOptions) -> Metadata:
    problems = Problems()
    attempt = problems.attempt
    exif, tiff, size = open_exif(data, problems)
    with quiet_pillow():
        ex = read_exif(exif, tiff, problems)
    xmp = read_xmp(data, problems)
    x = xmp.values if xmp is not None else {}
    gps = attempt("EXIF GPS", lambda: exif_gps(ex.gps, problems), None)
    if gps is None and xmp is not None:
        gps = attempt("XMP GPS", lambda: xmp_gps(xmp, problems), None)
    no_times: Times = (None, None, ())
    tolerance = timedelta(minutes=options.gps_offset_minutes)

    def times_of() -> Times:
        return photo_times(ex, xmp, gps, problems, gps_tolerance=tolerance)

    times = attempt("times", times_of, no_times)
    orientation = read_orientation(ex, problems)

    def main_pdq() -> str | None:
        if pdq is not None or size is None:
            return pdq
        return main_picture_pdq(data, problems)

    with quiet_pillow():
        thumbnail = attempt(
            "EXIF thumbnail",
            lambda: read_thumbnail(
                ex, orientation, main_pdq, problems, min_quality=options.thumbnail_min_quality
            ),
            None,
        )
    software = [
        clean_text(ex.ifd0.get(ExifTags.Base.Software), "Software", problems),
        x.get("xmp:CreatorTool"),
        *(h.software for h in (xmp.history if xmp is not None else ())),
    ]
    document = Document(
        creator_tool=x.get("xmp:CreatorTool"),
        image_unique_id=clean_text(
            ex.exif.get(ExifTags.Base.ImageUniqueID), "ImageUniqueID", problems
        ),
        document_id=x.get("xmpMM:DocumentID"),
        original_document_id=x.get("xmpMM:OriginalDocumentID"),
        instance_id=x.get("xmpMM:InstanceID"),
        history=xmp.history if xmp is not None else (),
    )
    tags: list[tuple[str, str]] = attempt("EXIF tags", lambda: exif_tags(ex), [])
    tags += [(f"xmp:{k}", v) for k, v in x.items()]
    return Metadata(
        kind=ContentType.PHOTO,
        format=fmt,
        width=size[0] if size else None,
        height=size[1] if size else None,
        orientation=orientation,
        captured=times[0],
        modified=times[1],
        times=times[2],
        gps=gps,
        place=None if gps is None else geo.place(gps.latitude, gps.longitude),
        device=attempt("device", lambda: photo_device(ex, xmp, problems), Device()),
        software=dedupe([s for s in software if s]),
        document=document if document != Document() else None,
        thumbnail=thumbnail,
        tags=tuple(tags[:MAX_TAGS]),
        problems=tuple(problems.items),
    )
