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

from vangnet.cli.serve_cmd import SHUTDOWN_SECONDS

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


def test_serve_stopped_while_its_worker_starts_stops_it_cleanly(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT to the process group) just after `vangnet serve` forks its worker,
    while the worker imports and builds the app: the worker stops once started, and is not
    killed after SHUTDOWN_SECONDS (it used to miss the signal, or hang on the second one)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VANGNET_")}
    env.update(VANGNET_HOME=str(tmp_path / "home"), VANGNET_LOG_LEVEL="info")
    port = free_port()
    server = subprocess.Popen(
        [str(VENV_BIN / "vangnet"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    seen: list[str] = []
    try:
        _read_until(server, seen, "Spawning worker-1")  # type: ignore[arg-type]
    finally:
        os.killpg(server.pid, signal.SIGINT)
        sent = time.monotonic()
        try:
            out, _ = server.communicate(timeout=SHUTDOWN_SECONDS + 20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            out, _ = server.communicate()
    took = time.monotonic() - sent
    output = "".join(seen) + out
    # a worker that missed the stop is killed by the server after SHUTDOWN_SECONDS (Granian
    # also logs that kill when it only missed the worker's own exit by a millisecond)
    assert took < SHUTDOWN_SECONDS, f"took {took:.1f} s\n{output}"
    assert server.returncode == 0, output  # Granian ends a Ctrl-C with 0
    assert "Traceback" not in output, output
    assert not _group(server.pid)
    assert _port_closed(port)


def _group(pgid: int) -> list[str]:
    """The processes left in process group ``pgid`` (pid and command line)."""
    left = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError):
            continue  # it ended meanwhile
        if int(fields[2]) == pgid and fields[0] != "Z":
            left.append(f"{stat.parent.name}: {cmdline}")
    return left


def _start_demo(tmp_path: Path, port: int, *, log_level: str = "warning") -> subprocess.Popen[str]:
    """`vangnet demo` in a process group of its own, as a shell starts a foreground job."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VANGNET_")}
    env.update(VANGNET_HOME=str(tmp_path / "home"), VANGNET_LOG_LEVEL=log_level)
    return subprocess.Popen(
        [str(VENV_BIN / "vangnet"), "demo", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _read_until(demo: subprocess.Popen[str], seen: list[str], *wanted: str) -> None:
    assert demo.stdout is not None
    deadline = time.monotonic() + 120  # a bound for a loaded machine, not a timing claim
    while not all(any(w in line for line in seen) for w in wanted):
        assert time.monotonic() < deadline, f"no {wanted} from the demo:\n" + "".join(seen)
        line = demo.stdout.readline()
        assert line or demo.poll() is None, "the demo ended:\n" + "".join(seen)
        seen.append(line)


def _stopped(demo: subprocess.Popen[str], seen: list[str], signum: int, *, group: bool) -> str:
    """Send ``signum`` (to the demo's process group, as a terminal's Ctrl-C does, or to the
    demo alone, as ``kill`` does); the demo's remaining output, after checking that it ended
    within a bound, with its conventional exit code, and left no process behind."""
    (os.killpg if group else os.kill)(demo.pid, signum)
    sent = time.monotonic()
    try:
        out, _ = demo.communicate(timeout=SHUTDOWN_SECONDS + 20)  # a bound for a loaded machine
    except subprocess.TimeoutExpired:  # never leave it running into the next test
        os.killpg(demo.pid, signal.SIGKILL)
        out, _ = demo.communicate()
        pytest.fail("the demo did not stop:\n" + "".join(seen) + out)
    took = time.monotonic() - sent
    output = "".join(seen) + out
    deadline = time.monotonic() + 5  # the group's last processes are being reaped
    while (left := _group(demo.pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for line in left:  # never leave them running into the next test
        os.kill(int(line.split(":")[0]), signal.SIGKILL)
    assert not left, f"left behind: {left}\n{output}"
    assert demo.returncode == 128 + signum, output  # 130 for Ctrl-C, 143 for SIGTERM
    assert "Traceback" not in output, output
    # a worker that missed the stop is killed by the server after SHUTDOWN_SECONDS
    assert took < SHUTDOWN_SECONDS, f"took {took:.1f} s\n{output}"
    return output


def _port_closed(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def test_demo_plays_its_stream_to_an_alert_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    """`vangnet demo` (the README's main job): the server starts, takes the demo stream, and
    the alert, its verified webhook and the evidence are printed; Ctrl-C (SIGINT to the whole
    process group: the demo, its server and the server's worker) stops everything.
    (A server forking its workers beside the demo's threads once hung at start-up.)"""
    port = free_port()
    demo = _start_demo(tmp_path, port)
    seen: list[str] = []
    try:
        _read_until(demo, seen, "demo ALERT", "signature verified", "demo evidence")
    finally:
        _stopped(demo, seen, signal.SIGINT, group=True)
    assert _port_closed(port)


def test_ctrl_c_while_the_demo_server_starts_stops_it_within_seconds(tmp_path: Path) -> None:
    """Ctrl-C right after the demo prints its address, while the server's worker is still
    importing and building the app: the worker kept running until the server killed it
    after SHUTDOWN_SECONDS (the signal reached it before it had handlers of its own, and a
    second one, the server's SIGTERM, hung it). Now it stops as soon as it has started."""
    port = free_port()
    demo = _start_demo(tmp_path, port, log_level="info")  # the server says when it forks
    seen: list[str] = []
    try:
        _read_until(demo, seen, f"http://127.0.0.1:{port}/ui/", "Spawning worker-1")
    finally:
        _stopped(demo, seen, signal.SIGINT, group=True)
    assert _port_closed(port)


def test_sigterm_stops_the_demo_and_its_server_and_kill_9_leaves_no_server(
    tmp_path: Path,
) -> None:
    """``kill PID`` (SIGTERM to the demo alone) stops the server too, as Ctrl-C does (the
    demo used to die at once and leave its server serving); after ``kill -9`` of the demo,
    its server and worker die with it."""
    port = free_port()
    for signum in (signal.SIGTERM, signal.SIGKILL):
        demo = _start_demo(tmp_path, port)
        seen: list[str] = []
        try:
            _read_until(demo, seen, f"http://127.0.0.1:{port}/ui/")
            deadline = time.monotonic() + 120  # a bound for a loaded machine
            while True:  # serving
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/status", timeout=1).is_success:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "the demo's server did not start"
                time.sleep(0.2)
        finally:
            if signum == signal.SIGTERM:
                _stopped(demo, seen, signum, group=False)
            else:
                demo.kill()
                demo.communicate()
        deadline = time.monotonic() + 10  # the server and its worker are killed with it
        while (left := _group(demo.pid)) and time.monotonic() < deadline:
            time.sleep(0.1)
        for line in left:
            os.kill(int(line.split(":")[0]), signal.SIGKILL)
        assert not left, f"after {signum!r}: {left}"
        assert _port_closed(port)
