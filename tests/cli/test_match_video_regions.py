"""`vangnet match --json` of a video finds a banked photo shown in it (issue 12, point 4):
a recording of a video call whose grid shows the banked photo as a tile for 3 s, and a
picture-in-picture recording showing the other banked photo as an inset. Up to
``match_video_frames`` sampled frames, spread over the video, are looked up whole and by
their regions in the PDQ banks; a match says when (``frame_time``) and where (``region``,
in the video's pixels). With ``VANGNET_MATCH_VIDEO_FRAMES=0`` the videos match nothing
(vPDQ alone cannot find a photo). The clips are composed at test time from benign photos
into ``tmp_path``; SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import region_composites as rc
from vangnet.cli import app
from vangnet.config import reset_settings
from vangnet.live.clips import Shot, encode_clip

WIDTH, HEIGHT = 1280, 720


def _run(*args: str) -> Any:
    reset_settings()
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output, result.output
    assert result.exit_code == 0, (args, result.exit_code, result.output)
    if "--json" not in args:
        return None
    return [json.loads(x) for x in result.stdout.splitlines() if x.strip()]


def _in_frame(box: tuple[int, int, int, int], size: tuple[int, int]) -> list[int]:
    """Where a box of a composite of ``size`` lands in the letterboxed video frame."""
    scale = min(WIDTH / size[0], HEIGHT / size[1])
    dx, dy = (WIDTH - size[0] * scale) / 2, (HEIGHT - size[1] * scale) / 2
    x, y, w, h = box
    return [round(x * scale + dx), round(y * scale + dy), round(w * scale), round(h * scale)]


def _near(region: dict[str, int], shown: list[int], share: float = 0.1) -> bool:
    sx, sy, sw, sh = shown
    x, y, w, h = region["x"], region["y"], region["w"], region["h"]
    dx, dy = share * sw, share * sh
    return (
        abs(x - sx) <= dx
        and abs(y - sy) <= dy
        and abs(x + w - sx - sw) <= dx
        and abs(y + h - sy - sh) <= dy
    )


def test_a_banked_photo_shown_in_a_video_is_found_with_when_and_where(
    db_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, shared_data: Path
) -> None:
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    photos = sorted((shared_data / "photos" / "bsds500" / "train").glob("*.jpg"))
    pictures = [rc.load(p) for p in photos[:24]]
    folder = tmp_path / "bank"
    folder.mkdir()
    for path in (photos[0], photos[6]):
        (folder / path.name).symlink_to(path)
    _run("bank", "create", "KNOWN", "--profile", "vics")
    added = _run("bank", "add", "KNOWN", str(folder), "--category", "vics:1", "--json")
    content_of = {Path(a["path"]).name: a["content_id"] for a in added}

    others = pictures[20:24]
    grid, _ = rc.call_tile(pictures[10], others)
    tile, tile_at = rc.call_tile(pictures[0], others)
    plain, _ = rc.inset(pictures[11], others)
    pip, pip_at = rc.inset(pictures[6], others)
    videos = {
        # a call: 3 s of other people, 3 s with the banked photo as a tile, 2 s more
        "call.mp4": [Shot(grid, 3.0, False), Shot(tile, 3.0, False), Shot(grid, 2.0, False)],
        "pip.mp4": [Shot(plain, 2.0, False), Shot(pip, 3.0, False)],
    }
    for name, shots in videos.items():
        (tmp_path / name).write_bytes(encode_clip(shots, width=WIDTH, height=HEIGHT))
    queries = [str(tmp_path / name) for name in videos]

    lines = {Path(line["path"]).name: line for line in _run("match", *queries, "--json")}
    call = lines["call.mp4"]["matches"]
    assert [m["content_id"] for m in call] == [content_of[photos[0].name]], call
    assert 3.0 <= call[0]["frame_time"] < 6.0 and call[0]["signal_type"] == "pdq"
    assert _near(call[0]["region"], _in_frame(tile_at, tile.size)), call
    pip_matches = lines["pip.mp4"]["matches"]
    assert [m["content_id"] for m in pip_matches] == [content_of[photos[6].name]], pip_matches
    assert 2.0 <= pip_matches[0]["frame_time"] < 5.0
    assert _near(pip_matches[0]["region"], _in_frame(pip_at, pip.size)), pip_matches

    monkeypatch.setenv("VANGNET_MATCH_VIDEO_FRAMES", "0")
    off = _run("match", *queries, "--json")
    assert [line["matches"] for line in off] == [[], []]
