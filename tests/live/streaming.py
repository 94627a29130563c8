"""Helpers for the live tests: banks, free ports, ffmpeg publishers, an HLS folder server."""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from vangnet.banks import service as banks
from vangnet.banks.categories import Category
from vangnet.hashing import hash_file, signal_values

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
    with Session(engine) as s:
        banks.create_bank(s, name=name, policy=policy or None)
        content_id = banks.add_content(
            s, bank=name, signals=signal_values(hash_file(photo)), category=Category.parse("vics:1")
        )
        s.commit()
    return content_id


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def publish(ffmpeg: str, clip: Path, output: list[str], *, loop: bool = False) -> Iterator[None]:
    """``ffmpeg -re`` publishing ``clip`` to ``output`` (args after the input) until exit."""
    command = [ffmpeg, "-nostdin", "-loglevel", "error", "-re"]
    command += ["-stream_loop", "-1"] if loop else []
    command += ["-i", str(clip), "-c", "copy", *output]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
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
