"""A banked photo shown inside a live stream's frame alerts (issue 12, point 4): as one tile
of a video-call grid, and as a picture-in-picture inset in another photo. The frames are
composites of benign photos (`region_composites`) encoded in memory and piped to ffmpeg,
which publishes them in real time over UDP on 127.0.0.1; ``vangnet watch`` watches the
stream. With live regions on (the default) each banked photo raises its alert, and each
alert's matched frames say where in the frame the photo was (``vangnet alerts show``); with
``VANGNET_LIVE_REGIONS=false`` the same stream raises none. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

import region_composites as rc
from live.streaming import PHOTOS, VANGNET, bank_known, free_port, udp_bound, wait_for
from vangnet.live.clips import Shot, encode_clip

WIDTH, HEIGHT = 1280, 720  # the clip's frame; composites are letterboxed into it


def _photos(shared_data: Path) -> list[Path]:
    return sorted((shared_data / PHOTOS).glob("*.jpg"))


def _scaled(box: tuple[int, int, int, int], size: tuple[int, int]) -> list[int]:
    """Where a box of a composite of ``size`` lands in the letterboxed clip frame."""
    scale = min(WIDTH / size[0], HEIGHT / size[1])
    dx, dy = (WIDTH - size[0] * scale) / 2, (HEIGHT - size[1] * scale) / 2
    x, y, w, h = box
    return [round(x * scale + dx), round(y * scale + dy), round(w * scale), round(h * scale)]


def _clip(shared_data: Path) -> tuple[bytes, dict[str, list[int]], list[Path]]:
    """MPEG-TS bytes: a call grid of other photos (2 s), the grid with banked photo 0 as a
    tile (3 s), a photo with another photo inset (2 s), the same with banked photo 6 inset
    (3 s), and the first grid again (1 s). Returns where each banked photo is shown."""
    photos = _photos(shared_data)
    pictures = [rc.load(p) for p in photos[:24]]
    others = pictures[20:24]
    grid, _ = rc.call_tile(pictures[10], others)
    tile, tile_at = rc.call_tile(pictures[0], others)
    plain, _ = rc.inset(pictures[11], others)
    pip, pip_at = rc.inset(pictures[6], others)
    shots = [
        Shot(p, seconds, drift=False)  # a call or an inset stays where it is
        for p, seconds in ((grid, 2.0), (tile, 3.0), (plain, 2.0), (pip, 3.0), (grid, 1.0))
    ]
    data = encode_clip(shots, width=WIDTH, height=HEIGHT, container="mpegts")
    shown = {"tile": _scaled(tile_at, tile.size), "inset": _scaled(pip_at, pip.size)}
    return data, shown, [photos[0], photos[6]]


@contextmanager
def _publish_piped(ffmpeg: str, data: bytes, port: int) -> Iterator[None]:
    """ffmpeg reading the clip from its stdin (never written to disk), publishing it in real
    time (``-re``) as MPEG-TS over UDP to 127.0.0.1:``port``."""
    command = [ffmpeg, "-nostdin", "-loglevel", "error", "-re", "-f", "mpegts", "-i", "pipe:0"]
    command += ["-c", "copy", "-f", "mpegts", f"udp://127.0.0.1:{port}?pkt_size=1316"]
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )

    def feed() -> None:
        assert process.stdin is not None
        try:
            process.stdin.write(data)
            process.stdin.close()
        except (BrokenPipeError, OSError):
            pass  # ffmpeg was stopped

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        yield
        process.wait(timeout=60)  # the whole clip went out
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        feeder.join(timeout=5)


def _vangnet(env: dict[str, str], *args: str) -> Any:
    done = subprocess.run(
        [VANGNET, *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def _watch(env: dict[str, str], ffmpeg: str, data: bytes, log: Path) -> list[dict[str, Any]]:
    """``vangnet watch`` of the piped clip over UDP; its JSON events."""
    port = free_port(socket.SOCK_DGRAM)
    command = [VANGNET, "watch", f"udp://127.0.0.1:{port}", "--json", "--duration", "60"]
    with log.open("w") as out:
        watching = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    try:
        assert wait_for(lambda: udp_bound(port), timeout=30), log.read_text()
        with _publish_piped(ffmpeg, data, port):
            pass
        time.sleep(2.0)  # the last samples are processed and their alerts written
        watching.terminate()
        assert watching.wait(timeout=60) == 0, log.read_text()[-3000:]
    finally:
        if watching.poll() is None:
            watching.kill()
            watching.wait()
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def composite_clip(shared_data: Path) -> tuple[bytes, dict[str, list[int]], list[Path]]:
    return _clip(shared_data)


def test_a_banked_photo_in_a_call_tile_or_an_inset_alerts_with_its_region(
    db_url: str,
    db_engine: Engine,
    composite_clip: tuple[bytes, dict[str, list[int]], list[Path]],
    ffmpeg: str,
    tmp_path: Path,
) -> None:
    data, shown, banked = composite_clip
    tile_id = bank_known(db_engine, banked[0], name="TILE")
    inset_id = bank_known(db_engine, banked[1], name="INSET")
    # No region budget here: CPU time on a loaded test machine is not deterministic (the
    # budget has its own test below); the layout settings are the defaults.
    env = {**os.environ, "VANGNET_DATABASE_URL": db_url}
    env["VANGNET_LIVE_REGIONS_BUDGET_MS"] = "0"
    events = _watch(env, ffmpeg, data, tmp_path / "watch.jsonl")

    alerts = {e["bank"]: e for e in events if e["event"] == "alert"}
    assert sorted(alerts) == ["INSET", "TILE"], [e for e in events if e["event"] != "state"]
    assert alerts["TILE"]["content_id"] == tile_id
    assert alerts["INSET"]["content_id"] == inset_id
    for bank, where in (("TILE", "tile"), ("INSET", "inset")):
        matches = [e for e in events if e["event"] == "match" and e["bank"] == bank]
        assert matches and all(rc.near(m["region"], shown[where], 0.1) for m in matches), (
            matches,
            shown[where],
        )
        shown_alert = _vangnet(env, "alerts", "show", str(alerts[bank]["alert_id"]))
        frames = shown_alert["frames"]
        assert frames and all(rc.near(f["found"]["region"], shown[where], 0.1) for f in frames)
        assert {f["found"]["transform"] for f in frames} == {"identity"}
    stream = _vangnet(env, "streams", "show", str(alerts["TILE"]["stream"]))
    assert stream["samples"] >= 8
    assert (stream["regions_skipped"], stream["regions_failed"]) == (0, 0)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("setting", "value"), [("LIVE_REGIONS", "false"), ("LIVE_REGIONS_BUDGET_MS", "0.01")]
)
def test_without_regions_the_same_stream_raises_no_alert_and_says_why(
    db_url: str,
    db_engine: Engine,
    composite_clip: tuple[bytes, dict[str, list[int]], list[Path]],
    ffmpeg: str,
    tmp_path: Path,
    setting: str,
    value: str,
) -> None:
    """Regions off: no alert. A region budget too small for any region work: no alert
    either, and every sample after the first (which spends the budget saved up) is counted
    as matched on its whole frame only (``regions_skipped``), never silently."""
    data, _, banked = composite_clip
    bank_known(db_engine, banked[0], name="TILE")
    bank_known(db_engine, banked[1], name="INSET")
    env = {**os.environ, "VANGNET_DATABASE_URL": db_url, f"VANGNET_{setting}": value}
    events = _watch(env, ffmpeg, data, tmp_path / "watch.jsonl")
    assert [e for e in events if e["event"] in ("match", "alert")] == []
    stream = next(e["stream"] for e in events if e["event"] == "state")
    shown = _vangnet(env, "streams", "show", str(stream))
    assert shown["samples"] >= 8 and shown["matches"] == 0
    skipped = shown["samples"] - 1 if setting == "LIVE_REGIONS_BUDGET_MS" else 0
    assert (shown["regions_skipped"], shown["regions_failed"]) == (skipped, 0)
