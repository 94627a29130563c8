"""Loopback servers for the egress tests: a TCP listener that counts connections, an HTTP(S)
server that logs requests, HLS segments generated with ffmpeg, a self-signed certificate."""

from __future__ import annotations

import datetime
import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from api.conftest import poll
from vangnet.egress.relay import own_connection


class Listener:
    """A TCP listener on ``host`` (loopback) that accepts and counts connections."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.sock.listen(16)
        self.sock.settimeout(0.05)
        self.host, self.port = host, self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            conn.close()

    def __enter__(self) -> Listener:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


Route = bytes | int  # a body served with 200, or a status code alone


class WebServer:
    """Serves ``routes`` (path -> body or status) on ``host``; ``requests`` lists the paths
    asked for. With ``tls`` (a server SSLContext) it serves HTTPS."""

    def __init__(
        self,
        routes: dict[str, Route],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: ssl.SSLContext | None = None,
        on_request: Callable[[str], None] | None = None,
    ) -> None:
        self.routes = routes
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                server.requests.append(path)
                if on_request is not None:
                    on_request(path)
                route = server.routes.get(path, 404)
                status, body = (route, b"") if isinstance(route, int) else (200, route)
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://{host}:{self.port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self._thread.start()

    def __enter__(self) -> WebServer:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on now (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
    return port


def accepts_connections(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def hls_segments(folder: Path) -> list[bytes]:
    """Three one-second MPEG-TS segments of ffmpeg's test pattern (generated, benign)."""
    ffmpeg = shutil.which("ffmpeg")
    assert ffmpeg is not None, "these tests need ffmpeg (scripts/system-packages)"
    folder.mkdir(parents=True, exist_ok=True)
    command = [ffmpeg, "-nostdin", "-loglevel", "error", "-f", "lavfi"]
    command += ["-i", "testsrc=size=320x240:rate=10", "-t", "3", "-c:v", "mpeg2video"]
    command += ["-g", "10", "-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod"]
    command += ["-hls_segment_filename", str(folder / "seg%d.ts"), str(folder / "play.m3u8")]
    subprocess.run(command, check=True, timeout=60)
    return [p.read_bytes() for p in sorted(folder.glob("seg*.ts"))]


def playlist(urls: list[str]) -> bytes:
    """A finished (VOD) media playlist of one-second segments at ``urls``."""
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:1", "#EXT-X-MEDIA-SEQUENCE:0"]
    for url in urls:
        lines += ["#EXTINF:1.0,", url]
    lines.append("#EXT-X-ENDLIST")
    return ("\n".join(lines) + "\n").encode()


def self_signed(folder: Path) -> ssl.SSLContext:
    """A server context with a self-signed certificate for 127.0.0.1 and localhost (name and
    address right, only the issuer untrusted)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


def wait_stream(client: Any, stream_id: int, check: Callable[[dict[str, Any]], bool]) -> bool:
    """Poll ``GET /v1/streams/ID`` until ``check(json)``; False after 30 s (a bound for a
    busy machine, not a timing assertion)."""
    last: dict[str, Any] = {}

    def done() -> bool:
        nonlocal last
        r = client.get(f"/v1/streams/{stream_id}")
        assert r.status_code == 200, r.text
        last = r.json()
        return check(last)

    if not poll(done, timeout=30):
        pytest.fail(f"stream {stream_id} never got there: {last}")
    return True


def stream_json(client: Any, stream_id: int) -> dict[str, Any]:
    r = client.get(f"/v1/streams/{stream_id}")
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


class TlsProbe:
    """A TLS server on 127.0.0.1 that records the first bytes each client sends after the
    handshake (b"" when the client hung up: it did not trust the certificate). Connections
    from other processes (a port poller of another test worker) are ignored."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self.context = context
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.first_bytes: list[bytes] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            if own_connection(conn) is False:  # another worker's port poller, not the relay
                conn.close()
                continue
            try:
                # generous: on a loaded machine the relay's TLS and FFmpeg's first bytes can
                # take seconds; a client that does not trust the certificate hangs up at once
                conn.settimeout(45)
                with self.context.wrap_socket(conn, server_side=True) as tls:
                    try:
                        self.first_bytes.append(tls.recv(64))
                    except OSError:
                        self.first_bytes.append(b"")
            except OSError:  # the handshake itself failed
                self.first_bytes.append(b"")
            finally:
                conn.close()

    def __enter__(self) -> TlsProbe:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()
