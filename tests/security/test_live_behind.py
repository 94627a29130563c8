"""Issue 10, finding 15: a stream that falls behind live, or loses input, says so.

Real MPEG-TS streams sent by ``ffmpeg -re`` over UDP to 127.0.0.1. A worker made slower than
the stream (``live_throttle_seconds``: the decoder takes longer per frame than the stream
gives it) must flag the stream (event ``falling_behind``, ``falling_behind`` and
``behind_live_s`` in ``vangnet watch``, ``streams list``, ``GET /v1/streams/{id}`` and
``/v1/metrics``); a stream that keeps up must not be flagged; seconds missing from the input
(a gap in the stream's own timestamps, as a socket outage or overrun leaves) are counted.
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image

from api.conftest import AppFactory, make_key

from ._live import VENV_BIN, cli_env, poll

PHOTOS = Path("photos/bsds500/train")
# Not about storage: SQLite only (the database plays no part in keeping up).
sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
LIMIT = 1.5  # live_behind_limit_seconds in these tests
FPS = 30


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def ts_clip(
    path: Path, photos: list[Path], *, seconds: float, gap: tuple[float, float] | None = None
) -> Path:
    """A small 30 fps H.264 MPEG-TS clip of benign photos (a key frame every second), with
    noise so no two frames are alike; ``gap`` = (at, length) leaves that many seconds of
    frames out (their timestamps are skipped), as lost input would."""
    rng = np.random.default_rng(7)
    pictures = [np.asarray(Image.open(p).convert("RGB").resize((320, 180))) for p in photos]
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mpegts") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        stream.options = {"g": str(FPS), "preset": "veryfast", "bf": "0"}
        total = round(seconds * FPS)
        skip = range(0) if gap is None else range(round(gap[0] * FPS), round(sum(gap) * FPS))
        for i in range(total):
            if i in skip:
                continue
            base = pictures[(i // FPS) % len(pictures)].astype(np.int16)
            noisy = np.clip(base + rng.integers(-6, 7, base.shape), 0, 255).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(noisy, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, FPS)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    path.write_bytes(buf.getvalue())
    return path


@pytest.fixture
def photos(shared_data: Path) -> list[Path]:
    found = sorted((shared_data / PHOTOS).glob("*.jpg"))[:6]
    assert len(found) == 6
    return found


@contextmanager
def udp_sender(clip: Path, port: int, *, loop: bool = True) -> Iterator[subprocess.Popen[bytes]]:
    """``ffmpeg -re`` sending ``clip`` as MPEG-TS to 127.0.0.1:``port`` until the end."""
    command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-re"]
    command += ["-stream_loop", "-1"] if loop else []
    command += ["-i", str(clip), "-c", "copy", "-f", "mpegts"]
    command += [f"udp://127.0.0.1:{port}?pkt_size=1316"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield process
    finally:
        process.kill()
        process.wait(timeout=30)


def watch(env: dict[str, str], url: str, seconds: float) -> list[dict[str, Any]]:
    """``vangnet watch URL --json`` for ``seconds``: its events."""
    done = subprocess.run(
        [str(VENV_BIN / "vangnet"), "watch", url, "--json", "--duration", str(seconds)],
        env=env,
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def streams_list(env: dict[str, str]) -> list[dict[str, Any]]:
    done = subprocess.run(
        [str(VENV_BIN / "vangnet"), "streams", "list", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


@sqlite_only
def test_watch_flags_a_stream_it_cannot_keep_up_with(
    photos: list[Path], tmp_path: Path, db_url: str
) -> None:
    clip = ts_clip(tmp_path / "clip.ts", photos, seconds=6)
    port = free_udp_port()
    env = cli_env(
        db_url,
        tmp_path / "home",
        live_throttle_seconds="0.08",  # ~12 frames/s decoded of 30/s sent
        live_behind_limit_seconds=str(LIMIT),
        live_keyframes_only="false",
    )
    with udp_sender(clip, port):
        events = watch(env, f"udp://127.0.0.1:{port}", seconds=9)
    behind = [e for e in events if e["event"] == "falling_behind"]
    assert behind, f"no falling_behind event in {[e['event'] for e in events]}"
    assert behind[0]["behind_live_s"] > LIMIT
    assert "add capacity" in behind[0]["reason"]
    (row,) = streams_list(env)
    assert row["falling_behind"] is True
    assert row["behind_live_s"] > LIMIT


@sqlite_only
def test_api_and_metrics_show_falling_behind_and_lost_input(
    make_client: AppFactory, photos: list[Path], tmp_path: Path, db_url: str
) -> None:
    slow = make_client(
        live_throttle_seconds=0.08,
        live_behind_limit_seconds=LIMIT,
        live_keyframes_only=False,
    )
    slow.headers["X-API-Key"] = make_key(db_url, "admin")
    clip = ts_clip(tmp_path / "clip.ts", photos, seconds=6)
    port = free_udp_port()
    r = slow.post("/v1/streams", json={"url": f"udp://127.0.0.1:{port}"})
    assert r.status_code == 201, r.text
    stream_id = r.json()["id"]

    def live() -> dict[str, Any]:
        r = slow.get(f"/v1/streams/{stream_id}")
        assert r.status_code == 200, r.text
        figures: dict[str, Any] = r.json()["live"]
        return figures

    time.sleep(0.5)  # the reader is listening
    with udp_sender(clip, port):
        assert poll(lambda: live()["falling_behind"], timeout=20), live()
    figures = live()
    assert figures["behind_live_s"] > LIMIT
    metrics = slow.get("/v1/metrics").text
    assert f'vangnet_stream_falling_behind{{stream="{stream_id}"}} 1' in metrics
    assert f'vangnet_stream_behind_live_seconds{{stream="{stream_id}"}}' in metrics
    assert poll(lambda: slow.get("/v1/streams").json()["streams"][0]["falling_behind"], 5)


@sqlite_only
def test_a_stream_that_keeps_up_is_not_flagged_and_lost_input_is_counted(
    make_client: AppFactory, photos: list[Path], tmp_path: Path, db_url: str
) -> None:
    client = make_client(live_behind_limit_seconds=LIMIT, live_stall_seconds=6)
    client.headers["X-API-Key"] = make_key(db_url, "admin")
    # 2 s of frames, 3 s missing, 2 s more: the sender is silent for 3 s, as in an outage
    clip = ts_clip(tmp_path / "gap.ts", photos, seconds=7, gap=(2.0, 3.0))
    port = free_udp_port()
    r = client.post("/v1/streams", json={"url": f"udp://127.0.0.1:{port}"})
    assert r.status_code == 201, r.text
    stream_id = r.json()["id"]

    def live() -> dict[str, Any]:
        figures: dict[str, Any] = client.get(f"/v1/streams/{stream_id}").json()["live"]
        return figures

    time.sleep(0.5)
    with udp_sender(clip, port, loop=False) as sender:
        sender.wait(timeout=30)
    assert poll(lambda: live()["stream_time"] >= 6.0, timeout=10), live()
    figures = live()
    assert figures["falling_behind"] is False
    assert figures["behind_live_s"] < LIMIT
    assert figures["input_discontinuities"] == 1
    assert 2.5 <= figures["input_lost_seconds"] <= 3.5
    metrics = client.get("/v1/metrics").text
    assert f'vangnet_stream_input_discontinuities_total{{stream="{stream_id}"}} 1' in metrics


def test_input_loss_counts_gaps_not_cadence_changes() -> None:
    """Decoding only key frames (a 1 s cadence after 30 fps, with a frame still in the
    decoder at the switch) is no loss; a 3 s hole in a 30 fps stream is."""
    from vangnet.live.decision import DecisionWindow
    from vangnet.live.puller import InputLoss
    from vangnet.live.runtime import StreamRuntime

    runtime = StreamRuntime(
        id=1, kind="pull", url=None, external_id=None, metadata={}, fps=1.0,
        window=DecisionWindow(rules={}),
    )  # fmt: skip
    loss = InputLoss()
    times = [i / FPS for i in range(60)]
    for t in times:
        loss.frame(runtime, t, skipping=False, key_frame=t % 1 == 0)
    loss.frame(runtime, 2.0, skipping=True, key_frame=True)  # key frames only from here
    for late in (1, 2, 3):  # frames still in the decoder
        loss.frame(runtime, 2.0 + late / FPS, skipping=True, key_frame=False)
    for second in range(3, 8):
        loss.frame(runtime, float(second), skipping=True, key_frame=True)
    for burst in range(1, 9):  # a looping sender: key frames 0.3 ms apart
        loss.frame(runtime, 7.0 + burst / 3000, skipping=True, key_frame=True)
    for second in range(8, 12):
        loss.frame(runtime, float(second), skipping=True, key_frame=True)
    assert (runtime.discontinuities, runtime.lost_seconds) == (0, 0.0)
    loss.frame(runtime, 15.0, skipping=True, key_frame=True)  # 4 s since the last: 3 s lost
    assert runtime.discontinuities == 1
    assert runtime.lost_seconds == pytest.approx(3.0)
