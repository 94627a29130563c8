"""A real HTTP server on 127.0.0.1 that records the webhooks it receives (tests only)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that records requests; ``fail`` answers 500 that many
    times, ``hang`` waits that long (or until released) before answering, ``trickle`` sends
    a 200 answer a byte at a time over that many seconds (a slow but live endpoint),
    ``redirect_to`` answers 302 there, ``answer_body`` is sent with failures."""

    url: str = ""
    requests: list[Received] = field(default_factory=list)
    fail: int = 0
    hang: float = 0.0
    trickle: float = 0.0
    redirect_to: str = ""
    answer_body: bytes = b""
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


@contextmanager
def run_receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with state.lock:
                state.requests.append(Received(self.path, dict(self.headers.items()), body))
                failing = state.fail > 0
                state.fail -= failing
            if state.hang:
                state.release.wait(state.hang)
            if state.trickle:
                answer = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
                for byte in answer:
                    time.sleep(state.trickle / len(answer))
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                self.close_connection = True
                return
            if state.redirect_to:
                self.send_response(302)
                self.send_header("Location", state.redirect_to)
            else:
                self.send_response(500 if failing else 200)
            self.send_header("Content-Length", str(len(state.answer_body)))
            self.end_headers()
            self.wfile.write(state.answer_body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # the deliverer gave up on a hanging answer: the socket is gone

    server = Server(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/vangnet"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    state.release.set()
    server.shutdown()
    server.server_close()
    thread.join()
