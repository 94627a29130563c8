"""The stream relay (`vangnet.egress.relay`): an RTSP server's ``3xx`` is not followed (FFmpeg
would follow it to a destination no policy checked), RTSP streams run through the loopback
relay that keeps them on the checked address, and rtmps gets TLS with SNI from the relay.

LOOPBACK ONLY: the allowed server is on 127.0.0.1, the redirect target on 127.0.0.2 (or
another port of 127.0.0.1), with ``egress_allow`` narrowed to what the test allows."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from api.conftest import AppFactory, poll
from security._egress import Listener, TlsProbe, self_signed, stream_json, wait_stream
from security._rtsp import FakeRtspServer, mpegts_clip

FAST = {"live_reconnect_attempts": 0, "live_connect_timeout": 3.0, "live_stall_seconds": 3.0}


@pytest.mark.parametrize("status", [301, 302, 305])
def test_rtsp_redirect_to_a_denied_address_is_refused_and_not_contacted(
    make_client: AppFactory, admin_key: str, status: int
) -> None:
    from vangnet.egress.relay import REDIRECT_REFUSED

    with Listener(host="127.0.0.2") as denied:
        target = f"rtsp://127.0.0.2:{denied.port}/cam"
        with FakeRtspServer(redirect=target, status=status) as server:
            client = make_client(egress_allow=["127.0.0.1/32"], **FAST)
            client.headers["X-API-Key"] = admin_key
            r = client.post("/v1/streams", json={"url": server.url})
            assert r.status_code == 201, r.text
            stream_id = r.json()["id"]
            assert wait_stream(client, stream_id, lambda d: d["state"] == "failed")
            data = stream_json(client, stream_id)
            assert data["reason"] == REDIRECT_REFUSED
            assert "127.0.0.2" not in data["reason"]  # the target is not named to the caller
            assert any(line.startswith("DESCRIBE ") for line in server.requests)
        assert not poll(lambda: denied.connections > 0, timeout=1.0)


def test_rtsp_redirect_is_refused_even_to_an_allowed_address(
    make_client: AppFactory, admin_key: str
) -> None:
    """Redirects are not followed at all (the target would reach FFmpeg unpinned)."""
    from vangnet.egress.relay import REDIRECT_REFUSED

    with Listener() as elsewhere:
        target = f"rtsp://127.0.0.1:{elsewhere.port}/cam"
        with FakeRtspServer(redirect=target) as server:
            client = make_client(egress_allow=["loopback"], **FAST)
            client.headers["X-API-Key"] = admin_key
            stream_id = client.post("/v1/streams", json={"url": server.url}).json()["id"]
            assert wait_stream(client, stream_id, lambda d: d["state"] == "failed")
            assert stream_json(client, stream_id)["reason"] == REDIRECT_REFUSED
        assert not poll(lambda: elsewhere.connections > 0, timeout=1.0)


def test_rtsp_stream_plays_through_the_relay(make_client: AppFactory, admin_key: str) -> None:
    """An RTSP stream that does not redirect plays, interleaved over the one checked TCP
    connection (the relay passes RTP through). RTP over UDP through the relay is played by
    tests/live/test_live_streams.py (a real RTSP server)."""
    with FakeRtspServer(clip=mpegts_clip()) as server:
        client = make_client(egress_allow=["127.0.0.1/32"], **FAST)
        client.headers["X-API-Key"] = admin_key
        stream_id = client.post("/v1/streams", json={"url": server.url}).json()["id"]
        assert wait_stream(client, stream_id, lambda d: d["samples"] >= 2)
        setup = [line for line in server.requests if line.startswith("SETUP ")]
        assert setup, server.requests
        client.post(f"/v1/streams/{stream_id}/stop")


def test_rtsp_udp_media_named_on_a_denied_address_is_refused(
    make_client: AppFactory, admin_key: str
) -> None:
    """RTP over UDP: a SETUP answer that sends FFmpeg's UDP packets (RTCP, NAT opening) to
    another address (``source=``) ends the stream; nothing reaches that address."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as denied:
        denied.bind(("127.0.0.2", 0))
        denied.settimeout(2.0)
        port = denied.getsockname()[1]
        transport = f"RTP/AVP;unicast;client_port={{client_port}};server_port={port}-{port + 1}"
        transport += ";source=127.0.0.2"
        with FakeRtspServer(clip=mpegts_clip(1), udp_transport=transport) as server:
            client = make_client(egress_allow=["127.0.0.1/32"], live_rtsp_transport="udp", **FAST)
            client.headers["X-API-Key"] = admin_key
            stream_id = client.post("/v1/streams", json={"url": server.url}).json()["id"]
            assert wait_stream(client, stream_id, lambda d: d["state"] == "failed")
            assert any(line.startswith("SETUP ") for line in server.requests)
        with pytest.raises(TimeoutError):
            denied.recvfrom(2048)


def test_framer_pins_udp_media_to_the_checked_address() -> None:
    import ipaddress

    from vangnet.egress.relay import RelayError, RtspFramer

    framer = RtspFramer(ipaddress.ip_address("192.0.2.7"))
    setup = (
        b"RTSP/1.0 200 OK\r\nCSeq: 3\r\nTransport: RTP/AVP;unicast;client_port=5000-5001\r\n\r\n"
    )
    assert b"client_port=5000-5001;source=192.0.2.7\r\n" in framer.feed(setup)
    tcp = b"RTSP/1.0 200 OK\r\nTransport: RTP/AVP/TCP;interleaved=0-1\r\n\r\n"
    assert framer.feed(tcp) == tcp
    same = setup.replace(b"5001", b"5001;source=192.0.2.7")
    assert framer.feed(same) == same
    for bad in (b"source=10.0.0.1", b"destination=10.0.0.1", b"multicast", b"source=x"):
        with pytest.raises(RelayError):
            RtspFramer(ipaddress.ip_address("192.0.2.7")).feed(
                setup.replace(b"5000-5001", b"5000-5001;" + bad)
            )


def test_framer_passes_messages_and_packets_and_stops_at_a_redirect() -> None:
    import ipaddress

    from vangnet.egress.relay import RedirectRefused, RelayError, RtspFramer

    framer = RtspFramer(ipaddress.ip_address("192.0.2.7"))
    ok = b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 4\r\n\r\nabcd"
    packet = b"$\x00\x00\x03xyz"
    # split anywhere: only whole messages and packets pass
    data = ok + packet
    passed = b"".join(framer.feed(data[i : i + 5]) for i in range(0, len(data), 5))
    assert passed == data
    with pytest.raises(RedirectRefused) as refused:
        framer.feed(b"RTSP/1.0 302 Found\r\nCSeq: 2\r\nLocation: rtsp://10.0.0.1/x\r\n\r\n")
    assert refused.value.location == "rtsp://10.0.0.1/x"
    with pytest.raises(RelayError, match="64 KiB"):
        RtspFramer(ipaddress.ip_address("192.0.2.7")).feed(
            b"RTSP/1.0 200 OK\r\n" + b"X: y\r\n" * 20000
        )


def test_rtmps_sends_sni_and_checks_the_certificate_against_the_host_name(
    make_client: AppFactory, admin_key: str, tmp_path: Path
) -> None:
    """rtmps through the relay: TLS (SNI = the URL's host name, certificate checked against
    it) to the pinned address, then FFmpeg's RTMP handshake (C0 = version 3) inside it."""
    context = self_signed(tmp_path / "tls")
    names: list[str | None] = []

    def sni(_sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        names.append(name)

    context.sni_callback = sni  # type: ignore[assignment]
    with TlsProbe(context) as probe:
        client = make_client(
            egress_allow=["loopback"],
            egress_ca_file=tmp_path / "tls" / "cert.pem",
            **{**FAST, "live_connect_timeout": 30.0},
        )
        client.headers["X-API-Key"] = admin_key
        url = f"rtmps://localhost:{probe.port}/live/key"
        assert client.post("/v1/streams", json={"url": url}).status_code == 201
        assert poll(lambda: len(probe.first_bytes) >= 1, timeout=60)
        assert probe.first_bytes[0][:1] == b"\x03", probe.first_bytes
    assert names[:1] == ["localhost"]


def test_rtmp_tc_url_keeps_the_servers_own_address() -> None:
    from vangnet.sources.streams import rtmp_tc_url, via_relay

    url = "rtmps://user:pw@live.example.org:443/app/streamkey?x=1"
    assert rtmp_tc_url(url) == "rtmps://live.example.org:443/app"
    assert via_relay(url, 4242) == "rtmps://user:pw@127.0.0.1:4242/app/streamkey?x=1"


def test_relay_keeps_a_quiet_rtsp_control_connection() -> None:
    """With RTP over UDP the RTSP connection is quiet between keep-alives: the relay keeps it
    (ending it would end the server's session and the stream)."""
    import ipaddress
    import socket
    import threading
    import time

    from vangnet.egress.relay import Relay

    answer = b"RTSP/1.0 200 OK\r\nCSeq: 9\r\n\r\n"
    with socket.create_server(("127.0.0.1", 0)) as server:

        def serve() -> None:
            conn, _ = server.accept()
            with conn:
                conn.recv(100)
                time.sleep(2.5)  # quiet, as between keep-alives
                conn.sendall(answer)
                time.sleep(0.5)

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        address = ipaddress.ip_address("127.0.0.1")
        port = server.getsockname()[1]
        relay = Relay(address, port, connect_timeout=2.0, rtsp=True)
        with relay, socket.create_connection(("127.0.0.1", relay.port), timeout=10) as ffmpeg:
            ffmpeg.sendall(b"GET_PARAMETER rtsp://x/ RTSP/1.0\r\nCSeq: 9\r\n\r\n")
            assert ffmpeg.recv(100) == answer
        thread.join(timeout=5)


@pytest.mark.skipif(not Path("/proc/self/net/tcp").exists(), reason="needs Linux /proc")
def test_relay_serves_only_this_process() -> None:
    """A connection from another program (here a child Python that connects and sends
    bytes, as a port poller or a scanner would) is closed without reaching the server; the
    relay then serves this process's own connection as usual."""
    import ipaddress
    import socket
    import subprocess
    import sys
    import threading

    from vangnet.egress.relay import Relay, own_connection

    received: list[bytes] = []
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(10)

        def serve() -> None:
            conn, _ = server.accept()
            with conn:
                received.append(conn.recv(100))
                conn.sendall(b"pong")

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        relay = Relay(
            ipaddress.ip_address("127.0.0.1"), server.getsockname()[1], connect_timeout=10
        )
        with relay:
            stranger = (
                "import socket,sys\n"
                "s = socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=10)\n"
                "s.sendall(b'stranger')\n"
                "try:\n"
                "    print(s.recv(10) == b'')\n"  # closed by the relay, nothing relayed back
                "except ConnectionResetError:\n"  # closed with the bytes unread
                "    print(True)\n"
            )
            out = subprocess.run(
                [sys.executable, "-c", stranger, str(relay.port)],
                capture_output=True,
                text=True,
                timeout=30,
                check=True,
            )
            assert out.stdout.strip() == "True"
            assert poll(lambda: relay.strangers == 1, timeout=10)
            with socket.create_connection(("127.0.0.1", relay.port), timeout=10) as own:
                own.sendall(b"ping")
                assert own.recv(10) == b"pong"
        thread.join(timeout=5)
    assert received == [b"ping"]  # the stranger's bytes never reached the server

    # the check itself on a plain listener: a connection of this process is its own
    with (
        socket.create_server(("127.0.0.1", 0)) as listener,
        socket.create_connection(listener.getsockname()),
    ):
        accepted, _ = listener.accept()
        with accepted:
            assert own_connection(accepted) is True
