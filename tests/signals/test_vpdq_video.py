"""vPDQ: reference comparison, serialization, matching, bad video input."""

from __future__ import annotations

import csv
import io
import json
from functools import cache
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from conftest import install_media_limits
from vangnet.config import get_settings, reset_settings
from vangnet.errors import (
    EmptyInputError,
    InvalidHashError,
    MediaError,
    MediaTooLargeError,
    UnsupportedMediaError,
)
from vangnet.signals.hashing import hash_bytes, hash_file
from vangnet.signals.pdq import pdq_distance
from vangnet.signals.vpdq import (
    REGIONS,
    VpdqFrame,
    VpdqMatch,
    VpdqSignal,
    frames_of,
    hash_video,
    parse,
    serialize,
    vpdq_match,
)

VIDEOS = "threatexchange/video/sample-videos"
REFERENCE = "threatexchange/video/vpdq-hashes"


@cache
def _hashed(path: Path, fps: float | None, crop_bars: bool) -> tuple[VpdqFrame, ...]:
    return tuple(hash_video(path.read_bytes(), fps=fps, crop_bars=crop_bars))


def hashed(path: Path, fps: float | None = None, *, crop_bars: bool = True) -> list[VpdqFrame]:
    """Each video is decoded and hashed once per test session (per fps / crop setting)."""
    return list(_hashed(path, fps, crop_bars))


@cache
def hashed_file(path: Path, *, for_bank: bool) -> dict[str, Any]:
    """`hash_file` as a query (1 fps) or as `vangnet bank add` hashes (every frame)."""
    return hash_file(path, for_bank=for_bank, settings=get_settings())


def reference(root: Path, stem: str) -> dict[int, str]:
    lines = (root / REFERENCE / f"{stem}.txt").read_text().split()
    return {int(n): h for n, _q, h, _t in (line.split(",") for line in lines)}


@pytest.mark.parametrize(
    ("stem", "min_share"),
    [("chair-orig-22-sd-bar", 1.0), ("pattern-hd-no-bar", 1.0), ("doorknob-hd-no-bar", 0.75)],
)
def test_frames_agree_with_meta_reference(shared_data: Path, stem: str, min_share: float) -> None:
    """Without bar cropping the frames are Meta's vPDQ; cropping leaves bar-less videos
    alone (their hashes are identical) but moves barred ones away from the reference."""
    ours = hashed(shared_data / VIDEOS / f"{stem}.mp4", crop_bars=False)
    ref = reference(shared_data, stem)
    assert [f.frame for f in ours] == list(range(0, len(ref), 30))
    assert all(f.timestamp == pytest.approx(f.frame / 30) for f in ours)
    share = sum(pdq_distance(f.pdq, ref[f.frame]) <= 31 for f in ours) / len(ours)
    assert share >= min_share
    cropped = hashed(shared_data / VIDEOS / f"{stem}.mp4")
    if "no-bar" in stem:
        assert cropped == ours
    else:  # measured: 0 of 23 frames within 31 of the reference once the bars are cut
        assert sum(pdq_distance(f.pdq, ref[f.frame]) <= 31 for f in cropped) < len(cropped)


def _pairs(root: Path, group: str) -> list[tuple[str, str]]:
    with (root / "near_duplicates.csv").open() as f:
        return [(r["query"], r["reference"]) for r in csv.DictReader(f) if r["group"] == group]


#: Measured shares (query %, bank %) of the whole-frame vPDQ (the best of vpdq and
#: vpdq_cropped against both, as the matcher compares them) and of the half-frame regions,
#: query at 1 fps, bank hashed as `vangnet bank add` does (every frame, near-repeats dropped).
TMK_SHARES = {
    "chair-19-sd-bar.mp4": ((100.0, 82.6), (100.0, 82.6)),  # trimmed 3.7 s, out of phase
    "chair-20-sd-bar.mp4": ((100.0, 100.0), (100.0, 100.0)),
    "chair-22-sd-grey-bar.mp4": ((100.0, 100.0), (100.0, 100.0)),
    "chair-22-sd-sepia-bar.mp4": ((100.0, 100.0), (100.0, 100.0)),
    # 95.7 % cropped against cropped; the standard (whole) frames, bars and all, match fully
    "chair-22-with-small-logo-bar.mp4": ((100.0, 100.0), (100.0, 100.0)),
    "chair-22-with-large-logo-bar.mp4": ((8.7, 17.4), (100.0, 100.0)),  # logo: halves only
    "pattern-longer-no-bar.mp4": ((87.5, 85.7), (87.5, 85.7)),  # 8th s is past the bank's end
    "pattern-sd-grey-bar.mp4": ((100.0, 100.0), (100.0, 100.0)),
    "pattern-sd-with-small-logo-bar.mp4": ((100.0, 100.0), (100.0, 100.0)),
    "pattern-sd-with-large-logo-bar.mp4": ((0.0, 0.0), (100.0, 100.0)),  # logo: halves only
}


def _content(hashed: dict[str, Any]) -> list[list[VpdqFrame]]:
    """The frame lists the matcher compares: the standard vPDQ and the bar-cropped one."""
    return [frames_of(hashed[k]) for k in ("vpdq", "vpdq_cropped") if k in hashed]


def _shares(query: Path, banked: Path) -> tuple[VpdqMatch, VpdqMatch]:
    """Whole frames as the matcher compares them (each of vpdq and vpdq_cropped against
    both, the best query share) and the half-frames."""
    q, b = hashed_file(query, for_bank=False), hashed_file(banked, for_bank=True)
    whole = max(
        (vpdq_match(x, y) for x in _content(q) for y in _content(b)),
        key=lambda m: (m.query_match_pct, m.index_match_pct),
    )
    halves = vpdq_match(frames_of(q["vpdq_regions"]), frames_of(b["vpdq_regions"]))
    return whole, halves


@pytest.mark.parametrize("name", sorted(TMK_SHARES), ids=lambda n: n.removesuffix(".mp4"))
def test_tmk_pair_matches(shared_data: Path, name: str) -> None:
    group = "tmk_chair" if name.startswith("chair") else "tmk_pattern"
    pairs = dict(_pairs(shared_data, group))
    query = f"{VIDEOS}/{name}"
    whole, halves = _shares(shared_data / query, shared_data / pairs[query])
    assert whole.matched or halves.matched, (query, whole, halves)
    measured = (
        (round(whole.query_match_pct, 1), round(whole.index_match_pct, 1)),
        (round(halves.query_match_pct, 1), round(halves.index_match_pct, 1)),
    )
    assert measured == TMK_SHARES[name]


def test_every_tmk_pair_is_covered(shared_data: Path) -> None:
    names = {Path(q).name for g in ("tmk_chair", "tmk_pattern") for q, _ in _pairs(shared_data, g)}
    assert names == set(TMK_SHARES)


def test_tmk_negative_does_not_match(shared_data: Path) -> None:
    pairs = _pairs(shared_data, "tmk_negative")
    assert len(pairs) == 2
    for query, ref in pairs:
        for result in _shares(shared_data / query, shared_data / ref):
            assert not result.matched and result.query_match_pct == 0.0, (ref, result)


def test_bank_hashing_keeps_every_changing_frame(shared_data: Path) -> None:
    """A bank holds every frame that differs from the last one kept, with its halves."""
    banked = hashed_file(shared_data / VIDEOS / "chair-orig-22-sd-bar.mp4", for_bank=True)
    frames = frames_of(banked["vpdq"])
    assert 600 < len(frames) < 673  # 673 frames; still moments are stored once
    assert [f.frame for f in frames] == sorted({f.frame for f in frames})
    halves = frames_of(banked["vpdq_regions"])
    assert len(halves) == 4 * len(frames)
    assert {f.region for f in halves} == set(REGIONS)
    assert [f.frame for f in halves[:4]] == [frames[0].frame] * 4


def test_bank_hashing_stores_a_still_video_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """30 frames of one picture: only coding noise (measured 4-8 bits between I- and P-frames)
    separates them, so the bank keeps a handful; with dedupe off it keeps all 30."""
    data = _synthetic_video(seconds=3, fps=10, still=True)
    result = hash_bytes(data, for_bank=True, settings=get_settings())
    assert 1 <= len(result["vpdq"]) <= 3
    assert len(result["vpdq_regions"]) == 4 * len(result["vpdq"])
    monkeypatch.setenv("VANGNET_BANK_VIDEO_DEDUPE_BITS", "-1")
    reset_settings()
    assert len(hash_bytes(data, for_bank=True, settings=get_settings())["vpdq"]) == 30
    query = hash_bytes(data, settings=get_settings())  # 1 fps: 3 frames, none dropped
    assert [f["frame"] for f in query["vpdq"]] == [0, 10, 20]
    assert vpdq_match(frames_of(query["vpdq"]), frames_of(result["vpdq"])).query_match_pct == 100


def test_region_hashing_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VANGNET_VIDEO_REGIONS", "false")
    reset_settings()
    result = hash_bytes(_synthetic_video(seconds=2, fps=5, still=False), settings=get_settings())
    assert "vpdq_regions" not in result and len(result["vpdq"]) == 2


def _synthetic_video(*, seconds: int, fps: int, still: bool) -> bytes:
    """An MPEG-4 video drawn here: a textured picture, panning unless ``still``."""
    rng = np.random.default_rng(7)
    blocks = (rng.random((12, 48)) * 255).astype(np.uint8)  # large flat blocks: little coding noise
    texture = np.kron(blocks, np.ones((20, 20), dtype=np.uint8))[:, :, None].repeat(3, axis=2)
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.bit_rate = 20_000_000  # near-lossless: a still picture hashes alike throughout
        for i in range(seconds * fps):
            shift = 0 if still else 16 * i
            rgb = np.ascontiguousarray(texture[:240, shift : shift + 320])
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buf.getvalue()


def test_clip_from_the_middle_matches(shared_data: Path) -> None:
    """Frames 10-14 s of a banked video, cut from its frame list, match the whole video."""
    banked = hashed(shared_data / VIDEOS / "chair-orig-22-sd-bar.mp4")
    clip = banked[10:15]
    result = vpdq_match(clip, banked)
    assert result.matched and result.query_match_pct == 100.0
    assert 0 < result.index_match_pct < 50


def test_match_definitions() -> None:
    a, b = "0" * 64, "f" * 64
    near = "0" * 60 + "ffff"  # 16 bits from a
    query = [VpdqFrame(0, 100, a, 0.0), VpdqFrame(1, 100, a, 1.0), VpdqFrame(2, 10, b, 2.0)]
    banked = [VpdqFrame(0, 100, near, 0.0), VpdqFrame(1, 100, b, 1.0)]
    result = vpdq_match(query, banked)  # low-quality b dropped, duplicate a deduped
    assert (result.query_match_pct, result.index_match_pct, result.matched) == (100.0, 50.0, True)
    assert not vpdq_match(query, banked, index_match_pct=60.0).matched
    assert not vpdq_match(query, banked, threshold=15).matched
    assert not vpdq_match([], banked).matched


def test_serialization_is_python_threatexchange_format() -> None:
    hmaexport = json.dumps(["0" * 64 + ",100,0.0", "f" * 64 + ",87,1.0", "a" * 64 + ",50,1.23e+02"])
    assert VpdqSignal.validate(hmaexport) == hmaexport  # imports unchanged
    frames = parse(hmaexport)
    assert frames[2] == VpdqFrame(2, 50, "a" * 64, 123.0)
    assert serialize([VpdqFrame(30, 99, "B" * 64, 1.0)]).lower() == json.dumps(
        ["b" * 64 + ",99,1.0"]
    )
    assert VpdqSignal.validate(' [" ' + "A" * 64 + ' ,100,0.5"] ') == json.dumps(
        ["a" * 64 + ",100,0.5"]
    )


@pytest.mark.parametrize(
    "value",
    [
        "",
        "[]",
        "{}",
        "not json",
        '["abc,100,0"]',
        json.dumps(["0" * 64 + ",101,0"]),
        json.dumps(["0" * 64 + ",100,-1"]),
        json.dumps(["0" * 64 + ",x,0"]),
        json.dumps([1]),
    ],
)
def test_invalid_values(value: str) -> None:
    with pytest.raises(InvalidHashError):
        VpdqSignal.validate(value)


def test_signal_class() -> None:
    from vangnet.signals.base import ContentType
    from vangnet.signals.registry import get_signal_type

    assert get_signal_type("vpdq") is VpdqSignal
    assert VpdqSignal.index == "frames" and VpdqSignal.default_threshold == 31
    assert VpdqSignal.content_types == {ContentType.VIDEO}


# --- bad video input -----------------------------------------------------------------


@pytest.fixture(scope="module")
def small_video(shared_data: Path) -> bytes:
    return (shared_data / VIDEOS / "doorknob-hd-no-bar.mp4").read_bytes()


def test_truncated_mp4(small_video: bytes, capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(MediaError) as err:
        hash_video(small_video[: len(small_video) // 2])
    assert type(err.value) is MediaError and "truncated" in err.value.message
    assert capfd.readouterr() == ("", "")


def test_corrupt_mp4(capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(MediaError) as err:
        hash_video(b"\0\0\0\x20ftypisom" + b"\x13\x37" * 4000)
    assert type(err.value) is MediaError
    assert capfd.readouterr() == ("", "")


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", EmptyInputError),
        (b"random words\n" * 50, UnsupportedMediaError),
        (b"\xff\xd8\xff\xe0" + b"\0" * 100, UnsupportedMediaError),
    ],
)
def test_not_a_video(data: bytes, error: type[MediaError]) -> None:
    with pytest.raises(error):
        hash_video(data)


@pytest.mark.parametrize(
    ("setting", "value", "match"),
    [
        ("MAX_IMAGE_PIXELS", "100000", "max_image_pixels"),
        ("MAX_VIDEO_SECONDS", "2", "max_video_seconds"),
    ],
)
def test_video_limits(
    small_video: bytes, monkeypatch: pytest.MonkeyPatch, setting: str, value: str, match: str
) -> None:
    monkeypatch.setenv(f"VANGNET_{setting}", value)
    reset_settings()
    install_media_limits()
    with pytest.raises(MediaTooLargeError, match=match):
        hash_video(small_video)


def _meta_reference_frames(root: Path, stem: str) -> list[VpdqFrame]:
    lines = (root / REFERENCE / f"{stem}.txt").read_text().split()
    return [
        VpdqFrame(int(n), int(q), h, float(t)) for n, q, h, t in (line.split(",") for line in lines)
    ]


def test_bar_cropping_trade_off_against_meta_hashes(shared_data: Path) -> None:
    """Imported (Meta / HMA) vPDQ of a barred video is hashed with its bars: only an
    uncropped query matches it, while a cropped query matches Meta's hashes of the bar-less
    HD original (not in the data set). Querying both ways covers both kinds of bank."""
    query = shared_data / VIDEOS / "chair-orig-22-sd-bar.mp4"
    barred = _meta_reference_frames(shared_data, "chair-orig-22-sd-bar")
    hd = _meta_reference_frames(shared_data, "chair-orig-22-hd-no-bar")
    assert vpdq_match(hashed(query, crop_bars=False), barred).matched  # measured 100 %
    assert not vpdq_match(hashed(query), barred).matched  # measured 0 %
    assert vpdq_match(hashed(query), hd).matched  # measured 100 %
    assert not vpdq_match(hashed(query, crop_bars=False), hd).matched  # measured 0 %


def test_regions_signal_format() -> None:
    from vangnet.signals.registry import get_signal_type
    from vangnet.signals.vpdq import VpdqRegionsSignal

    assert get_signal_type("vpdq_regions") is VpdqRegionsSignal
    value = json.dumps(["A" * 64 + ",90,1.5,top", "b" * 64 + ",80,1.5, bottom"])
    canonical = VpdqRegionsSignal.validate(value)
    assert canonical == json.dumps(["a" * 64 + ",90,1.500,top", "b" * 64 + ",80,1.500,bottom"])
    frames = VpdqRegionsSignal.frames(canonical)
    assert [(f.region, f.timestamp) for f in frames] == [("top", 1.5), ("bottom", 1.5)]
    assert VpdqRegionsSignal.distance(canonical, canonical) == 0
    other = json.dumps(["a" * 64 + ",90,0.0,left"])  # same hash, another region
    assert VpdqRegionsSignal.distance(canonical, other) == 256
    with pytest.raises(InvalidHashError):
        VpdqRegionsSignal.serialize([VpdqFrame(0, 90, "a" * 64, 0.0)])  # no region


@pytest.mark.parametrize(
    "value",
    [
        json.dumps(["a" * 64 + ",90,1.5"]),  # a vPDQ value is not a regions value
        json.dumps(["a" * 64 + ",90,1.5,middle"]),
        json.dumps(["a" * 64 + ",90,1.5,top,extra"]),
        json.dumps(["a" * 64 + ",900,1.5,top"]),
    ],
)
def test_invalid_region_values(value: str) -> None:
    from vangnet.signals.vpdq import VpdqRegionsSignal

    with pytest.raises(InvalidHashError):
        VpdqRegionsSignal.validate(value)


def test_a_regions_value_is_not_a_vpdq_value() -> None:
    with pytest.raises(InvalidHashError):
        VpdqSignal.validate(json.dumps(["a" * 64 + ",90,1.5,top"]))


def test_regions_only_match_the_same_region() -> None:
    a = "0" * 64
    query = [VpdqFrame(0, 90, a, 0.0, "top")]
    assert vpdq_match(query, [VpdqFrame(0, 90, a, 0.0, "top")]).matched
    assert not vpdq_match(query, [VpdqFrame(0, 90, a, 0.0, "bottom")]).matched


def test_shares_count_seconds_not_frames() -> None:
    """A bank hashed at 30 fps and a query at 1 fps: one matched frame per second is enough."""
    hashes = [f"{i:064x}" for i in range(0, 1 << 20, 1 << 16)]  # far apart in the low bits
    far = ["f" * 60 + h[-4:] for h in hashes]
    banked = [
        VpdqFrame(n, 90, hashes[n // 30] if n % 30 == 7 else far[n // 30], n / 30)
        for n in range(90)
    ]
    query = [VpdqFrame(s, 90, hashes[s], float(s)) for s in range(3)]
    result = vpdq_match(query, banked, threshold=0)
    assert (result.query_match_pct, result.index_match_pct) == (100.0, 100.0)
