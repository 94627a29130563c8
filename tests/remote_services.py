"""Stand-ins for Thorn Safer Predict and Google's Content Safety API: real HTTP servers on
127.0.0.1 that answer in the shapes `vangnet.remote` reads (tests only), score a picture
by its mean brightness (so a white picture is "high", a black one "low", and the same
pixels always score the same), check the API key, and misbehave on request (`Service.script`:
one scripted answer per request, in order, before answering normally again).

Written from the documented shapes in docs/classifiers.md, not from the adapters' code: the
request is parsed independently (multipart with the email package, JSON with json)."""

from __future__ import annotations

import base64
import email.parser
import email.policy
import io
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Literal
from urllib.parse import parse_qs, urlsplit

import numpy as np
from PIL import Image

KEY = "test-key-0123"
PRIORITIES = ("VERY_LOW", "LOW", "MEDIUM", "HIGH", "VERY_HIGH")


@dataclass(frozen=True)
class Answer:
    """One scripted answer: ``status`` with ``body`` and ``headers``; ``hang`` seconds of
    silence first (longer than the client's timeout: a timeout)."""

    status: int = 200
    body: bytes | None = None  # None: the normal answer
    headers: tuple[tuple[str, str], ...] = ()
    hang: float = 0.0


def retry_later(status: int = 429, seconds: int = 1) -> Answer:
    return Answer(status, b'{"error": "slow down"}', (("Retry-After", str(seconds)),))


@dataclass
class Service:
    kind: Literal["safer", "google"]
    url: str = ""
    script: list[Answer] = field(default_factory=list)
    #: arrival times (time.monotonic) of every request, and the pictures each carried
    times: list[float] = field(default_factory=list)
    pictures: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    release: threading.Event = field(default_factory=threading.Event)

    @property
    def requests(self) -> int:
        with self.lock:
            return len(self.times)


def brightness(data: bytes) -> float:
    """Mean of a picture file's pixels, 0-1."""
    image = Image.open(io.BytesIO(data)).convert("L")
    return float(np.asarray(image, dtype=np.float64).mean() / 255.0)


def safer_classes(data: bytes) -> dict[str, float]:
    csam = round(brightness(data), 4)
    pornography = round((1.0 - csam) / 2, 4)
    return {"csam": csam, "pornography": pornography, "other": round(1 - csam - pornography, 4)}


def google_priority(data: bytes) -> str:
    return PRIORITIES[min(4, int(brightness(data) * 5))]


def _multipart_file(content_type: str, body: bytes, field_name: str) -> bytes | None:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == field_name:
            payload = part.get_payload(decode=True)
            return payload if isinstance(payload, bytes) else None
    return None


@contextmanager
def run_service(kind: Literal["safer", "google"]) -> Iterator[Service]:
    state = Service(kind)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def _send(self, status: int, body: bytes, headers: tuple[tuple[str, str], ...]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with state.lock:
                state.times.append(time.monotonic())
                scripted = state.script.pop(0) if state.script else Answer()
            if scripted.hang:
                state.release.wait(scripted.hang)
            if scripted.body is not None:
                self._send(scripted.status, scripted.body, scripted.headers)
                return
            if state.kind == "safer":
                self._safer(body)
            else:
                self._google(body)

        def _safer(self, body: bytes) -> None:
            if self.headers.get("Authorization") != f"Token {KEY}":
                self._send(401, b'{"error": "invalid API key"}', ())
                return
            data = _multipart_file(self.headers.get("Content-Type", ""), body, "media")
            if data is None:
                self._send(400, b'{"error": "no media"}', ())
                return
            with state.lock:
                state.pictures.append(1)
            answer = {
                "output": {
                    "file": {
                        "fileType": "image",
                        "reasons": [],
                        "classifierPrediction": {"csam_classifier": safer_classes(data)},
                    },
                    "hashes": [],
                }
            }
            self._send(200, json.dumps(answer).encode(), ())

        def _google(self, body: bytes) -> None:
            query = parse_qs(urlsplit(self.path).query)
            if query.get("key") != [KEY]:
                self._send(400, b'{"error": {"message": "API key not valid"}}', ())
                return
            images = json.loads(body)["images"]
            with state.lock:
                state.pictures.append(len(images))
            priorities = [google_priority(base64.b64decode(i)) for i in images]
            answer = {"reviewPriorities": priorities, "modelVersion": "test-1"}
            self._send(200, json.dumps(answer).encode(), ())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    path = "/v1/classify" if kind == "safer" else "/v1beta1/images:classify"
    state.url = f"http://127.0.0.1:{server.server_address[1]}{path}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)
