"""Issue 10, findings 2 and 3 and the Host check of 11: the HTTP front of a real
`vangnet serve` (two worker processes) attacked from 127.0.0.1 without a key.

- #2 bodies: no body is read before the credentials are checked (a 100 MB body without a key
  gets 401 after the first megabyte, the server's memory does not grow); bodies over their
  route's cap get 413, stalled bodies 408; multipart sent to the sign-in form or to a web form
  never lands in a temporary file.
- #3 slow clients: 300 sockets sending slow headers, or slow bodies without a key, do not stop
  `/status` and `/ui/login` from answering 200; the server closes them.
- #11 Host: a request for another host name (DNS rebinding) is refused with 421.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from api.conftest import AppFactory
from security._http_server import (
    Server,
    closed_by_server,
    open_slowly,
    read_answer,
    running_server,
    sign_in,
    status_of,
)

MB = 1024 * 1024
HEADER_TIMEOUT_S = 2
BODY_IDLE_S = 2
SMALL_BODY_S = 2
JSON_CAP = MB
MEMORY_BOUND = 60 * MB  # the server's RSS (all processes) may grow this much at most


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(
        tmp_path_factory.mktemp("http-front"),
        serve_workers="2",
        http_header_timeout_seconds=str(HEADER_TIMEOUT_S),
        http_body_idle_seconds=str(BODY_IDLE_S),
        http_small_body_seconds=str(SMALL_BODY_S),
        http_max_json_bytes=str(JSON_CAP),
        # this module's attacks all come from 127.0.0.1: only the concurrency limit acts here
        # (the per-minute limit is tested on its own below)
        http_unauth_per_minute="1000000",
    ) as running:
        yield running


def raw(port: int, head: str) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(head.encode())
    return s


def poll_all_ok(base: str, seconds: float) -> list[tuple[str, int | None]]:
    """GET /status and /ui/login (a new connection each) for ``seconds`` and at least twice;
    the failures."""
    bad: list[tuple[str, int | None]] = []
    rounds = 0
    end = time.monotonic() + seconds
    while rounds < 2 or time.monotonic() < end:
        rounds += 1
        for path in ("/status", "/ui/login"):
            try:
                code: int | None = httpx.get(base + path, timeout=5).status_code
            except httpx.HTTPError:
                code = None
            if code != 200:
                bad.append((path, code))
        time.sleep(0.1)
    return bad


def test_serve_runs_two_worker_processes(server: Server) -> None:
    assert len(server.processes()) >= 3  # the server process and its 2 workers
    assert httpx.get(server.base + "/status", timeout=5).text == "I-AM-ALIVE"


def test_slow_bodies_without_key_do_not_take_the_server_down(server: Server) -> None:
    """#3: 300 connections with headers and 5 bytes of a large body, no key."""
    host = f"Host: 127.0.0.1:{server.port}\r\n"
    api = (
        f"POST /v1/lookup HTTP/1.1\r\n{host}Content-Type: application/json\r\n"
        f'Content-Length: 1000000\r\n\r\n{{"si'
    )
    form = (
        f"POST /ui/login HTTP/1.1\r\n{host}Content-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: 10000\r\n\r\nusern"
    )
    api_socks = open_slowly(server.port, api.encode(), 150)
    form_socks = open_slowly(server.port, form.encode(), 150)
    try:
        assert poll_all_ok(server.base, 3.0) == []
        # no key: answered (401) and closed at once
        assert closed_by_server(api_socks, within=5, trickle=False) == len(api_socks)
        # the sign-in form: all but a few refused at once (429), the rest cut off (408)
        assert closed_by_server(form_socks, within=SMALL_BODY_S + 6, trickle=True) == len(
            form_socks
        )
        assert poll_all_ok(server.base, 0.5) == []
    finally:
        for s in api_socks + form_socks:
            s.close()


def test_slow_headers_are_cut_off(server: Server) -> None:
    """Slowloris: 300 connections sending a header byte a second never get a request in."""
    opening = f"GET /ui/login HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nX-Slow: ".encode()
    socks = open_slowly(server.port, opening, 300)
    closed: list[int] = []
    watcher = threading.Thread(
        target=lambda: closed.append(
            closed_by_server(socks, within=HEADER_TIMEOUT_S + 8, trickle=True)
        )
    )
    watcher.start()
    try:
        assert poll_all_ok(server.base, 3.0) == []
    finally:
        watcher.join(timeout=30)
        for s in socks:
            s.close()
    assert closed == [len(socks)]


def test_large_body_without_key_is_refused_before_it_is_read(server: Server) -> None:
    """#2: 100 MB announced to an API route without a key (or with a key whose role may not
    use the route): 401 (403) before any of it is sent, and none of it is read."""
    before = server.rss()
    cases = [
        ("/v1/lookup/batch", "", 401),
        ("/c/bank/ANY/content", "", 401),
        ("/v1/hash", "", 401),
        ("/v1/banks/ANY/hashes", f"X-API-Key: {server.matcher_key}\r\n", 403),
    ]
    for path, key, status in cases:
        s = raw(
            server.port,
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n{key}"
            f"Content-Type: application/json\r\nContent-Length: {100 * MB}\r\n\r\n",
        )
        with s:
            # answered before a single body byte was sent
            answer = read_answer(s, within=5)
            assert status_of(answer) == status, (path, answer[:200])
            s.settimeout(5)
            sent = 0
            with pytest.raises(OSError):  # closed (or not read): the body goes nowhere
                for _ in range(100):
                    s.sendall(b"0" * MB)
                    sent += MB
            assert sent < 99 * MB, path
    assert server.rss() - before < MEMORY_BOUND


def test_oversized_bodies_with_key_get_413_and_stalled_ones_408(server: Server) -> None:
    key = f"X-API-Key: {server.key}\r\n"
    head = f"Host: 127.0.0.1:{server.port}\r\n{key}Content-Type: application/json\r\n"
    # declared too large: refused before any of it is read
    with raw(
        server.port, f"POST /v1/lookup/batch HTTP/1.1\r\n{head}Content-Length: {2 * MB}\r\n\r\n"
    ) as s:
        assert status_of(read_answer(s, within=5)) == 413
    # chunked, no length: counted as it arrives
    with raw(
        server.port, f"POST /v1/lookup/batch HTTP/1.1\r\n{head}Transfer-Encoding: chunked\r\n\r\n"
    ) as s:
        with contextlib.suppress(OSError):
            for _ in range(3):
                chunk = b"1," * (MB // 4)
                s.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
        assert status_of(read_answer(s, within=5)) == 413
    # a body that stops coming
    with raw(
        server.port, f'POST /v1/lookup HTTP/1.1\r\n{head}Content-Length: 100\r\n\r\n{{"si'
    ) as s:
        t = time.monotonic()
        assert status_of(read_answer(s, within=BODY_IDLE_S + 5)) == 408
        assert time.monotonic() - t < BODY_IDLE_S + 5
    # a normal request still works
    r = httpx.post(
        server.base + "/v1/lookup",
        json={"signal_type": "pdq", "value": "f" * 64},
        headers={"X-API-Key": server.key},
        timeout=10,
    )
    assert r.status_code == 200, r.text


def _multipart_head(port: int, path: str, length: int, cookie: str = "") -> tuple[str, bytes]:
    boundary = "vangnetboundary"
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{cookie}"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {length}\r\n\r\n"
    )
    part = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="username"; '
        'filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    return head, part


def test_multipart_to_web_forms_never_touches_the_disk(server: Server) -> None:
    """#2: a 20 MB file part sent to /ui/login, and to a web form of a signed-in person."""
    web, csrf = sign_in(server)
    try:
        cookie = "Cookie: " + "; ".join(f"{k}={v}" for k, v in web.cookies.items()) + "\r\n"
        for path, extra in (("/ui/login", ""), ("/ui/settings", cookie)):
            head, part = _multipart_head(server.port, path, 20 * MB, extra)
            with raw(server.port, head) as s:
                with contextlib.suppress(OSError):  # the server may answer and close first
                    s.sendall(part)
                    for _ in range(3):
                        s.sendall(b"\0" * MB)
                time.sleep(0.3)
                assert server.open_temp_files() == [], path
                assert status_of(read_answer(s, within=5)) == 413, path
            assert list(server.tmpdir.iterdir()) == []
        # a small multipart form is parsed in memory and works like the URL-encoded one ...
        r = web.post("/ui/settings", files={"csrf": (None, csrf), "blur": (None, "12")}, timeout=10)
        assert r.status_code == 303, r.text
        # ... and web forms take no files
        r = web.post(
            "/ui/settings",
            files={"csrf": (None, csrf), "blur": ("x.txt", b"12", "text/plain")},
            timeout=10,
        )
        assert r.status_code == 415, r.text
    finally:
        web.close()


def test_host_header_is_checked(server: Server) -> None:
    """#11: DNS rebinding. Every request still goes to 127.0.0.1; only the header differs."""
    for path in ("/status", "/ui/login"):
        r = httpx.get(server.base + path, headers={"Host": "evil.example"}, timeout=5)
        assert r.status_code == 421, (path, r.text)
    r = httpx.post(
        server.base + "/v1/lookup",
        json={"signal_type": "pdq", "value": "f" * 64},
        headers={"Host": f"evil.example:{server.port}", "X-API-Key": server.key},
        timeout=5,
    )
    assert r.status_code == 421
    for name in ("localhost", "127.0.0.1", "[::1]"):
        r = httpx.get(server.base + "/status", headers={"Host": f"{name}:{server.port}"}, timeout=5)
        assert r.status_code == 200, name
    with raw(server.port, "GET /status HTTP/1.0\r\n\r\n") as s:
        assert status_of(read_answer(s, within=5)) == 400


# -- in process: limits per client address --------------------------------------------------


def test_failed_auth_is_rate_limited_per_address(make_client: AppFactory, admin_key: str) -> None:
    client = make_client(http_unauth_per_minute=5)
    body = {"signal_type": "pdq", "value": "f" * 64}
    answers = [client.post("/v1/lookup", json=body).status_code for _ in range(4)]
    answers.append(client.get("/v1/banks", headers={"X-API-Key": "vn_wrong"}).status_code)
    assert answers == [401] * 5
    assert client.post("/v1/lookup", json=body).status_code == 429
    assert client.post("/ui/login", data={"username": "a", "password": "b"}).status_code == 429
    # nothing else is limited: public pages, and requests with a valid key
    assert client.get("/status").status_code == 200
    assert client.get("/ui/login").status_code == 200
    ok = client.post("/v1/lookup", json=body, headers={"X-API-Key": admin_key})
    assert ok.status_code == 200, ok.text


def test_host_check_holds_in_demo_mode(make_client: AppFactory) -> None:
    """`--no-auth` (loopback only) is what DNS rebinding goes after."""
    client = make_client(require_api_keys=False)
    assert client.get("/v1/banks").status_code == 200
    assert client.get("/v1/banks", headers={"Host": "evil.example"}).status_code == 421
    assert client.get("/v1/banks", headers={"Host": "localhost:5000"}).status_code == 200
