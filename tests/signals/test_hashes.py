"""`Hashes`: the typed result of hashing one file, and the one place its JSON is made.

`Hashes.to_json()` must render today's object of ``vangnet hash --json`` exactly (same keys,
same order, same values), and `Hashes.from_json` read it back; checked on a photo, an animated
image and videos (with and without bars, with regions) from ../shared/data.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from vangnet.config import get_settings
from vangnet.errors import ValidationError
from vangnet.match.results import Lookup, Match
from vangnet.media.image import decode_image
from vangnet.signals.base import ContentType
from vangnet.signals.hashes import Hashes, ImageFrame
from vangnet.signals.hashing import hash_bytes, hash_file
from vangnet.signals.pdq import PdqSignal, dihedral_hashes, hash_image
from vangnet.signals.vpdq import VpdqSignal, frame_dicts, hash_video_variants, serialize

PHOTO = "threatexchange/pdq/data/bridge-mods/aaa-orig.jpg"
VIDEOS = "threatexchange/video/sample-videos"


def _digests(data: bytes) -> dict[str, str]:
    return {
        "md5": hashlib.md5(data).hexdigest(),
        "sha1": hashlib.sha1(data).hexdigest(),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


def _same(hashes: Hashes, expected: dict[str, Any]) -> None:
    """Same keys in the same order, same values, and a lossless round trip through JSON."""
    out = hashes.to_json()
    assert list(out) == list(expected)
    assert out == expected
    assert json.dumps(out) == json.dumps(expected)
    assert Hashes.from_json(json.loads(json.dumps(out))) == hashes


def test_photo(shared_data: Path) -> None:
    path = shared_data / PHOTO
    data = path.read_bytes()
    picture = decode_image(data)[0]
    pdq, quality = PdqSignal.hash_picture(picture)
    expected: dict[str, Any] = {
        "path": str(path),
        "content_type": "photo",
        **_digests(data),
        "pdq": pdq,
        "pdq_quality": quality,
    }
    hashes = hash_file(path, settings=get_settings())
    assert hashes.content_type is ContentType.PHOTO and hashes.value("pdq") == pdq
    assert hashes.quality("pdq") == quality and not hashes.dihedral and not hashes.frames
    _same(hashes, expected)
    assert hashes.signal_values() == {k: expected[k] for k in ("md5", "sha1", "sha256", "pdq")}

    turned = hash_file(path, settings=get_settings(), dihedral=True)
    variants = dihedral_hashes(picture)[0]
    _same(turned, {**expected, "pdq_dihedral": variants})
    assert turned.dihedral[0] == pdq and turned.signal_values() == hashes.signal_values()


def test_animated_image(shared_data: Path) -> None:
    """A GIF of three frames made in memory from a photo of ../shared/data."""
    photo = Image.open(shared_data / PHOTO).convert("RGB").resize((96, 64))
    frames = [photo, photo.rotate(90), photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    data = buf.getvalue()
    pictures = decode_image(data, all_frames=True)
    assert len(pictures) == 3
    each = [hash_image(p) for p in pictures]
    pdq, quality = PdqSignal.hash_picture(pictures[0])
    first = {"path": "-", "content_type": "photo", **_digests(data)}
    first.update({"pdq": pdq, "pdq_quality": quality})
    expected = {
        **first,
        "frames": [{"frame": i, "pdq": h, "quality": q} for i, (h, q) in enumerate(each)],
    }
    hashes = hash_bytes(data, settings=get_settings(), all_frames=True)
    assert hashes.frames[2] == ImageFrame(2, *each[2])
    _same(hashes, expected)
    _same(hash_bytes(data, settings=get_settings()), first)  # without all_frames: no frames


@pytest.mark.parametrize(
    ("name", "regions", "cropped"),
    [
        ("doorknob-hd-no-bar.mp4", False, False),
        ("chair-19-sd-bar.mp4", True, True),
    ],
)
def test_video(shared_data: Path, name: str, regions: bool, cropped: bool) -> None:
    path = shared_data / VIDEOS / name
    data = path.read_bytes()
    settings = get_settings().model_copy(update={"video_regions": regions})
    video = hash_video_variants(data, fps=settings.video_fps, regions=regions)
    expected: dict[str, Any] = {
        "path": str(path),
        "content_type": "video",
        **_digests(data),
        "vpdq": frame_dicts(video.frames),
    }
    if cropped:
        assert video.cropped is not None
        expected["vpdq_cropped"] = frame_dicts(video.cropped)
    if regions:
        expected["vpdq_regions"] = frame_dicts(video.regions)
    hashes = hash_file(path, settings=settings)
    assert hashes.content_type is ContentType.VIDEO and "pdq" not in hashes.values
    assert list(hashes.video_frames["vpdq"]) == video.frames
    assert list(expected["vpdq"][0]) == ["frame", "timestamp", "pdq", "quality"]
    _same(hashes, expected)
    values = hashes.signal_values()
    assert values["vpdq"] == VpdqSignal.serialize(video.frames)
    if regions:
        assert values["vpdq_regions"] == serialize(video.regions)
    assert set(values) == {"md5", "sha1", "sha256", *hashes.video_frames}


def test_dict_access_reads_the_json(shared_data: Path) -> None:
    """Code written against the dict `hash_file` returned keeps working (read-only)."""
    hashes = hash_file(shared_data / PHOTO, settings=get_settings())
    out = hashes.to_json()
    assert hashes["pdq"] == out["pdq"] and hashes.get("frames") is None
    assert "pdq_quality" in hashes and "vpdq" not in hashes
    assert set(hashes) == set(out) and dict(hashes) == out


def test_from_json_refuses_other_shapes() -> None:
    for bad in (
        {},
        {"path": "x", "content_type": "audio"},
        {"path": "x", "content_type": "photo", "md5": 5},
        {"path": "x", "content_type": "video", "vpdq": [{"frame": 0}]},
    ):
        with pytest.raises(ValidationError):
            Hashes.from_json(bad)


def test_lookup_renders_the_cli_line_and_the_api_object(shared_data: Path) -> None:
    hashes = hash_file(shared_data / PHOTO, settings=get_settings())
    match = Match("DEMO", 7, "pdq", 3, "vics:1", 11)
    lookup = Lookup(hashes, (match,))
    assert lookup.to_json() == {
        "hashes": hashes.to_json(),
        "matches": [match.to_dict()],
        "unverified": 0,
    }
    line = lookup.to_json_line()
    assert list(line) == [*hashes.to_json(), "matches", "unverified"]
    assert Lookup(hashes, (match,), 2).to_json_line()["unverified"] == 2
    assert line == {**hashes.to_json(), "matches": [match.to_dict()], "unverified": 0}
