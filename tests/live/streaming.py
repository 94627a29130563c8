"""Helpers for the live tests: banks, free ports, ffmpeg publishers, an HLS folder server,
bad streams (UDP garbage, an HTTP server that stalls), `vangnet` subprocesses."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from conftest import audited
from vangnet.banks.bank import create_bank
from vangnet.banks.categories import Category
from vangnet.banks.contents import add_content
from vangnet.config import get_settings
from vangnet.signals.hashing import hash_file, signal_values
from vangnet.store.db import writer

PHOTOS = "photos/bsds500/train"
NEGATIVE_SECONDS = (4, 2)  # negatives before / after the known picture, 1 s each
KNOWN_START, KNOWN_SECONDS = 4.0, 3.0


@dataclass(frozen=True)
class Clip:
    path: Path
    known: Path  # the banked photo shown from KNOWN_START for KNOWN_SECONDS
    duration: float


def bank_known(engine: Engine, photo: Path, *, name: str = "KNOWN", **policy: Any) -> int:
    """A bank holding ``photo`` (VICS category 1); returns the content id."""
    with Session(writer(engine)) as s:  # the monitor may be writing too
        create_bank(s, name=name, policy=policy or None)
        content_id = add_content(
            s,
            bank=name,
            signals=signal_values(hash_file(photo, settings=get_settings())),
            category=Category.parse("vics:1"),
        )
        s.commit()
    return content_id


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


#: UDP ports an RTSP server of `rtsp_server` may take (2 per source, 2 per client)
RTP_PORTS = 16


def free_udp_block(count: int) -> int:
    """An even UDP port on 127.0.0.1 such that it and the ``count - 1`` after it are free
    now (RTP takes an even port and the odd one after it for RTCP)."""
    for _ in range(200):
        start = free_port(socket.SOCK_DGRAM) & ~1
        if start + count > 65536:
            continue
        held: list[socket.socket] = []
        try:
            for port in range(start, start + count):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                held.append(s)
                s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
        return start
    raise RuntimeError(f"no block of {count} free UDP ports")


@contextmanager
def publish(
    ffmpeg: str, clip: Path, output: list[str], *, loop: bool = False
) -> Iterator[subprocess.Popen[bytes]]:
    """``ffmpeg -re`` publishing ``clip`` to ``output`` (args after the input) until exit;
    yields the ffmpeg process (it exits by itself once the whole clip is sent, unless
    ``loop``)."""
    command = [ffmpeg, "-nostdin", "-loglevel", "error", "-re"]
    command += ["-stream_loop", "-1"] if loop else []
    command += ["-i", str(clip), "-c", "copy", *output]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield process
    finally:
        process.kill()
        process.wait()


@contextmanager
def serve_folder(folder: Path) -> Iterator[str]:
    """A static HTTP server for ``folder`` on 127.0.0.1 (HLS playlists and segments)."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(folder)))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def udp_bound(port: int) -> bool:
    """Whether a UDP socket is bound to 127.0.0.1:``port`` (a reader listens there)."""
    local = f"0100007F:{port:04X}"
    lines = Path("/proc/net/udp").read_text().splitlines()[1:]
    return any(line.split()[1] == local for line in lines)


#: The ``vangnet`` command of the interpreter running the tests.
VANGNET = str(Path(sys.executable).parent / "vangnet")


def vangnet(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run ``vangnet ARGS`` to completion with this process's environment (VANGNET_HOME...)."""
    return subprocess.run(
        [VANGNET, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


@contextmanager
def worker(log: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """``vangnet worker ARGS`` in the background, its output appended to ``log``; asked to
    stop (SIGTERM) at the end, killed if it does not."""
    with log.open("ab") as out:
        process = subprocess.Popen(
            [VANGNET, "worker", *args], stdin=subprocess.DEVNULL, stdout=out, stderr=out
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@contextmanager
def home_engine() -> Iterator[Engine]:
    """The database of this test's VANGNET_HOME (the one `vangnet` subprocesses use),
    migrated."""
    from vangnet.store.db import make_engine
    from vangnet.store.migrate import ensure_schema

    engine = audited(make_engine(get_settings().effective_database_url))
    try:
        ensure_schema(engine)
        yield engine
    finally:
        engine.dispose()


@contextmanager
def udp_garbage(port: int, *, burst: int = 8, pause: float = 0.002) -> Iterator[None]:
    """Random datagrams sent to 127.0.0.1:``port`` until the block ends (a few MB/s)."""
    stop = threading.Event()

    def send() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as out:
            while not stop.is_set():
                for _ in range(burst):
                    with suppress(OSError):  # nobody listening (yet, or any more)
                        out.sendto(os.urandom(1316), ("127.0.0.1", port))
                stop.wait(pause)

    thread = threading.Thread(target=send, name="udp-garbage", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


@dataclass
class StallingServer:
    url: str
    accepted: int = 0  # connections accepted
    served: int = 0  # connections answered
    release: threading.Event = field(default_factory=threading.Event)  # see ``hold``


@contextmanager
def stalling_http_server(
    prefix: bytes, *, path: str = "/live.ts", content_type: str = "video/mp2t", hold: bool = False
) -> Iterator[StallingServer]:
    """An HTTP server on 127.0.0.1 answering every request with ``prefix`` (the start of a
    valid stream) and then nothing, keeping the connection open: a stream that stalls.
    With ``hold``, it answers only once ``release`` is set (a slow server)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    server = StallingServer(f"http://127.0.0.1:{listener.getsockname()[1]}{path}")
    head = f"HTTP/1.0 200 OK\r\nContent-Type: {content_type}\r\n\r\n".encode()
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            held.append(conn)
            server.accepted += 1
            try:
                conn.settimeout(5)
                conn.recv(65536)  # the request
                while hold and not server.release.wait(0.05) and not stop.is_set():
                    pass
                conn.sendall(head + prefix)
                server.served += 1
            except OSError:  # the client gave up first
                pass

    thread = threading.Thread(target=serve, name="stalling-http", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join()
        listener.close()
        for conn in held:
            conn.close()


def remux_prefix(ffmpeg: str, clip: Path, folder: Path, size: int, fmt: str = "mpegts") -> bytes:
    """The first ``size`` bytes of ``clip`` remuxed (no re-encoding) to ``fmt``."""
    out = folder / f"{clip.stem}.{fmt}"
    command = [ffmpeg, "-nostdin", "-loglevel", "error", "-y", "-i", str(clip), "-c", "copy"]
    subprocess.run([*command, "-f", fmt, str(out)], check=True, stdin=subprocess.DEVNULL)
    return out.read_bytes()[:size]


#: A small RTSP server (Debian's librtsp-server-perl): sources publish with ANNOUNCE/RECORD on
#: one port, clients play from another; media goes over RTP/UDP.
# RTSP::Server resets its RTP ports to the package's $RTP_START_PORT (20000) whenever it
# has no mount (its housekeeping), whatever ``rtp_start_port`` it was given: two servers at
# once then bind the same ports (the binds are not checked) and all but one get no media.
# Each server gets its own block through that variable.
_RTSP_SERVER = """
use strict; use AnyEvent; use RTSP::Server;
my ($client, $source, $rtp) = @ARGV;
$RTSP::Server::RTP_START_PORT = $rtp;
my $srv = RTSP::Server->new(client_listen_port => $client, source_listen_port => $source,
    client_listen_address => "127.0.0.1", source_listen_address => "127.0.0.1",
    rtp_start_port => $rtp, log_level => 0);
$srv->listen; AnyEvent->condvar->recv;
"""


@contextmanager
def rtsp_server() -> Iterator[tuple[int, int]]:
    """An RTSP server on 127.0.0.1: ``(client port, source port)``."""
    client, source = free_port(), free_port()
    rtp = free_udp_block(RTP_PORTS)
    process = subprocess.Popen(
        ["perl", "-e", _RTSP_SERVER, str(client), str(source), str(rtp)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(lambda: _listening(source), 10)
        yield client, source
    finally:
        process.kill()
        process.wait()


def rtsp_announced(client_port: int, path: str = "/live") -> bool:
    """Whether the RTSP server of `rtsp_server` describes ``path`` to a client (its source
    has announced it): a DESCRIBE answered 200, not 404."""
    request = (
        f"DESCRIBE rtsp://127.0.0.1:{client_port}{path} RTSP/1.0\r\nCSeq: 1\r\n"
        "Accept: application/sdp\r\n\r\n"
    )
    try:
        with socket.create_connection(("127.0.0.1", client_port), timeout=2) as s:
            s.sendall(request.encode())
            status = s.recv(64).split(b"\r\n", 1)[0]
    except OSError:
        return False
    return b" 200 " in status + b" "


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0
