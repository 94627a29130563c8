"""Serving-stack benchmark: does a legitimate client still get answers while 300 sockets
without a key attack the server slowly? (issue 10, findings 2 and 3)

The same Vangnet app (request guard included) runs on a throw-away ``VANGNET_HOME`` (SQLite)
under each candidate server on a free 127.0.0.1 port:

- ``uvicorn (before)``: what `vangnet serve` ran before: uvicorn, ``limit_concurrency=256``;
- ``uvicorn (no limit)``: the same without the connection limit;
- ``granian``: `vangnet serve` as it is now (Granian, Rust/hyper, header read timeout);
- ``granian 2 workers``: `vangnet serve --workers 2`;
- ``hypercorn``: when importable (``PYTHONPATH`` may point at a scratch install; it is not a
  dependency of Vangnet).

Attacks (each ``ATTACK_S`` seconds, bounded; only ever to 127.0.0.1):

- ``slow headers``: 300 sockets send a request line and a few header bytes, then one more
  header byte per second (slowloris);
- ``slow bodies, no key``: 300 sockets send the headers of ``POST /v1/lookup`` with
  ``Content-Length: 1000000`` and 5 body bytes, then a byte per second;
- ``slow sign-in bodies``: 300 sockets the same with ``POST /ui/login`` and a 10 kB form
  (a route that cannot ask for credentials).

Meanwhile a client polls ``GET /status`` and ``GET /ui/login`` (a new connection each, 5 s
timeout, every 0.2 s): reported are the share answered 200, p50/p99/max latency, the other
answers seen, and how many attack sockets the server had closed by the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks import common

SOCKETS = 300
ATTACK_S = 20.0
QUICK_ATTACK_S = 8.0
POLL_EVERY_S = 0.2
POLL_TIMEOUT_S = 5.0
START_TIMEOUT_S = 90.0


UVICORN = (
    "import uvicorn, sys\n"
    "from vangnet.api.app import app_from_environment\n"
    "limit = None if sys.argv[2] == 'none' else int(sys.argv[2])\n"
    "uvicorn.run(app_from_environment(), host='127.0.0.1', port=int(sys.argv[1]),"
    " access_log=False, limit_concurrency=limit, timeout_keep_alive=15,"
    " timeout_graceful_shutdown=5, log_level='warning')\n"
)


def _hypercorn_available() -> bool:
    probe = subprocess.run(
        [sys.executable, "-c", "import hypercorn"], capture_output=True, check=False
    )
    return probe.returncode == 0


def _servers() -> list[tuple[str, list[str] | None]]:
    """(name, command with {port}); command None: not available (the row says why)."""
    hyper = (
        [
            sys.executable,
            "-m",
            "hypercorn",
            "--bind",
            "127.0.0.1:{port}",
            "--log-level",
            "warning",
            "vangnet.api.app:app_from_environment()",
        ]
        if _hypercorn_available()
        else None
    )
    return [
        (
            "uvicorn (before: limit_concurrency=256)",
            [sys.executable, "-c", UVICORN, "{port}", "256"],
        ),
        ("uvicorn (no limit)", [sys.executable, "-c", UVICORN, "{port}", "none"]),
        ("granian (vangnet serve)", [*common.vangnet_command(), "serve", "--port", "{port}"]),
        (
            "granian 2 workers",
            [*common.vangnet_command(), "serve", "--port", "{port}", "--workers", "2"],
        ),
        ("hypercorn", hyper),
    ]


def _status(base: str, path: str) -> tuple[int | None, float]:
    import httpx

    t = time.perf_counter()
    try:
        r = httpx.get(base + path, timeout=POLL_TIMEOUT_S)
        return r.status_code, time.perf_counter() - t
    except httpx.HTTPError:
        return None, time.perf_counter() - t


def _wait_up(base: str, proc: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        if _status(base, "/status")[0] == 200:
            return True
        time.sleep(0.2)
    return False


def _opening(kind: str, port: int) -> bytes:
    host = f"Host: 127.0.0.1:{port}\r\n"
    if kind == "slow headers":
        return f"GET /ui/login HTTP/1.1\r\n{host}X-a: ".encode()
    path, length = (
        ("/v1/lookup", 1_000_000) if kind == "slow bodies, no key" else ("/ui/login", 10_000)
    )
    ctype = "application/json" if path.startswith("/v1") else "application/x-www-form-urlencoded"
    return (
        f"POST {path} HTTP/1.1\r\n{host}Content-Type: {ctype}\r\n"
        f"Content-Length: {length}\r\n\r\nuser="
    ).encode()


def attack(kind: str, port: int, sockets: int, seconds: float, stop: threading.Event) -> int:
    """Hold ``sockets`` slow requests open for ``seconds``; returns how many the server
    closed (read end or reset) before the end."""
    opening = _opening(kind, port)
    open_socks: list[socket.socket] = []
    for _ in range(sockets):
        s = socket.socket()
        s.settimeout(2)
        try:
            s.connect(("127.0.0.1", port))
            s.sendall(opening)
        except OSError:
            s.close()
            continue
        s.setblocking(False)
        open_socks.append(s)
    started = len(open_socks)
    closed = sockets - started  # refused at connect count as closed by the server
    deadline = time.monotonic() + seconds
    while open_socks and time.monotonic() < deadline and not stop.is_set():
        readable, _, _ = select.select(open_socks, [], [], 1.0)
        for s in readable:
            with contextlib.suppress(OSError):
                if s.recv(65536):
                    continue  # an answer; the server closes right after (or we see EOF next)
            open_socks.remove(s)
            s.close()
            closed += 1
        for s in list(open_socks):
            try:
                s.send(b"a")
            except OSError:
                open_socks.remove(s)
                s.close()
                closed += 1
    for s in open_socks:
        s.close()
    return closed


def _measure(kind: str, port: int, seconds: float) -> dict[str, Any]:
    base = f"http://127.0.0.1:{port}"
    stop = threading.Event()
    result: dict[str, int] = {}

    def run_attack() -> None:
        result["closed"] = attack(kind, port, SOCKETS, seconds, stop)

    attacker = threading.Thread(target=run_attack, daemon=True)
    attacker.start()
    time.sleep(1.0)  # let the sockets open
    seen: Counter[str] = Counter()
    latencies: list[float] = []
    ok = total = 0
    end = time.monotonic() + seconds - 1.5
    while time.monotonic() < end:
        for path in ("/status", "/ui/login"):
            code, took = _status(base, path)
            total += 1
            latencies.append(took)
            seen[str(code)] += 1
            ok += code == 200
        time.sleep(POLL_EVERY_S)
    stop.set()
    attacker.join(timeout=30)
    return {
        "attack": kind,
        "polls": total,
        "ok_share": ok / total if total else None,
        "p50_ms": 1000 * common.percentile(latencies, 50) if latencies else None,
        "p99_ms": 1000 * common.percentile(latencies, 99) if latencies else None,
        "max_ms": 1000 * max(latencies) if latencies else None,
        "answers": dict(seen),
        "attack_sockets_closed": result.get("closed"),
    }


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def run(*, quick: bool = False) -> dict[str, Any]:
    seconds = QUICK_ATTACK_S if quick else ATTACK_S
    home = Path(tempfile.mkdtemp(prefix="vangnet-bench-serving-"))
    env = {**os.environ, "VANGNET_HOME": str(home), "VANGNET_LOG_LEVEL": "warning"}
    env.pop("VANGNET_ALLOWED_HOSTS", None)
    rows: list[dict[str, Any]] = []
    try:
        subprocess.run(
            [*common.vangnet_command(), "db", "upgrade"], env=env, capture_output=True, check=False
        )
        for name, command in _servers():
            if command is None:
                rows.append({"server": name, "status": f"{common.NOT_INSTALLED} (optional)"})
                continue
            port = common.free_port()
            argv = [part.replace("{port}", str(port)) for part in command]
            proc = subprocess.Popen(
                argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
            try:
                if not _wait_up(f"http://127.0.0.1:{port}", proc):
                    rows.append({"server": name, "status": "did not start"})
                    continue
                for kind in ("slow headers", "slow bodies, no key", "slow sign-in bodies"):
                    rows.append({"server": name, "status": "ok", **_measure(kind, port, seconds)})
                    time.sleep(1.0)  # let the server drop what is left
            finally:
                _stop(proc)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return {
        "benchmark": "serving",
        "sockets": SOCKETS,
        "attack_seconds": seconds,
        "rows": rows,
    }


TABLE_COLUMNS = [
    "server",
    "attack",
    "legit 200 %",
    "p50 ms",
    "p99 ms",
    "max ms",
    "answers",
    "attack sockets closed",
]


def table_rows(payload: dict[str, Any]) -> list[list[Any]]:
    out: list[list[Any]] = []
    for r in payload["rows"]:
        share = r.get("ok_share")
        out.append(
            [
                r["server"],
                r.get("attack", r["status"]),
                None if share is None else round(100 * share, 1),
                r.get("p50_ms"),
                r.get("p99_ms"),
                r.get("max_ms"),
                json.dumps(r.get("answers")) if r.get("answers") else None,
                r.get("attack_sockets_closed"),
            ]
        )
    return out


if __name__ == "__main__":
    payload = run(quick="--quick" in sys.argv)
    common.print_table("serving", TABLE_COLUMNS, table_rows(payload))
    common.write_json("serving", payload, None)
