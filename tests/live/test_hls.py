"""The HLS playlist reader that fetches streams under the egress policy (no network here)."""

from __future__ import annotations

import pytest

from vangnet.egress.policy import DestinationRefused
from vangnet.sources.hls import ChunkReader, HlsUnsupported, choose_variant, parse

BASE = "https://cdn.example/live/index.m3u8"


def test_media_playlist_segments_resolve_against_the_playlist() -> None:
    text = (
        "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:17\n"
        '#EXT-X-MAP:URI="init.mp4"\n#EXTINF:4.0,\nseg17.m4s\n#EXTINF:4.0,\n'
        "/other/seg18.m4s\n#EXTINF:4.0,\nhttps://cdn2.example/seg19.m4s\n"
    )
    playlist = parse(text, BASE)
    assert not playlist.ended and playlist.target_duration == 4
    assert [(s.sequence, s.url) for s in playlist.segments] == [
        (17, "https://cdn.example/live/seg17.m4s"),
        (18, "https://cdn.example/other/seg18.m4s"),
        (19, "https://cdn2.example/seg19.m4s"),
    ]
    assert {s.init for s in playlist.segments} == {"https://cdn.example/live/init.mp4"}


def test_master_playlist_picks_the_best_variant_within_the_pixel_limit() -> None:
    text = (
        "#EXTM3U\n"
        '#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,CODECS="avc1.4d401e,mp4a"\n'
        "low.m3u8\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=5000000,RESOLUTION=1920x1080\nhigh.m3u8\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=20000000,RESOLUTION=7680x4320\nhuge.m3u8\n"
    )
    variants = parse(text, BASE).variants
    assert choose_variant(variants, 3840 * 2160).url == "https://cdn.example/live/high.m3u8"
    assert choose_variant(variants, 100).url == "https://cdn.example/live/low.m3u8"


@pytest.mark.parametrize(
    "line",
    ["file:///etc/passwd", "concat:seg1.ts|seg2.ts", "data:video/mp2t;base64,AAAA"],
)
def test_entries_that_are_not_http_are_refused(line: str) -> None:
    with pytest.raises(DestinationRefused):
        parse(f"#EXTM3U\n#EXTINF:1,\n{line}\n", BASE)


@pytest.mark.parametrize(
    "tag",
    ['#EXT-X-KEY:METHOD=AES-128,URI="key"', "#EXT-X-BYTERANGE:1000@0"],
)
def test_unsupported_features_are_refused(tag: str) -> None:
    with pytest.raises(HlsUnsupported):
        parse(f"#EXTM3U\n{tag}\n#EXTINF:1,\nseg.ts\n", BASE)


def test_chunk_reader_reads_across_chunks() -> None:
    reader = ChunkReader(iter([b"ab", b"", b"cde", b"f"]))
    assert reader.read(4) == b"ab"  # raw reads return what one chunk holds
    assert reader.read(2) == b"cd"
    assert reader.read() == b"ef"
    assert reader.read(1) == b""
