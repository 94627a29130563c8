"""Finding 5 (SSRF from a matcher key) and the TLS part of finding 11: every outbound
destination passes the egress policy.

LOOPBACK ONLY: internal and metadata addresses are checked as literals by the policy
function, which connects nowhere; end-to-end refusals use loopback URLs with the allow
setting off (loopback is denied by default like any internal range)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session

from api.conftest import AppFactory, poll
from conftest import audited
from security._egress import (
    Listener,
    TlsProbe,
    WebServer,
    accepts_connections,
    free_port,
    hls_segments,
    playlist,
    self_signed,
    stream_json,
    wait_stream,
)

FAST = {"live_reconnect_attempts": 0, "live_connect_timeout": 2.0, "live_stall_seconds": 2.0}


def _finished(data: dict[str, Any]) -> bool:
    return data["state"] in ("failed", "ended")


@pytest.fixture(scope="module")
def segments(tmp_path_factory: pytest.TempPathFactory) -> list[bytes]:
    return hls_segments(tmp_path_factory.mktemp("hls"))


# -- the policy on internal literals (no connection is made) -------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://2852039166/",  # 169.254.169.254 as one number
        "http://[::ffff:169.254.169.254]/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://10.0.0.1/",
        "http://172.16.5.4:8080/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://0.0.0.0:9555/",
        "http://[::]/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://[2002:a00:1::]/",  # 6to4 of 10.0.0.1
        "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of the metadata address
        "http://240.0.0.1/",
        "rtmp://127.0.0.1/live/key",
        "rtsp://[::1]:554/cam",
        "udp://239.1.1.1:5000",  # multicast, without egress_allow_multicast
        "tcp://0.0.0.0:9555",
    ],
)
def test_policy_denies_internal_addresses_by_default(url: str) -> None:
    from vangnet.egress.policy import DestinationRefused, EgressPolicy

    with pytest.raises(DestinationRefused) as refused:
        EgressPolicy().check_url(url)
    # the answer says nothing about which range or address the host is in
    assert "169.254" not in refused.value.message and "private" not in refused.value.message


def test_policy_allows_what_the_setting_names() -> None:
    from vangnet.config import Settings
    from vangnet.egress.policy import EgressPolicy

    settings = Settings(egress_allow=["127.0.0.1/32", "10.20.0.0/16"], egress_allow_multicast=True)
    policy = EgressPolicy.from_settings(settings)
    assert policy.check_url("http://127.0.0.1:8080/x").addresses
    assert policy.check_url("http://10.20.3.4/x").addresses
    assert policy.check_url("udp://239.1.1.1:5000").addresses  # multicast allowed for UDP
    from vangnet.egress.policy import DestinationRefused

    for url in ("http://127.0.0.2/", "http://10.21.0.1/", "http://239.1.1.1:5000/"):
        with pytest.raises(DestinationRefused):
            policy.check_url(url)
    with pytest.raises(ValueError, match="neither a CIDR"):
        Settings(egress_allow=["intranet"])


# -- stream URLs through POST /v1/streams ----------------------------------------------------------


def test_stream_to_a_denied_address_is_refused_and_never_contacted(
    make_client: AppFactory, admin_key: str
) -> None:
    client = make_client(egress_allow=[], **FAST)
    client.headers["X-API-Key"] = admin_key
    with Listener() as listener:
        for url in (
            f"http://127.0.0.1:{listener.port}/latest/meta-data/",
            f"http://localhost:{listener.port}/live.m3u8",
            f"rtsp://127.0.0.1:{listener.port}/cam",
            f"tcp://127.0.0.1:{listener.port}",
            f"http://[::ffff:127.0.0.1]:{listener.port}/",
        ):
            r = client.post("/v1/streams", json={"url": url})
            assert r.status_code == 422, (url, r.text)
            assert r.json()["error"]["code"] == "destination_refused"
        assert not poll(lambda: listener.connections > 0, timeout=1.0)
    assert client.get("/v1/streams").json()["streams"] == []  # nothing was created


def test_stream_to_an_allowed_address_works(
    make_client: AppFactory, admin_key: str, segments: list[bytes]
) -> None:
    routes: dict[str, bytes | int] = {f"/seg{i}.ts": s for i, s in enumerate(segments)}
    routes["/play.m3u8"] = playlist([f"seg{i}.ts" for i in range(len(segments))])
    with WebServer(routes) as web:
        client = make_client(egress_allow=["loopback"], **FAST)
        client.headers["X-API-Key"] = admin_key
        r = client.post("/v1/streams", json={"url": f"{web.url}/play.m3u8"})
        assert r.status_code == 201, r.text
        stream_id = r.json()["id"]
        assert wait_stream(client, stream_id, lambda d: d["samples"] >= 2 and _finished(d))
        assert stream_json(client, stream_id)["reason"] == "the stream ended"
        assert web.requests[:2] == ["/play.m3u8", "/seg0.ts"]


def test_listening_options_are_refused_and_no_port_opens(
    make_client: AppFactory, admin_key: str
) -> None:
    client = make_client(egress_allow=["loopback"], **FAST)  # the address alone would pass
    client.headers["X-API-Key"] = admin_key
    queries = ["listen=1", "listen", "listen=2&listen_timeout=1000", "local_port=9", "localaddr=::"]
    ports = [free_port() for _ in queries]
    for port, query in zip(ports, queries, strict=True):
        r = client.post("/v1/streams", json={"url": f"tcp://127.0.0.1:{port}?{query}"})
        assert r.status_code == 422, (query, r.text)
        assert r.json()["error"]["code"] == "destination_refused"
    assert not poll(lambda: any(accepts_connections("127.0.0.1", p) for p in ports), timeout=1.0)
    assert client.get("/v1/streams").json()["streams"] == []


def test_local_address_options_are_refused(make_client: AppFactory, admin_key: str) -> None:
    client = make_client(egress_allow=["loopback"], **FAST)
    client.headers["X-API-Key"] = admin_key
    for url in (
        "udp://127.0.0.1:{port}?localport=9",
        "udp://127.0.0.1:{port}?reuse=1",
        "udp://127.0.0.1:{port}?connect=1",
        "rtp://127.0.0.1:{port}?localrtpport=9",
        "srt://127.0.0.1:{port}?mode=listener",
        "srt://127.0.0.1:{port}?mode=rendezvous",
        "tcp://127.0.0.1:{port}?tcp_nodelay=1",  # not on tcp's allow list
        "rtmp://127.0.0.1:{port}/live/key?listen=1",
    ):
        r = client.post("/v1/streams", json={"url": url.format(port=free_port())})
        assert r.status_code == 422, (url, r.text)
        assert r.json()["error"]["code"] == "destination_refused"
    assert client.get("/v1/streams").json()["streams"] == []


def test_udp_stream_receives_on_its_address_only(make_client: AppFactory, admin_key: str) -> None:
    """``udp://0.0.0.0:PORT`` (every interface) is refused and binds nothing;
    ``udp://127.0.0.1:PORT`` binds 127.0.0.1:PORT only."""
    import psutil

    client = make_client(egress_allow=["loopback"], **FAST)
    client.headers["X-API-Key"] = admin_key

    def bound(port: int) -> list[str]:
        sockets = psutil.Process().net_connections(kind="udp")
        return [c.laddr.ip for c in sockets if c.laddr and c.laddr.port == port]

    everywhere = free_port()
    for url in (f"udp://0.0.0.0:{everywhere}", f"udp://@:{everywhere}"):
        r = client.post("/v1/streams", json={"url": url})
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "destination_refused"
    assert not poll(lambda: bool(bound(everywhere)), timeout=1.0)

    port = free_port()
    r = client.post("/v1/streams", json={"url": f"udp://127.0.0.1:{port}"})
    assert r.status_code == 201, r.text
    assert poll(lambda: bool(bound(port)), timeout=5)
    assert bound(port) == ["127.0.0.1"]
    client.post(f"/v1/streams/{r.json()['id']}/stop")


def test_hls_segment_on_a_denied_address_is_not_fetched(
    make_client: AppFactory, admin_key: str, segments: list[bytes]
) -> None:
    """The playlist is on an allowed address (127.0.0.1), its second segment on one that is
    not (127.0.0.2): the first segment is fetched, the second never."""
    with Listener("127.0.0.2") as internal:
        urls = ["seg0.ts", f"http://127.0.0.2:{internal.port}/seg1.ts"]
        routes: dict[str, bytes | int] = {"/play.m3u8": playlist(urls), "/seg0.ts": segments[0]}
        with WebServer(routes) as web:
            client = make_client(egress_allow=["127.0.0.1/32"], **FAST)
            client.headers["X-API-Key"] = admin_key
            r = client.post("/v1/streams", json={"url": f"{web.url}/play.m3u8"})
            assert r.status_code == 201, r.text
            stream_id = r.json()["id"]
            assert wait_stream(client, stream_id, _finished)
            assert "/seg0.ts" in web.requests  # the allowed part was read
        assert internal.connections == 0
    assert "127.0.0.2" not in (stream_json(client, stream_id)["reason"] or "")


def test_a_name_that_rebinds_is_checked_again_on_every_connect(
    make_client: AppFactory, admin_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: ``rebind.test`` resolves to an allowed address until the stream has
    connected once, then to a denied one. The reconnect checks again and goes nowhere."""
    real = socket.getaddrinfo
    flipped = {"now": False}

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "rebind.test":
            host = "127.0.0.2" if flipped["now"] else "127.0.0.1"
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    def flip(path: str) -> None:
        flipped["now"] = True

    # The web server answers 404 (the stream reconnects); the internal listener shares its port.
    with WebServer({}, on_request=flip) as web, Listener("127.0.0.2", web.port) as internal:
        settings = {**FAST, "live_reconnect_attempts": 2}
        client = make_client(egress_allow=["127.0.0.1/32"], **settings)
        client.headers["X-API-Key"] = admin_key
        r = client.post("/v1/streams", json={"url": f"http://rebind.test:{web.port}/x.m3u8"})
        assert r.status_code == 201, r.text
        stream_id = r.json()["id"]
        assert wait_stream(client, stream_id, _finished)
        assert web.requests == ["/x.m3u8"]  # connected once, before the name moved
        assert internal.connections == 0  # never after
    assert stream_json(client, stream_id)["state"] == "failed"


def test_reason_texts_do_not_tell_closed_from_open_ports(
    make_client: AppFactory, admin_key: str
) -> None:
    """A closed port, an HTTP server that is no stream and a TCP port that says nothing all
    end with the same reason: the reason text is no port scanner."""
    client = make_client(egress_allow=["loopback"], **FAST)
    client.headers["X-API-Key"] = admin_key
    reasons = {}
    with (
        WebServer({"/": b"<html>an intranet page</html>"}) as web,
        Listener() as silent,
    ):
        closed = free_port()
        urls = {
            "closed http": f"http://127.0.0.1:{closed}/",
            "open http": f"{web.url}/",
            "closed tcp": f"tcp://127.0.0.1:{closed}",
            "open tcp": f"tcp://127.0.0.1:{silent.port}",
            "closed rtmp": f"rtmp://127.0.0.1:{closed}/live/x",
            "open rtmp": f"rtmp://127.0.0.1:{web.port}/live/x",
        }
        ids = {}
        for name, url in urls.items():
            r = client.post("/v1/streams", json={"url": url})
            assert r.status_code == 201, (name, r.text)
            ids[name] = r.json()["id"]
        for name, stream_id in ids.items():
            assert wait_stream(client, stream_id, _finished), name
            data = stream_json(client, stream_id)
            reasons[name] = (data["state"], data["reason"])
    assert len(set(reasons.values())) == 1, reasons
    state, reason = next(iter(reasons.values()))
    assert state == "failed"
    details = ("connection refused", "invalid data", "end of file", "no answer", "html", "http")
    assert all(word not in reason.lower() for word in details), reason
    assert str(closed) not in reason and str(web.port) not in reason


# -- TLS -------------------------------------------------------------------------------------------


@pytest.fixture
def tls_stream(tmp_path: Path, segments: list[bytes]) -> Iterator[WebServer]:
    routes: dict[str, bytes | int] = {f"/seg{i}.ts": s for i, s in enumerate(segments)}
    routes["/play.m3u8"] = playlist([f"seg{i}.ts" for i in range(len(segments))])
    with WebServer(routes, tls=self_signed(tmp_path / "tls")) as web:
        yield web


def test_self_signed_https_stream_is_refused_by_default(
    make_client: AppFactory, admin_key: str, tls_stream: WebServer
) -> None:
    client = make_client(egress_allow=["loopback"], **FAST)
    client.headers["X-API-Key"] = admin_key
    r = client.post("/v1/streams", json={"url": f"{tls_stream.url}/play.m3u8"})
    assert r.status_code == 201, r.text
    stream_id = r.json()["id"]
    assert wait_stream(client, stream_id, _finished)
    assert tls_stream.requests == []  # the handshake failed: no request was made
    assert stream_json(client, stream_id)["samples"] == 0


def test_self_signed_https_stream_is_read_with_verification_off(
    make_client: AppFactory, admin_key: str, tls_stream: WebServer
) -> None:
    client = make_client(egress_allow=["loopback"], egress_tls_verify=False, **FAST)
    client.headers["X-API-Key"] = admin_key
    r = client.post("/v1/streams", json={"url": f"{tls_stream.url}/play.m3u8"})
    assert r.status_code == 201, r.text
    stream_id = r.json()["id"]
    assert wait_stream(client, stream_id, lambda d: d["samples"] >= 2 and _finished(d))
    assert "/seg0.ts" in tls_stream.requests


def test_self_signed_https_stream_is_read_when_its_ca_is_trusted(
    make_client: AppFactory, admin_key: str, tls_stream: WebServer, tmp_path: Path
) -> None:
    client = make_client(
        egress_allow=["loopback"], egress_ca_file=tmp_path / "tls" / "cert.pem", **FAST
    )
    client.headers["X-API-Key"] = admin_key
    r = client.post("/v1/streams", json={"url": f"{tls_stream.url}/play.m3u8"})
    assert r.status_code == 201, r.text
    assert wait_stream(client, r.json()["id"], lambda d: d["samples"] >= 2 and _finished(d))


@pytest.mark.parametrize(
    ("settings", "trusted"),
    [({}, False), ({"egress_tls_verify": False}, True), ({"egress_ca_file": "CA"}, True)],
    ids=["default", "verify-off", "ca-file"],
)
def test_rtmps_certificates_are_verified(
    make_client: AppFactory,
    admin_key: str,
    tmp_path: Path,
    settings: dict[str, Any],
    trusted: bool,
) -> None:
    """FFmpeg (rtmps) checks the certificate: an untrusted server gets no RTMP handshake
    after TLS (the client hangs up), a trusted one gets it (C0 = version 3)."""
    context = self_signed(tmp_path / "tls")
    if settings.get("egress_ca_file") == "CA":
        settings = {"egress_ca_file": tmp_path / "tls" / "cert.pem"}
    with TlsProbe(context) as probe:
        # TLS through the relay, then FFmpeg: FFmpeg gives up (and hangs up) after
        # live_connect_timeout; on a busy machine 10 s was once not enough for the handshake
        slow = {**FAST, "live_connect_timeout": 30.0}
        client = make_client(egress_allow=["loopback"], **slow, **settings)
        client.headers["X-API-Key"] = admin_key
        r = client.post("/v1/streams", json={"url": f"rtmps://127.0.0.1:{probe.port}/live/key"})
        assert r.status_code == 201, r.text
        assert poll(lambda: len(probe.first_bytes) >= 1, timeout=60)
        sent_rtmp = probe.first_bytes[0][:1] == b"\x03"
    assert sent_rtmp is trusted, probe.first_bytes


# -- webhooks --------------------------------------------------------------------------------------


def test_webhook_to_a_denied_destination_is_not_sent_and_is_dead(
    make_client: AppFactory, admin_key: str, db_url: str
) -> None:
    from vangnet.actions import webhooks
    from vangnet.store.db import make_engine

    with Listener() as receiver:
        url = f"http://127.0.0.1:{receiver.port}/hook"
        engine = audited(make_engine(db_url))
        try:
            with Session(engine) as session:  # as an alert's transaction queues it
                webhooks.enqueue(
                    session,
                    event="alert.created",
                    payload={"alert": 1},
                    idempotency_key="k1",
                    url=url,
                )
                session.commit()
        finally:
            engine.dispose()
        client = make_client(egress_allow=[], webhook_url=url, webhook_backoff_seconds=0.1)
        client.headers["X-API-Key"] = admin_key

        def dead() -> list[dict[str, Any]]:
            r = client.get("/v1/webhooks/dead")
            assert r.status_code == 200, r.text
            rows: list[dict[str, Any]] = r.json()["deliveries"]
            return rows

        assert poll(lambda: len(dead()) == 1, timeout=10)
        row = dead()[0]
        assert "destination_refused" in (row.get("last_error") or ""), row
        assert row["attempts"] == 1  # refused once, not retried against the policy
        assert receiver.connections == 0


# -- NCMEC ---------------------------------------------------------------------------------------


def test_ncmec_base_url_on_a_denied_address_is_not_contacted() -> None:
    from vangnet.config import Settings
    from vangnet.egress.policy import EgressPolicy
    from vangnet.reports.ncmec_client import NcmecClient, NcmecSubmitError

    with Listener() as fake_ncmec:
        url = f"http://127.0.0.1:{fake_ncmec.port}/ispws"
        denied = EgressPolicy.from_settings(Settings(egress_allow=[]))
        with (
            NcmecClient(url, "esp", "secret", timeout=2, egress=denied) as ncmec,
            pytest.raises(NcmecSubmitError, match="egress policy"),
        ):
            ncmec.status()
        assert fake_ncmec.connections == 0
        allowed = EgressPolicy.from_settings(Settings(egress_allow=["127.0.0.1/32"]))
        with (
            NcmecClient(url, "esp", "secret", timeout=2, egress=allowed) as ncmec,
            pytest.raises(NcmecSubmitError),  # the listener hangs up: no answer
        ):
            ncmec.status()
        assert poll(lambda: fake_ncmec.connections == 1, timeout=2)


def test_webhook_host_that_does_not_resolve_is_retried_not_dead(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A DNS outage is no refusal: the delivery stays pending for the next attempt."""
    from vangnet.actions import webhooks
    from vangnet.config import Settings
    from vangnet.store.db import make_engine
    from vangnet.store.models import WebhookDelivery

    real = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "hooks.invalid":  # answered here: no DNS query leaves the machine
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    engine = audited(make_engine(db_url))
    try:
        with Session(engine) as session:
            url = "https://hooks.invalid/vangnet"
            webhooks.enqueue(
                session, event="alert.created", payload={}, idempotency_key="k2", url=url
            )
            session.commit()
        deliverer = webhooks.Deliverer(engine, settings=Settings(database_url=db_url))
        try:
            assert deliverer.run_once() == 1
        finally:
            deliverer.stop()
        with Session(engine) as session:
            row = session.query(WebhookDelivery).one()
            assert (row.status, row.attempts) == ("pending", 1)
            assert row.last_error == "the webhook host could not be resolved"
    finally:
        engine.dispose()


def test_serve_refuses_unverified_tls_on_a_network_address(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Turning TLS verification off is for testing: `vangnet serve` on a network address
    refuses it (it binds nothing: the check comes first)."""
    from typer.testing import CliRunner

    from vangnet.cli import app
    from vangnet.config import reset_settings

    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    monkeypatch.setenv("VANGNET_COOKIE_SECURE", "true")
    monkeypatch.setenv("VANGNET_EGRESS_TLS_VERIFY", "false")
    reset_settings()
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--port", "1"])
    assert result.exit_code == 2, result.output
    assert "VANGNET_EGRESS_TLS_VERIFY" in result.output
