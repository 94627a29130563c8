"""A one-connection TCP relay that keeps an FFmpeg protocol on the address the policy checked.

FFmpeg follows some server-driven redirects on its own: an RTSP server that answers ``3xx``
with a ``Location`` makes FFmpeg connect to that location, a destination no policy has seen.
PyAV has no option to turn this off, so RTSP streams do not let FFmpeg reach the network at
all: FFmpeg connects to a port this relay opens on 127.0.0.1 (it accepts ONE connection, then
the port closes), the relay connects to the checked, pinned address and passes the bytes both
ways. It reads the server's side as RTSP (messages and ``$``-framed interleaved packets) and
ends the connection at the first ``3xx`` answer instead of passing it on: the redirect is
refused, its target never contacted, and `refused` says why. RTSP runs interleaved over this
one TCP connection (``rtsp_transport=tcp``), so media arrives on the checked connection too.

Only this process may use the relay: any local program could connect to a port on 127.0.0.1
(and a program waiting for a port of its own to open, or scanning, does so by accident). On
Linux a connection whose client socket is not one of this process's own file descriptors
(FFmpeg runs in-process) is closed at once, without reaching the server, and the relay waits
for FFmpeg's (`own_connection`).

Nothing is stored: bytes pass through memory only.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import re
import select
import socket
import ssl
import struct
import threading
from pathlib import Path
from typing import Final

from vangnet.net import IPAddress

log = logging.getLogger(__name__)

#: The largest RTSP header block read before the server is taken to be misbehaving.
MAX_HEADER: Final = 64 * 1024
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_CONTENT_LENGTH = re.compile(rb"^content-length[ \t]*:[ \t]*(\d{1,9})[ \t]*\r?$", re.I | re.M)
_LOCATION = re.compile(rb"^location[ \t]*:[ \t]*(\S*)", re.I | re.M)
_STATUS = re.compile(rb"^RTSP/\d\.\d[ \t]+(\d{3})")
_TRANSPORT = re.compile(rb"^(transport[ \t]*:[ \t]*)([^\r\n]*)", re.I | re.M)

#: The reason a refused redirect gives (the stream's reason; the target is logged only).
REDIRECT_REFUSED: Final = (
    "refused: the stream server answered with a redirect to another address; "
    "Vangnet does not follow stream redirects (give the final URL)"
)


class RtspFramer:
    """Splits the server-to-client RTSP byte stream into whole messages and interleaved
    packets; `feed` returns the bytes that may be passed on, or raises `RedirectRefused`
    (a ``3xx``) or `RelayError` (a ``Transport`` that sends UDP media elsewhere).

    With RTP over UDP FFmpeg sends its RTCP and NAT-opening packets to the address a SETUP
    answer names (``source=``), else to the host of the URL it was given (here: the relay
    on 127.0.0.1). So every UDP ``Transport`` answer is pinned: ``source=`` must be the
    checked ``address`` (it is added when missing), and multicast or ``destination=``
    answers are refused."""

    def __init__(self, address: IPAddress) -> None:
        self.address = address
        self.buffer = bytearray()

    def feed(self, data: bytes) -> bytes:
        self.buffer += data
        out = bytearray()
        pos = 0
        buf = self.buffer
        while pos < len(buf):
            if buf[pos] == 0x24:  # '$' channel, 2-byte length, packet
                if len(buf) - pos < 4:
                    break
                end = pos + 4 + int.from_bytes(buf[pos + 2 : pos + 4], "big")
                if end > len(buf):
                    break
            else:
                match = _HEADER_END.search(buf, pos, min(len(buf), pos + MAX_HEADER + 4))
                if match is None:
                    if len(buf) - pos > MAX_HEADER:
                        raise RelayError("the server sent an RTSP header block over 64 KiB")
                    break
                head = bytes(buf[pos : match.start()])
                length = _CONTENT_LENGTH.search(head)
                end = match.end() + (int(length.group(1)) if length else 0)
                if end > len(buf):
                    break
                status = _STATUS.match(head)
                if status is not None and 300 <= int(status.group(1)) < 400:
                    location = _LOCATION.search(head)
                    target = location.group(1).decode("latin-1") if location else ""
                    raise RedirectRefused(int(status.group(1)), target)
                transport = _TRANSPORT.search(head)
                if transport is not None:
                    pinned = self._pin(transport.group(2).decode("latin-1"))
                    head = head[: transport.start(2)] + pinned.encode() + head[transport.end(2) :]
                    out += head + buf[match.start() : end]
                    pos = end
                    continue
            out += buf[pos:end]
            pos = end
        del buf[:pos]
        return bytes(out)

    def _pin(self, value: str) -> str:
        """A ``Transport`` header value with every UDP transport pinned to the address."""
        pinned = []
        for spec in value.split(","):
            params = [p.strip() for p in spec.strip().split(";")]
            if params[0].upper().endswith("/TCP"):  # interleaved: on this connection
                pinned.append(spec.strip())
                continue
            names = {p.partition("=")[0].lower(): p.partition("=")[2] for p in params[1:]}
            if "multicast" in names or "destination" in names:
                raise RelayError(f"the server asked for multicast or another destination: {spec}")
            if "source" in names:
                try:
                    source = ipaddress.ip_address(names["source"].strip().strip('"'))
                except ValueError:
                    raise RelayError(
                        f"the server named no address as media source: {spec}"
                    ) from None
                if source != self.address:
                    raise RelayError(f"the server named another media source: {spec}")
                pinned.append(spec.strip())
            else:
                pinned.append(f"{spec.strip()};source={self.address}")
        return ",".join(pinned)


class RelayError(Exception):
    """The relayed server broke the protocol: the connection is ended."""


class RedirectRefused(RelayError):
    """The server answered with a redirect: not passed on, the connection is ended."""

    def __init__(self, status: int, location: str) -> None:
        super().__init__(f"RTSP {status} redirect to {location!r}")
        self.status = status
        self.location = location


class Relay:
    """Relay FFmpeg's connections (on ``127.0.0.1:port``, one at a time) to ``address:port``,
    the address the policy checked. Use as a context manager: leaving it ends everything.

    ``rtsp``: read the server's side as RTSP (`RtspFramer`): refuse a redirect (`refused` is
    then the stream's reason) and pin UDP media to the checked address. ``tls``: speak TLS to
    the server here, in Python, with SNI and the certificate checked against
    ``server_hostname`` (FFmpeg speaks plain RTMP to the relay: FFmpeg's own TLS sends no SNI
    to the numeric address a connection is pinned to). ``idle_timeout``: None (default) sets
    no limit of its own: an RTSP control connection is quiet between keep-alives while media
    comes over UDP, and FFmpeg's own timeouts notice a silent server."""

    def __init__(
        self,
        address: IPAddress,
        port: int,
        *,
        connect_timeout: float,
        idle_timeout: float | None = None,
        rtsp: bool = False,
        tls: ssl.SSLContext | None = None,
        server_hostname: str | None = None,
    ) -> None:
        self.target = (str(address), port)
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout
        self.rtsp = rtsp
        self.tls = tls
        self.server_hostname = server_hostname
        self.refused: str | None = None
        #: Why the relay ended the connection (for the server log), if it did.
        self.detail: str | None = None
        #: Connections refused because they came from another process.
        self.strangers = 0
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(1)
        self._listener.settimeout(connect_timeout)
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="stream-relay", daemon=True)

    def __enter__(self) -> Relay:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
        self._thread.join(timeout=5)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            sockets = [self._listener, *self._sockets]
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _keep(self, sock: socket.socket) -> bool:
        with self._lock:
            if self._closed:
                sock.close()
                return False
            self._sockets.append(sock)
            return True

    def _run(self) -> None:
        """Serve FFmpeg's connections one after the other (RTSP over UDP falls back to a new
        TCP connection), each to the same checked address, until the relay is closed."""
        served = 0
        while not self._closed:
            try:
                client, _peer = self._listener.accept()
            except TimeoutError:
                if served == 0:  # nobody connected in time
                    break
                continue
            except OSError:  # closed
                break
            if own_connection(client) is False:
                self.strangers += 1
                log.warning(
                    "egress: the stream relay refused a connection from another process "
                    "(or one reset before it was looked at)"
                )
                client.close()
                continue
            served += 1
            if not self._keep(client):
                break
            self._serve(client)
            if self.refused is not None:
                break
        self.close()

    def _serve(self, client: socket.socket) -> None:
        server: socket.socket | None = None
        try:
            server = self._connect()
            self._pump(client, server)
        except RedirectRefused as exc:
            self.refused = REDIRECT_REFUSED
            self.detail = str(exc)
            log.warning("egress: refused a stream redirect from %s:%d: %s", *self.target, exc)
        except RelayError as exc:
            self.detail = str(exc)
            log.warning("egress: relay to %s:%d ended: %s", *self.target, exc)
        except (OSError, ValueError) as exc:  # ValueError: a socket closed under select
            self.detail = self.detail or f"connection ended: {_reason(exc)}"
        for sock in (client, server):
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(self.target, timeout=self.connect_timeout)
        if not self._keep(sock):  # closed with the relay meanwhile
            raise OSError("the relay was closed")
        if self.tls is None:
            return sock
        tls = self.tls.wrap_socket(sock, server_hostname=self.server_hostname)
        self._keep(tls)
        return tls

    def _pump(self, client: socket.socket, server: socket.socket) -> None:
        """Both directions in one thread (a TLS socket must not be read and written from two
        threads at once): FFmpeg's bytes go to the server as they are; the server's go to
        FFmpeg through the framer, if any."""
        client.settimeout(self.idle_timeout)
        server.settimeout(self.idle_timeout)
        pending = server.pending if isinstance(server, ssl.SSLSocket) else (lambda: 0)
        framer = RtspFramer(ipaddress.ip_address(self.target[0])) if self.rtsp else None
        while True:
            if pending():  # decrypted bytes waiting: select would not see them
                readable: list[socket.socket] = [server]
            else:
                readable, _, _ = select.select([client, server], [], [], self.idle_timeout)
                if not readable:
                    raise RelayError(f"no data either way for {self.idle_timeout:g} s")
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                if sock is client:
                    server.sendall(data)
                    continue
                passed = framer.feed(data) if framer is not None else data
                if passed:
                    client.sendall(passed)


def _proc_address(host: str, port: int) -> str:
    """``host:port`` as ``/proc/net/tcp`` writes it: the IPv4 address as the 32-bit number
    in host byte order, then the port, both in upper-case hexadecimal."""
    (number,) = struct.unpack("=I", socket.inet_aton(host))
    return f"{number:08X}:{port:04X}"


def own_connection(accepted: socket.socket) -> bool | None:
    """Whether the client end of ``accepted`` (a TCP connection to a listener on 127.0.0.1)
    is a socket of this process: its row in ``/proc/self/net/tcp``, found by both addresses
    and both ports, names an inode among ``/proc/self/fd``. False for a connection already
    gone (reset before it was looked at). None where it cannot be told: no ``/proc`` (not
    Linux), or a table without the accepted socket's own row (a system that does not list
    its sockets there)."""
    try:
        local = accepted.getsockname()
        peer = accepted.getpeername()
    except OSError:  # reset or closed by the other side already
        return False
    try:
        table = Path("/proc/self/net/tcp").read_text()
    except OSError:
        return None
    near, far = _proc_address(*local[:2]), _proc_address(*peer[:2])
    client_inode: str | None = None
    listed = False
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) <= 9:
            continue
        if fields[1] == far and fields[2] == near:
            client_inode = fields[9]
        elif fields[1] == near and fields[2] == far:
            listed = True  # the accepted socket itself: the table is complete enough
    if not listed:
        return None
    if client_inode is None or client_inode == "0":
        return False
    target = f"socket:[{client_inode}]"
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return None
    for name in names:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/self/fd/{name}") == target:
                return True
    return False


def _reason(exc: Exception) -> str:
    strerror = exc.strerror if isinstance(exc, OSError) else None
    return strerror or str(exc) or type(exc).__name__
