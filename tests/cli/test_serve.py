"""`vangnet serve` as a real process on a loopback port: keys, lookups, clean shutdown."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "vangnet"), *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_serve_process(tmp_path: Path) -> None:
    env = {**os.environ, "VANGNET_HOME": str(tmp_path / "home")}
    key = json.loads(run(env, "key", "create", "client", "--role", "curator", "--json").stdout)[
        "key"
    ]
    assert run(env, "bank", "create", "LIVE").returncode == 0
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(VENV_BIN / "vangnet"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # bounded wait for start-up
            try:
                if httpx.get(f"{base}/status", timeout=1).text == "I-AM-ALIVE":
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)
        headers = {"X-API-Key": key}
        assert httpx.get(f"{base}/c/banks", timeout=5).status_code == 401  # keys required

        def matches(value: str) -> list[int]:
            params = {"signal_type": "pdq", "signal": value}
            r = httpx.get(f"{base}/m/raw_lookup", params=params, headers=headers, timeout=5)
            assert r.status_code == 200, r.text
            return list(r.json()["matches"])

        def wait_for(value: str) -> list[int]:
            deadline = time.monotonic() + 10  # a bound, not a timing assertion
            while not (found := matches(value)):
                assert time.monotonic() < deadline, "added hash never became matchable"
                time.sleep(0.05)
            return found

        # Added by another process (the CLI): the server picks it up from the change log.
        by_cli = "f" * 32 + "0" * 32
        listing = tmp_path / "list.txt"
        listing.write_text(f"# signal_type: pdq\n{by_cli}\n")
        added = run(env, "bank", "import", "LIVE", str(listing), "--format", "plain")
        assert added.returncode == 0, added.stderr
        assert len(wait_for(by_cli)) == 1
        # Added through the HTTP API.
        by_api = "0" * 32 + "f" * 32
        r = httpx.post(
            f"{base}/c/bank/LIVE/signal", json={"pdq": by_api}, headers=headers, timeout=5
        )
        assert r.status_code == 200, r.text
        assert wait_for(by_api) == [r.json()["id"]]
    finally:
        server.send_signal(signal.SIGTERM)
        out, _ = server.communicate(timeout=60)
    assert server.returncode in (0, -signal.SIGTERM), out  # uvicorn re-raises the signal
    assert "Traceback" not in out
    assert (tmp_path / "home" / "index" / "manifest.json").is_file()  # snapshot at shutdown


def test_demo_plays_its_stream_to_an_alert_and_stops_cleanly(tmp_path: Path) -> None:
    """`vangnet demo` (the README's main job): the server starts, takes the demo stream, and
    the alert, its verified webhook and the evidence are printed; Ctrl-C stops everything.
    (A server forking its workers beside the demo's threads once hung at start-up.)"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VANGNET_")}
    env.update(VANGNET_HOME=str(tmp_path / "home"), VANGNET_LOG_LEVEL="warning")
    port = free_port()
    demo = subprocess.Popen(
        [str(VENV_BIN / "vangnet"), "demo", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen: list[str] = []
    try:
        assert demo.stdout is not None
        deadline = time.monotonic() + 120  # a bound for a loaded machine, not a timing claim
        wanted = ("demo ALERT", "signature verified", "demo evidence")
        while not all(any(w in line for line in seen) for w in wanted):
            assert time.monotonic() < deadline, "no alert from the demo:\n" + "".join(seen)
            line = demo.stdout.readline()
            assert line or demo.poll() is None, "the demo ended:\n" + "".join(seen)
            seen.append(line)
    finally:
        demo.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            out, _ = demo.communicate(timeout=90)  # a bound for a loaded machine
        except subprocess.TimeoutExpired:  # never leave it running into the next test
            demo.kill()
            out, _ = demo.communicate()
            pytest.fail("the demo did not stop on Ctrl-C:\n" + "".join(seen) + out)
    assert "Traceback" not in out, out
    with socket.socket() as s:  # nothing is left serving on the demo's port
        assert s.connect_ex(("127.0.0.1", port)) != 0
