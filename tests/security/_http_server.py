"""A real `vangnet serve` process on a free 127.0.0.1 port, and raw-socket clients for
attacking it slowly. Every socket here connects to 127.0.0.1 only."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from web.conftest import LOGIN_CSRF

VENV_BIN = Path(sys.executable).parent
START_TIMEOUT_S = 120.0
PASSWORD = "correct horse battery staple 42"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    """``vangnet ARGS`` with the ``VANGNET_*`` settings of ``env`` (and no others), run in
    this process (a server's keys and account before it starts: the server is the real
    process); exit 0 and no traceback asserted; its standard output."""
    from typer.testing import CliRunner

    from vangnet.cli import app
    from vangnet.config import reset_settings

    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("VANGNET_")]:
            patch.delenv(name)
        for name, value in env.items():
            if name.startswith("VANGNET_"):
                patch.setenv(name, value)
        reset_settings()
        done = CliRunner().invoke(app, list(args), input=stdin)
    reset_settings()
    assert "Traceback" not in done.output, done.output
    assert done.exit_code == 0, (args, done.exit_code, done.output)
    return str(done.stdout)


@dataclass
class Server:
    proc: subprocess.Popen[str]
    port: int
    env: dict[str, str]
    key: str  # an admin API key
    matcher_key: str  # a key that may match but not change banks
    user: str  # an admin web user (password PASSWORD)
    tmpdir: Path  # the server's TMPDIR: spooled uploads would show up here

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def processes(self) -> list[psutil.Process]:
        """The serving process and its workers."""
        main = psutil.Process(self.proc.pid)
        return [main, *main.children(recursive=True)]

    def rss(self) -> int:
        total = 0
        for p in self.processes():
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        return total

    def open_temp_files(self) -> list[str]:
        """Files open in any server process that live in its TMPDIR (spooled uploads)."""
        found = []
        for p in self.processes():
            fd_dir = Path(f"/proc/{p.pid}/fd")
            with contextlib.suppress(OSError):
                for fd in fd_dir.iterdir():
                    with contextlib.suppress(OSError):
                        target = os.readlink(fd)
                        if target.startswith(str(self.tmpdir)):
                            found.append(target)
        return found


@contextlib.contextmanager
def running_server(home: Path, **settings: str) -> Iterator[Server]:
    """`vangnet serve` with ``settings`` (VANGNET_<NAME> values); stopped with SIGTERM at the
    end, which must be clean (no traceback, exit 0 or -SIGTERM)."""
    tmpdir = home / "tmp"
    tmpdir.mkdir(parents=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VANGNET_")}
    env["VANGNET_EGRESS_ALLOW"] = '["loopback"]'  # the tests' servers are on loopback
    env.update({f"VANGNET_{k.upper()}": v for k, v in settings.items()})
    env.update(VANGNET_HOME=str(home / "home"), TMPDIR=str(tmpdir), VANGNET_LOG_LEVEL="warning")
    key = json.loads(cli(env, "key", "create", "attack-suite", "--role", "admin", "--json"))["key"]
    matcher = json.loads(cli(env, "key", "create", "matcher", "--role", "matcher", "--json"))["key"]
    # a reviewer: signs in with a password alone (admins need a second factor)
    cli(
        env,
        "user",
        "create",
        "boss",
        "--role",
        "reviewer",
        "--password-stdin",
        stdin=PASSWORD + "\n",
    )
    with _serving(env) as (proc, port):
        yield Server(proc, port, env, key, matcher, "boss", tmpdir)


@contextlib.contextmanager
def another_server(server: Server, **settings: str) -> Iterator[Server]:
    """A second `vangnet serve` on ``server``'s database, home and settings (plus ``settings``)
    on its own 127.0.0.1 port: another host of the same deployment, behind a load balancer."""
    env = {**server.env, **{f"VANGNET_{k.upper()}": v for k, v in settings.items()}}
    with _serving(env) as (proc, port):
        yield dataclasses.replace(server, proc=proc, port=port, env=env)


@contextlib.contextmanager
def _serving(env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """`vangnet serve` with ``env`` on a free port, until it answers; stopped with SIGTERM."""
    port = free_port()
    proc = subprocess.Popen(
        [str(VENV_BIN / "vangnet"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:  # bounded wait for start-up
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/status", timeout=2).text == "I-AM-ALIVE":
                    break
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)
        yield proc, port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate(timeout=10)
            raise AssertionError("server did not stop within 60 s:\n" + out) from None
    assert proc.returncode in (0, -signal.SIGTERM), out
    assert "Traceback" not in out, out


def sign_in(server: Server) -> tuple[httpx.Client, str]:
    """A client signed in to the web UI, and its CSRF token."""
    client = httpx.Client(base_url=server.base, timeout=10)
    form = LOGIN_CSRF.search(client.get("/ui/login").text)  # the sign-in form's CSRF token
    assert form is not None
    r = client.post(
        "/ui/login",
        data={"csrf": form.group(1), "username": server.user, "password": PASSWORD, "next": "/ui/"},
    )
    assert r.status_code == 303, r.text
    page = client.get("/ui/settings")
    found = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert found, page.text[:500]
    return client, found.group(1)


def open_slowly(port: int, opening: bytes, count: int) -> list[socket.socket]:
    """``count`` connections that sent ``opening`` (an unfinished request) and wait."""
    socks = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        with contextlib.suppress(OSError):  # the server may already have answered and closed
            s.sendall(opening)
        socks.append(s)
    return socks


def closed_by_server(socks: list[socket.socket], *, within: float, trickle: bool) -> int:
    """How many of ``socks`` the server closes (answer read to the end, or reset) within
    ``within`` seconds, while each still open one sends one more byte a second if ``trickle``."""
    live = list(socks)
    closed = 0
    deadline = time.monotonic() + within
    for s in live:
        s.setblocking(False)
    while live and time.monotonic() < deadline:
        readable, _, _ = select.select(live, [], [], 0.5)
        for s in readable:
            try:
                if s.recv(65536):
                    continue
            except BlockingIOError:
                continue
            except OSError:
                pass
            live.remove(s)
            closed += 1
        if trickle:
            for s in list(live):
                try:
                    s.send(b"a")
                except BlockingIOError:
                    pass
                except OSError:
                    live.remove(s)
                    closed += 1
            time.sleep(0.5)
    return closed


def read_answer(s: socket.socket, *, within: float) -> bytes:
    """What the server answered on ``s`` within ``within`` seconds (b"" if nothing)."""
    s.setblocking(False)
    data = b""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        readable, _, _ = select.select([s], [], [], 0.2)
        if readable:
            try:
                chunk = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                break
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data and _complete(data):
                break
    return data


def _complete(data: bytes) -> bool:
    head, _, body = data.partition(b"\r\n\r\n")
    found = re.search(rb"content-length:\s*(\d+)", head, re.IGNORECASE)
    return found is None or len(body) >= int(found.group(1))


def status_of(answer: bytes) -> int | None:
    found = re.match(rb"HTTP/1\.[01] (\d{3})", answer)
    return int(found.group(1)) if found else None
