"""Live-stream benchmark: alert latency per protocol and the streams one CPU core sustains.

No peer row: none of the open (HMA, perception) or closed peers monitors live streams.

**Latency.** A clip (H.264, 30 fps, a key frame every second) shows a negative photo for 2 s,
then a banked photo for 2 s, ``EVENTS`` times, each event a different banked photo (BSDS500
photos from ``../shared/data``; the bank is high-confidence, so one matching sample decides).
Debian's ffmpeg publishes it in real time (``-re``) on 127.0.0.1 over RTMP, UDP MPEG-TS, SRT
and HLS (1 s segments, served over HTTP); a `Monitor` in this process watches it with webhooks
going to a local receiver. The moment a banked photo appears in the published stream is
``origin + T``, where ``T`` is its time in the clip (the first event comes 4 s in, after the
connection is set up) and ``origin`` the publisher's: ffmpeg's ``-progress`` output says how
far into the clip it has written, so the earliest (wall time - position) is when clip time 0
went out. Transport, buffering (HLS segments) and decoding all count. Latency
= the alert event (emitted after the alert row is committed) or the webhook's arrival at the
receiver, minus that moment. p50 and p95 over the events.

**Capacity.** N copies of a 720p30 clip (negatives, and one banked photo per loop) loop over
UDP, each starting at a different point (N ffmpeg ``-c copy`` publishers pinned to the second
core); one child process pinned to the first core watches all N at 1 sample/s
for ``CAPACITY_SECONDS``. A run passes with no dropped sample and p95 "behind live" (sample
processed minus the moment its frame was live) under 2 s, no stream flagged as falling
behind live and no input lost (gaps in the streams' timestamps). N grows until a run fails;
the table reports each run and where the CPU time went (decode, sampling + scaling, PDQ,
lookup, decision).

**Three capacity clips.** Capacity runs with three clips, each row set on its own:

- *photos*: the photo clip above (a key frame every second, still pictures: cheap to decode);
- *camera*: a camera-like clip, 720p30 H.264 with a key frame every 2 s, made from the same
  benign photos with a slow pan and zoom and per-frame sensor noise, so every frame differs;
- *real camera*: real camera footage, as OBS and most platforms send it: Meta's TMK sample
  videos from ``../shared/data/threatexchange/video/sample-videos`` (``doorknob-hd-no-bar``,
  ``chair-orig-22-sd-bar``, ``pattern-longer-no-bar``: handheld phone shots), concatenated,
  scaled and letterboxed to 1280x720, 30 fps, H.264 with a key frame every 2 s
  (``-g 60 -keyint_min 60 -sc_threshold 0``), about 36 s, with the banked photo inserted
  (filling the frame) for 2 s once per loop (after the 4 s doorknob shot; the photo clip
  shows it at 4-6 s too).

Every clip holds the banked photo once per loop, so alerts are checked: a stream whose
sampled part of the loop (from its first sample to the end of the run, placed in the clip
by the offset its publisher started at, less a decision and a key-frame margin) held the
whole banked shot must have alerted, else the run fails ("missed alerts").
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from benchmarks import common
from vangnet.config import get_settings

EVENTS = 8
FIRST_LEAD_SECONDS = 2.0  # extra negative time before the first event (connection set-up)
NEGATIVE_SECONDS = 2.0
KNOWN_SECONDS = 2.0
CAPACITY_SECONDS = 25.0
CAPACITY_CLIP_SECONDS = 30.0  # the capacity clip runs about 36 s; starts spread over 30
CAPACITY_STEPS = (4, 8, 16, 24, 32, 48)
CAMERA_STEPS = (4, 8, 12, 16, 20, 24, 32)
CAMERA_KEYFRAME_SECONDS = 2.0
CAMERA_SCENE_SECONDS = 4.0
MAX_BEHIND_P95_S = 2.0
#: The TMK sample videos that are real camera shots, in the order they are concatenated; the
#: banked photo is inserted after the first.
REAL_CAMERA_VIDEOS = (
    "doorknob-hd-no-bar.mp4",
    "chair-orig-22-sd-bar.mp4",
    "pattern-longer-no-bar.mp4",
)
CLIP_KINDS = ("photos", "camera", "real camera")
#: alert check margins (s): after a stream's first sample, and for the decision after the
#: banked shot (plus a key-frame interval, as ``-ss`` with ``-c copy`` starts on the key
#: frame before the requested offset)
ALERT_STARTUP_MARGIN_S = 0.5
ALERT_DECIDE_MARGIN_S = 2.0
SECRET = "bench-live-secret"


def availability() -> str | None:
    if shutil.which("ffmpeg") is None:
        return f"{common.NOT_AVAILABLE} (ffmpeg missing: scripts/system-packages installs it)"
    try:
        import vangnet.live.monitor  # noqa: F401
    except Exception as exc:  # pragma: no cover - reported in the table
        return f"{common.NOT_AVAILABLE} ({type(exc).__name__}: {exc})"
    return None


def _photos() -> list[Path]:
    return sorted((common.DATA_DIR / "photos" / "bsds500" / "train").glob("*.jpg"))


def make_clip(folder: Path, height: int, events: int, *, name: str) -> tuple[Path, list[float]]:
    """The clip and the clip times at which each banked photo (photos[i]) appears."""
    from PIL import Image

    from vangnet.live.clips import Shot, encode_clip

    photos = _photos()
    negatives = photos[events : events * 2]
    shots, times, t = [], [], 0.0
    for i in range(events):
        lead = NEGATIVE_SECONDS + (FIRST_LEAD_SECONDS if i == 0 else 0.0)
        shots.append(Shot(Image.open(negatives[i]), lead))
        t += lead
        times.append(t)
        shots.append(Shot(Image.open(photos[i]), KNOWN_SECONDS))
        t += KNOWN_SECONDS
    shots.append(Shot(Image.open(negatives[0]), NEGATIVE_SECONDS))
    path = folder / f"{name}-{height}p.mp4"
    if not path.exists():
        width = height * 16 // 9 // 2 * 2  # even: 4:2:0 chroma needs it
        path.write_bytes(encode_clip(shots, width=width, height=height))
    return path, times


def make_camera_clip(folder: Path, seconds: float, *, fps: int = 30) -> Path:
    """A camera-like 720p30 clip (a key frame every `CAMERA_KEYFRAME_SECONDS`): scenes of the
    benchmark photos with a slow pan and zoom and per-frame noise. The banked photo
    (photos[0]) is one scene of each loop, held still (noise only)."""
    import av
    import numpy as np
    from PIL import Image

    path = folder / "camera-720p.ts"
    if path.exists():
        return path
    width, height = 1280, 720
    photos = _photos()
    rng = np.random.default_rng(1)
    # sensor noise: a pool of patterns, drawn per frame (cheaper than fresh noise each frame)
    noises = [rng.normal(0, 4, (height, width, 3)).astype(np.int16) for _ in range(16)]
    scenes = int(seconds // CAMERA_SCENE_SECONDS) + 1
    per_scene = int(CAMERA_SCENE_SECONDS * fps)
    with av.open(str(path), mode="w", format="mpegts") as out:
        stream = out.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        gop = str(int(CAMERA_KEYFRAME_SECONDS * fps))
        stream.options = {"g": gop, "keyint_min": gop, "sc_threshold": "0", "preset": "veryfast"}
        for scene in range(scenes):
            photo = photos[0] if scene == 2 else photos[1 + scene % (len(photos) - 1)]
            big = Image.open(photo).convert("RGB").resize((width * 5 // 4, height * 5 // 4))
            still = scene == 2
            for i in range(per_scene):
                if still:
                    view = big.resize((width, height))
                else:  # pan right and zoom in a little: a handheld camera
                    shift = i * (width // 4) // per_scene
                    zoom = i * 40 // per_scene
                    box = (shift + zoom, zoom, shift + width - zoom, height - zoom)
                    view = big.crop(box).resize((width, height))
                pixels = np.asarray(view, dtype=np.int16)
                noise = noises[int(rng.integers(len(noises)))]
                frame = np.clip(pixels + noise, 0, 255).astype(np.uint8)
                out.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        out.mux(stream.encode(None))
    return path


def _sample_videos() -> Path:
    return common.DATA_DIR / "threatexchange" / "video" / "sample-videos"


def _duration(path: Path) -> float:
    """The duration of a media file's video stream in seconds (ffprobe; the container's
    when the stream has none). A container's can be longer (``doorknob-hd-no-bar.mp4``:
    4.33 s, its video 4.0 s)."""
    command = ["ffprobe", "-v", "error", "-select_streams", "v:0", "-of", "csv=p=0"]
    for entry in ("stream=duration", "format=duration"):
        out = subprocess.run(
            [*command, "-show_entries", entry, path], capture_output=True, text=True, check=True
        ).stdout.strip()
        with contextlib.suppress(ValueError):
            return float(out.splitlines()[0].strip(","))
    raise ValueError(f"no duration for {path}")


def make_real_camera_clip(folder: Path) -> tuple[Path, tuple[float, float]]:
    """Real camera footage as a 720p30 capacity clip, a key frame every
    `CAMERA_KEYFRAME_SECONDS`: the `REAL_CAMERA_VIDEOS` concatenated, each scaled and
    letterboxed to 1280x720, with the banked photo (photos[0]) shown for `KNOWN_SECONDS`
    after the first video. Returns the clip and the banked photo's (start, end) in it."""
    path = folder / "real-camera-720p.ts"
    videos = [_sample_videos() / name for name in REAL_CAMERA_VIDEOS]
    banked_at = _duration(videos[0])
    banked = (banked_at, banked_at + KNOWN_SECONDS)
    if path.exists():
        return path, banked
    fps = 30
    gop = str(int(CAMERA_KEYFRAME_SECONDS * fps))
    inputs = ["-i", str(videos[0])]
    inputs += [
        "-loop",
        "1",
        "-framerate",
        str(fps),
        "-t",
        f"{KNOWN_SECONDS}",
        "-i",
        str(_photos()[0]),
    ]
    for video in videos[1:]:
        inputs += ["-i", str(video)]
    fit = (
        "scale=1280:720:force_original_aspect_ratio=decrease,"
        f"pad=1280:720:(ow-iw)/2:(oh-ih)/2,setsar=1,fps={fps},format=yuv420p"
    )
    # the photo fills the frame (input 1): a match that does not depend on bar cropping
    fill = f"scale=1280:720,setsar=1,fps={fps},format=yuv420p"
    count = len(videos) + 1
    graph = ";".join(f"[{i}:v]{fill if i == 1 else fit}[v{i}]" for i in range(count))
    graph += ";" + "".join(f"[v{i}]" for i in range(count)) + f"concat=n={count}:v=1:a=0[out]"
    command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", *inputs]
    command += ["-filter_complex", graph, "-map", "[out]", "-an", "-c:v", "libx264"]
    command += ["-preset", "veryfast", "-g", gop, "-keyint_min", gop, "-sc_threshold", "0"]
    command += ["-r", str(fps), "-f", "mpegts", str(path)]
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return path, banked


def capacity_clip(kind: str, folder: Path) -> tuple[Path, tuple[float, float], float]:
    """The capacity clip of ``kind`` (`CLIP_KINDS`): (path, the banked photo's (start, end)
    in the clip, key-frame interval in seconds)."""
    if kind == "photos":
        clip, times = make_clip(folder, 720, EVENTS, name="capacity")
        return clip, (times[0], times[0] + KNOWN_SECONDS), 1.0
    if kind == "camera":
        clip = make_camera_clip(folder, CAPACITY_CLIP_SECONDS + 6)
        return clip, (2 * CAMERA_SCENE_SECONDS, 3 * CAMERA_SCENE_SECONDS), CAMERA_KEYFRAME_SECONDS
    if kind == "real camera":
        clip, banked = make_real_camera_clip(folder)
        return clip, banked, CAMERA_KEYFRAME_SECONDS
    raise ValueError(kind)


def alert_expected(
    *,
    offset: float,
    published_at: float,
    watched: tuple[float, float],
    clip_seconds: float,
    banked: tuple[float, float],
    keyframe_s: float,
) -> bool:
    """Whether a looping stream that started at clip time ``offset`` (wall time
    ``published_at``) and was sampled over the wall times ``watched`` (its first sample, the
    end of the run) certainly showed the whole banked shot in time to alert: the sampled part
    of the loop, less the margins. ``-ss`` with ``-c copy`` starts up to a key-frame interval
    before ``offset``: the end of the window is taken that much earlier."""
    first = offset + max(0.0, watched[0] - published_at) + ALERT_STARTUP_MARGIN_S
    last = offset + (watched[1] - published_at) - keyframe_s - ALERT_DECIDE_MARGIN_S
    loop = 0
    while banked[0] + loop * clip_seconds <= last:
        if banked[0] + loop * clip_seconds >= first and banked[1] + loop * clip_seconds <= last:
            return True
        loop += 1
    return False


def _free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Receiver:
    """Webhook receiver on 127.0.0.1: arrival time per alert id."""

    def __init__(self) -> None:
        self.arrivals: dict[int, float] = {}
        arrivals = self.arrivals

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                at = time.time()
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if body["event"] == "alert.created":
                    arrivals.setdefault(int(body["data"]["alert"]["id"]), at)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def _publish(
    clip: Path,
    output: list[str],
    *,
    loop: bool = False,
    core: int | None = None,
    start: float = 0.0,
) -> Iterator[subprocess.Popen[bytes]]:
    command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-re"]
    command += ["-stream_loop", "-1"] if loop else []
    command += ["-ss", f"{start:.2f}"] if start else []
    command += ["-i", str(clip), "-c", "copy", *output]

    def pin() -> None:
        if core is not None and hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {core})

    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=pin
    )
    try:
        yield process
    finally:
        process.kill()
        process.wait()


class _Clock:
    """The publisher's origin: ffmpeg ``-progress`` reports how far into the clip it has
    written (``out_time_us``); the earliest wall time minus that position is when clip time 0
    went out."""

    def __init__(self) -> None:
        self.origin: float | None = None

    def read(self, pipe: Any) -> None:
        for raw in pipe:
            line = raw.decode(errors="replace").strip()
            if line.startswith("out_time_us="):
                try:
                    position = int(line.split("=", 1)[1]) / 1e6
                except ValueError:
                    continue
                if position > 0.5:  # past the start-up burst
                    origin = time.time() - position
                    if self.origin is None or origin < self.origin:
                        self.origin = origin


@contextmanager
def _publish_timed(clip: Path, output: list[str]) -> Iterator[_Clock]:
    """``_publish`` reporting its progress, for the latency origin."""
    command = ["ffmpeg", "-nostdin", "-loglevel", "error", "-re", "-i", str(clip), "-c", "copy"]
    command += ["-progress", "pipe:1", "-stats_period", "0.1", *output]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    clock = _Clock()
    reader = threading.Thread(target=clock.read, args=(process.stdout,), daemon=True)
    reader.start()
    try:
        yield clock
    finally:
        process.kill()
        process.wait()
        reader.join(timeout=5)
        if process.stdout is not None:
            process.stdout.close()


@contextmanager
def _serve(folder: Path) -> Iterator[str]:
    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(folder)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _env(home: Path, **extra: str) -> None:
    os.environ["VANGNET_HOME"] = str(home)
    os.environ.pop("VANGNET_DATABASE_URL", None)
    # streams and webhooks run on loopback, which the egress policy denies unless allowed
    os.environ["VANGNET_EGRESS_ALLOW"] = '["loopback"]'
    for key, value in extra.items():
        os.environ[key] = value
    from vangnet.config import reset_settings

    reset_settings()


def _bank(engine: Any, photos: list[Path]) -> dict[int, int]:
    """Bank ``photos`` (high confidence) as `vangnet bank add` banks them: with the local
    features and crop hashes the wider net checks live candidates against; content id ->
    event index."""
    from sqlalchemy.orm import Session

    from vangnet.banks.bank import create_bank
    from vangnet.banks.contents import add_content
    from vangnet.banks.features import FeatureSeal
    from vangnet.signals.hashing import hash_file, signal_values

    out = {}
    settings = get_settings()
    seal = FeatureSeal.from_settings(settings)
    with Session(engine) as s:
        create_bank(s, name="BENCH_LIVE", high_confidence=True)
        for i, photo in enumerate(photos):
            hashed = hash_file(photo, settings=settings, for_bank=True)
            cid = add_content(
                s,
                bank="BENCH_LIVE",
                signals=signal_values(hashed),
                features=hashed.kept_features(),
                seal=seal,
            )
            out[cid] = i
        s.commit()
    return out


def latency_run(protocol: str, height: int, fps: float, clips: Path, events: int) -> dict[str, Any]:
    """One latency measurement: a fresh home, bank, receiver, publisher and monitor."""
    from vangnet.live.monitor import Monitor
    from vangnet.store.db import make_engine
    from vangnet.store.migrate import ensure_schema

    clip, times = make_clip(clips, height, events, name="latency")
    duration = times[-1] + KNOWN_SECONDS + NEGATIVE_SECONDS
    receiver = _Receiver()
    home = Path(tempfile.mkdtemp(prefix="vangnet-bench-live-"))
    _env(home, VANGNET_WEBHOOK_URL=receiver.url, VANGNET_WEBHOOK_SECRET=SECRET)
    engine = make_engine(get_settings().effective_database_url)
    ensure_schema(engine)
    content_event = _bank(engine, _photos()[:events])
    alert_at: dict[int, tuple[float, int, float]] = {}  # event -> (wall, alert id, stream t)

    def on_event(event: dict[str, Any]) -> None:
        if event["event"] == "alert":
            at = time.time()
            index = content_event[int(event["content_id"])]
            alert_at.setdefault(index, (at, int(event["alert_id"]), event["first_stream_time"]))

    monitor = Monitor(engine, on_event=on_event, settings=get_settings()).start()
    port = _free_port(socket.SOCK_DGRAM if protocol == "udp" else socket.SOCK_STREAM)
    started = time.monotonic()
    try:
        if protocol == "hls":
            out = home / "hls"
            out.mkdir()
            output = ["-f", "hls", "-hls_time", "1", "-hls_list_size", "0", str(out / "s.m3u8")]
            with _publish_timed(clip, output) as clock, _serve(out) as base:
                while not (out / "s.m3u8").exists() and time.monotonic() - started < 15:
                    time.sleep(0.05)
                stream_id = monitor.add_stream(f"{base}/s.m3u8", fps=fps)
                _wait(monitor, stream_id, duration)
        else:
            url, output = _urls(protocol, port)
            if protocol == "udp":
                stream_id = monitor.add_stream(url, fps=fps)
                time.sleep(0.5)  # listening before the publisher starts
                with _publish_timed(clip, output) as clock:
                    _wait(monitor, stream_id, duration)
            else:
                with _publish_timed(clip, output) as clock:
                    time.sleep(0.5)  # the publisher is listening
                    stream_id = monitor.add_stream(url, fps=fps)
                    _wait(monitor, stream_id, duration)
        deadline = time.monotonic() + 5
        while len(receiver.arrivals) < len(alert_at) and time.monotonic() < deadline:
            time.sleep(0.05)
        runtime = monitor.runtimes[stream_id]
        # The publisher's clock; the receiving side's estimate only if ffmpeg reported none.
        origin = clock.origin if clock.origin is not None else (runtime.origin or 0.0)
        keyframes_only = runtime.keyframes_only
    finally:
        monitor.close(end_streams=True)
        engine.dispose()
        receiver.close()
        shutil.rmtree(home, ignore_errors=True)
    alert_lat, hook_lat = [], []
    for index, (at, alert_id, _t) in sorted(alert_at.items()):
        appeared = origin + times[index]
        alert_lat.append(at - appeared)
        if alert_id in receiver.arrivals:
            hook_lat.append(receiver.arrivals[alert_id] - appeared)
    return {
        "impl": "vangnet",
        "status": "ok",
        "protocol": protocol,
        "height": height,
        "fps": fps,
        "events": events,
        "alerts": len(alert_at),
        "webhooks": len(hook_lat),
        "keyframes_only": keyframes_only,
        "alert_p50_s": _pct(alert_lat, 50),
        "alert_p95_s": _pct(alert_lat, 95),
        "webhook_p50_s": _pct(hook_lat, 50),
        "webhook_p95_s": _pct(hook_lat, 95),
        "alert_latencies_s": [round(v, 3) for v in alert_lat],
    }


def _pct(values: list[float], pct: float) -> float | None:
    return round(common.percentile(values, pct), 3) if values else None


def _urls(protocol: str, port: int) -> tuple[str, list[str]]:
    if protocol == "rtmp":
        url = f"rtmp://127.0.0.1:{port}/live/bench"
        return url, ["-f", "flv", "-listen", "1", url]
    if protocol == "udp":
        return f"udp://127.0.0.1:{port}", ["-f", "mpegts", f"udp://127.0.0.1:{port}?pkt_size=1316"]
    if protocol == "srt":
        listener = f"srt://127.0.0.1:{port}?mode=listener"
        return f"srt://127.0.0.1:{port}?mode=caller", ["-f", "mpegts", listener]
    raise ValueError(protocol)


def _wait(monitor: Any, stream_id: int, duration: float) -> None:
    deadline = time.monotonic() + duration + 20
    while time.monotonic() < deadline:
        runtime = monitor.runtimes[stream_id]
        if runtime.stream_time >= duration - 1.5 or runtime.state.finished:
            return
        time.sleep(0.2)


# -- capacity: a child process pinned to one core ---------------------------------------------


def capacity_child(streams: int, seconds: float, ports: list[int]) -> dict[str, Any]:
    """Runs in the pinned child: watch ``ports`` (UDP) for ``seconds``; report figures."""
    from vangnet.live.monitor import Monitor
    from vangnet.store.db import make_engine
    from vangnet.store.migrate import ensure_schema

    engine = make_engine(get_settings().effective_database_url)
    ensure_schema(engine)
    _bank(engine, _photos()[:1])
    monitor = Monitor(engine, settings=get_settings()).start()
    cpu0 = time.process_time()
    # (the bank holds one of the clip's photos: one alert per stream and loop, as in life
    # most streams are negative)
    ids = [monitor.add_stream(f"udp://127.0.0.1:{p}", fps=1.0) for p in ports]
    watch_started = time.time()
    # when each stream's first sample was processed (polled: at most 0.2 s late)
    first_sample: list[float | None] = [None] * len(ids)
    while time.time() < watch_started + seconds:
        for n, i in enumerate(ids):
            if first_sample[n] is None and monitor.runtimes[i].samples > 0:
                first_sample[n] = time.time()
        time.sleep(0.2)
    watch_ended = time.time()
    status = [monitor.runtimes[i].status() for i in ids]
    cpu = time.process_time() - cpu0
    pending = monitor.alerts_pending
    behind = [monitor.runtimes[i].behind for i in ids]
    monitor.close(end_streams=True)
    engine.dispose()
    all_behind = sorted(v for d in behind for v in list(d)[2:])  # skip the start-up samples
    stages: dict[str, float] = {}
    for s in status:
        for k, v in s["cpu_seconds"].items():
            stages[k] = stages.get(k, 0.0) + v
    return {
        "streams": streams,
        "seconds": seconds,
        "samples": sum(s["samples"] for s in status),
        "dropped": sum(s["dropped"] for s in status),
        "live": sum(s["state"] == "live" for s in status),
        "keyframes_only": sum(bool(s["keyframes_only"]) for s in status),
        "behind_p95_s": _pct(all_behind, 95),
        "behind_max_s": max((s["behind_live_s"] or 0.0 for s in status), default=None),
        "falling_behind": sum(bool(s["falling_behind"]) for s in status),
        "input_lost_s": round(sum(s["input_lost_seconds"] for s in status), 1),
        "samples_per_stream_s": round(
            sum(s["samples"] for s in status) / max(1, streams) / seconds, 2
        ),
        "alert_writes_pending": pending,
        "watched": [watch_started, watch_ended],
        "first_sample": first_sample,
        "stream_alerts": [int(s["alerts"]) for s in status],
        "stream_matches": [int(s["matches"]) for s in status],
        "regions_skipped": sum(int(s["regions_skipped"]) for s in status),
        "regions_failed": sum(int(s["regions_failed"]) for s in status),
        "process_cpu_s": round(cpu, 2),
        "cpu_share_of_core": round(cpu / seconds, 3),
        "stage_cpu_s": {k: round(v, 2) for k, v in stages.items()},
    }


def capacity_run(
    streams: int,
    clips: Path,
    seconds: float,
    *,
    clip: str = "photos",
    offsets: list[float] | None = None,
    regions: bool = True,
    settings: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``streams`` copies of the ``clip`` kind (`CLIP_KINDS`) watched on one pinned core,
    each starting at its own clip offset (``offsets``, default spread over the clip), with
    live regions on (``regions``: the default settings) or off; ``settings``: more
    ``VANGNET_*`` settings for the watching child (e.g. ``LIVE_REGIONS_EVERY``)."""
    path, banked, keyframe_s = capacity_clip(clip, clips)
    clip_seconds = _duration(path)
    home = Path(tempfile.mkdtemp(prefix="vangnet-bench-cap-"))
    ports = [_free_port(socket.SOCK_DGRAM) for _ in range(streams)]
    env = {**os.environ, "VANGNET_HOME": str(home), "VANGNET_EGRESS_ALLOW": '["loopback"]'}
    env.pop("VANGNET_WEBHOOK_URL", None)
    env.pop("VANGNET_DATABASE_URL", None)
    env["VANGNET_LIVE_REGIONS"] = "true" if regions else "false"
    env.update({f"VANGNET_{k.upper()}": v for k, v in (settings or {}).items()})
    code = (
        "import json, os, sys; os.sched_setaffinity(0, {0}); "
        "from benchmarks.bench_live import capacity_child; "
        f"print(json.dumps(capacity_child({streams}, {seconds}, {ports!r})))"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=common.REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        time.sleep(3.0)  # the child has loaded and is listening
        with _publishers(path, ports, offsets) as published:
            out, _ = child.communicate(timeout=seconds + 120)
    finally:
        child.kill()
        shutil.rmtree(home, ignore_errors=True)
    try:
        result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"streams": streams, "clip": clip, "regions": regions, "status": "failed"}
    behind = result["behind_p95_s"]
    result["clip"] = clip
    result["regions"] = regions
    result["settings"] = dict(settings or {})
    result["clip_seconds"] = round(clip_seconds, 2)
    result["keyframe_s"] = keyframe_s
    # the alert check: every stream that certainly showed the banked shot alerted
    ended = result["watched"][1]
    expected = [
        first is not None
        and alert_expected(
            offset=offset,
            published_at=at,
            watched=(first, ended),
            clip_seconds=clip_seconds,
            banked=banked,
            keyframe_s=keyframe_s,
        )
        for (offset, at), first in zip(published, result["first_sample"], strict=True)
    ]
    alerted = [n > 0 for n in result["stream_alerts"]]
    result["alerts_expected"] = sum(expected)
    result["alerted_streams"] = sum(alerted)
    result["missed_alerts"] = sum(e and not a for e, a in zip(expected, alerted, strict=True))
    result["passed"] = bool(
        result["dropped"] == 0
        and result["live"] == streams
        and behind is not None
        and behind < MAX_BEHIND_P95_S
        and result["falling_behind"] == 0
        and result["input_lost_s"] < 1.0
        and result["missed_alerts"] == 0
    )
    result["status"] = "ok"
    return result


@contextmanager
def _publishers(
    clip: Path, ports: list[int], offsets: list[float] | None = None
) -> Iterator[list[tuple[float, float]]]:
    """One looping publisher per port; yields each one's (clip offset, wall start time)."""
    published: list[tuple[float, float]] = []
    with contextlib.ExitStack() as stack:
        for i, port in enumerate(ports):
            target = f"udp://127.0.0.1:{port}?pkt_size=1316"
            # Each copy starts elsewhere in the clip: the streams' alerts do not coincide.
            start = round((i * 4.7) % CAPACITY_CLIP_SECONDS, 2) if offsets is None else offsets[i]
            output = ["-f", "mpegts", target]
            published.append((start, time.time()))
            stack.enter_context(_publish(clip, output, loop=True, core=1, start=start))
        yield published


def run(*, quick: bool = False) -> dict[str, Any]:
    missing = availability()
    if missing:
        return {"latency": [], "capacity": [], "rows": [{"impl": "vangnet", "status": missing}]}
    clips = Path(tempfile.mkdtemp(prefix="vangnet-bench-clips-"))
    events = 3 if quick else EVENTS
    configs = [("rtmp", 720, 1.0), ("udp", 720, 1.0)]
    if not quick:
        configs = [
            (p, h, f) for p in ("rtmp", "udp", "srt") for h in (480, 720) for f in (1.0, 2.0)
        ]
        configs += [("hls", 480, 1.0), ("hls", 720, 1.0)]
    latency = []
    try:
        for protocol, height, fps in configs:
            latency.append(latency_run(protocol, height, fps, clips, events))
        capacity: list[dict[str, Any]] = []
        for kind in CLIP_KINDS:
            if kind == "real camera" and not _sample_videos().is_dir():
                missing_videos = f"{common.NOT_AVAILABLE} (no {_sample_videos()})"
                capacity.append({"streams": 0, "clip": kind, "status": missing_videos})
                continue
            # the photo clip also without live regions: what regions cost
            for regions in (True, False) if kind == "photos" else (True,):
                steps = CAPACITY_STEPS if kind == "photos" else CAMERA_STEPS
                for n in (2, 4) if quick else steps:
                    seconds = 10.0 if quick else CAPACITY_SECONDS
                    result = capacity_run(n, clips, seconds, clip=kind, regions=regions)
                    capacity.append(result)
                    if not result.get("passed"):
                        break
    finally:
        shutil.rmtree(clips, ignore_errors=True)

    def per_core(kind: str, *, regions: bool = True) -> int:
        return max(
            (
                c["streams"]
                for c in capacity
                if c.get("passed") and c["clip"] == kind and c.get("regions", True) == regions
            ),
            default=0,
        )

    return {
        "latency": latency,
        "capacity": capacity,
        "streams_per_core": per_core("photos"),
        "streams_per_core_regions_off": per_core("photos", regions=False),
        "camera_streams_per_core": per_core("camera"),
        "real_camera_streams_per_core": per_core("real camera"),
        "rows": latency,
    }


TABLE_COLUMNS = [
    "protocol",
    "height",
    "samples/s",
    "alerts",
    "alert p50 ms",
    "alert p95 ms",
    "webhook p50 ms",
    "webhook p95 ms",
    "key frames only",
]


def _ms(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds * 1000:.0f}"


def _verdict(capacity: dict[str, Any]) -> str:
    status = str(capacity.get("status"))
    return "failed" if status in ("ok", "failed") else status


def table_rows(payload: dict[str, Any]) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for r in payload.get("latency", []):
        rows.append(
            [
                r["protocol"],
                r["height"],
                r["fps"],
                f"{r['alerts']}/{r['events']}",
                _ms(r["alert_p50_s"]),
                _ms(r["alert_p95_s"]),
                _ms(r["webhook_p50_s"]),
                _ms(r["webhook_p95_s"]),
                r["keyframes_only"],
            ]
        )
    for c in payload.get("capacity", []):
        stages = ", ".join(f"{k} {v}" for k, v in (c.get("stage_cpu_s") or {}).items())
        rows.append(
            [
                f"capacity ({c.get('clip')}, regions {'on' if c.get('regions', True) else 'off'})"
                f": {c['streams']} x 720p30 UDP on 1 core",
                "passed" if c.get("passed") else _verdict(c),
                f"dropped {c.get('dropped')}, lost {c.get('input_lost_s')} s, alerted "
                f"{c.get('alerted_streams')} (expected >= {c.get('alerts_expected')}, missed "
                f"{c.get('missed_alerts')})",
                f"behind p95 {_ms(c.get('behind_p95_s'))} ms, max {c.get('behind_max_s')} s, "
                f"flagged {c.get('falling_behind')}, samples/stream/s "
                f"{c.get('samples_per_stream_s')}",
                f"core {c.get('cpu_share_of_core')}",
                stages,
                "",
                "",
                c.get("keyframes_only"),
            ]
        )
    return rows


def main() -> None:
    """One capacity run from the command line (the whole benchmark: ``scripts/bench --only
    live``): ``python -m benchmarks.bench_live --streams 16 --regions off``."""
    import argparse

    ap = argparse.ArgumentParser(description="One live capacity run (720p30 over UDP).")
    ap.add_argument("--streams", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=CAPACITY_SECONDS)
    ap.add_argument("--clip", choices=CLIP_KINDS, default="photos")
    ap.add_argument("--regions", choices=("on", "off"), default="on")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SETTING=VALUE",
        help="a setting for the watching child, e.g. live_regions_every=1 (repeatable)",
    )
    args = ap.parse_args()
    settings = dict(item.split("=", 1) for item in args.set)
    clips = Path(tempfile.mkdtemp(prefix="vangnet-bench-clips-"))
    try:
        result = capacity_run(
            args.streams,
            clips,
            args.seconds,
            clip=args.clip,
            regions=args.regions == "on",
            settings=settings,
        )
    finally:
        shutil.rmtree(clips, ignore_errors=True)
    result.pop("first_sample", None)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
