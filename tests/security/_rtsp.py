"""A small fake RTSP server on loopback for the egress tests: it answers FFmpeg's requests,
and either redirects (``3xx`` with a ``Location``) or plays MPEG-TS over RTP interleaved on the
RTSP connection (RTP/AVP/TCP, payload type 33). The video is generated with PyAV (benign)."""

from __future__ import annotations

import io
import socket
import struct
import threading
import time
from types import TracebackType

import av
import numpy as np

SDP = (
    "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=test\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n"
    "m=video 0 RTP/AVP 33\r\na=rtpmap:33 MP2T/90000\r\na=control:track0\r\n"
)


def mpegts_clip(seconds: int = 3, fps: int = 10) -> bytes:
    """A moving test pattern as MPEG-2 video in MPEG-TS, made in memory."""
    out = io.BytesIO()
    with av.open(out, mode="w", format="mpegts") as container:
        stream = container.add_stream("mpeg2video", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.gop_size = fps
        y, x = np.mgrid[0:240, 0:320]
        for i in range(seconds * fps):
            picture = np.stack([(x + 8 * i) % 256, (y * 2) % 256, (x ^ y) % 256], axis=-1)
            frame = av.VideoFrame.from_ndarray(picture.astype(np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


class FakeRtspServer:
    """Serves one RTSP client at a time on ``host``. With ``redirect`` it answers DESCRIBE
    with ``status`` and that ``Location``; else it plays ``clip`` on PLAY. ``requests`` lists
    the request lines received."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        redirect: str | None = None,
        status: int = 302,
        clip: bytes = b"",
        udp_transport: str | None = None,
    ) -> None:
        self.redirect, self.status, self.clip = redirect, status, clip
        #: The Transport answer to a UDP SETUP ("{client_port}" is filled in).
        self.udp_transport = udp_transport
        self.requests: list[str] = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(4)
        self.sock.settimeout(0.05)
        self.host, self.port = host, self.sock.getsockname()[1]
        self.url = f"rtsp://{host}:{self.port}/cam"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def __enter__(self) -> FakeRtspServer:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(10)
        buffer = b""
        try:
            while not self._stop.is_set():
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(4096)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                self.requests.append(lines[0])
                method = lines[0].split(" ", 1)[0]
                cseq = next(
                    (ln.split(":", 1)[1].strip() for ln in lines if ln.lower().startswith("cseq")),
                    "0",
                )
                if method == "DESCRIBE" and self.redirect is not None:
                    conn.sendall(
                        f"RTSP/1.0 {self.status} Moved\r\nCSeq: {cseq}\r\n"
                        f"Location: {self.redirect}\r\n\r\n".encode()
                    )
                    continue
                extra = ""
                body = ""
                if method == "OPTIONS":
                    extra = "Public: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN\r\n"
                elif method == "DESCRIBE":
                    body = SDP
                    extra = f"Content-Type: application/sdp\r\nContent-Base: {self.url}/\r\n"
                elif method == "SETUP":
                    asked = next((ln for ln in lines if ln.lower().startswith("transport")), "")
                    transport = "RTP/AVP/TCP;unicast;interleaved=0-1"
                    if "/TCP" not in asked:
                        if self.udp_transport is None:  # the client falls back to TCP
                            conn.sendall(
                                f"RTSP/1.0 461 Unsupported Transport\r\nCSeq: {cseq}\r\n"
                                "Content-Length: 0\r\n\r\n".encode()
                            )
                            continue
                        ports = asked.partition("client_port=")[2].split(";")[0]
                        transport = self.udp_transport.format(client_port=ports)
                    extra = f"Transport: {transport}\r\nSession: 1234\r\n"
                elif method in ("PLAY", "GET_PARAMETER", "TEARDOWN"):
                    extra = "Session: 1234\r\n"
                conn.sendall(
                    f"RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\n{extra}"
                    f"Content-Length: {len(body)}\r\n\r\n{body}".encode()
                )
                if method == "PLAY":
                    self._play(conn)
                    return
        except OSError:
            return
        finally:
            conn.close()

    def _play(self, conn: socket.socket) -> None:
        """The clip as RTP packets of 7 TS packets each, interleaved on channel 0."""
        chunk = 7 * 188
        for seq, start in enumerate(range(0, len(self.clip), chunk)):
            payload = self.clip[start : start + chunk]
            rtp = struct.pack("!BBHII", 0x80, 33, seq & 0xFFFF, seq * 900, 0x1234) + payload
            conn.sendall(b"$\x00" + struct.pack("!H", len(rtp)) + rtp)
            if seq % 20 == 0:
                time.sleep(0.01)
        time.sleep(1.0)
