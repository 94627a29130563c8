"""Instructions per HTTP lookup in ``vangnet serve``, counted by Valgrind (callgrind).

CPU seconds per request move with whatever else the machine runs (on a shared 2-core machine
by 10-20 % between identical runs); the instructions the server executes for a request do not.
This counts them, so two checkouts can be compared on a busy machine::

    python -m benchmarks.http_instructions                       # this checkout
    python -m benchmarks.http_instructions --tree ../before      # another checkout (its .venv)

It makes a throw-away home with ``--hashes`` random PDQ hashes in one bank and a matcher key
(with the checkout's own CLI), starts that checkout's ``vangnet serve`` under
``valgrind --tool=callgrind --instr-atstart=no`` (instrumented only while measuring), sends
``--requests`` HMA ``GET /m/raw_lookup`` requests from one client and prints the server's
instructions per request. The server's background threads (webhook outbox, stream resumer)
also run while it measures: their rate is measured first, with no requests, over
``--idle`` seconds, and subtracted (the index change poll is turned off for the run).
Loopback only. Needs Debian's ``valgrind``; a run takes a few minutes (everything the server
does runs about 50 times slower under Valgrind).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks import common


def _python(tree: Path) -> str:
    venv = tree / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def _cli(tree: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [_python(tree), "-m", "vangnet", *args],
        env=env,
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"vangnet {' '.join(args)}: {done.stderr.strip()[-300:]}")
    return done.stdout


def _control(pids: list[int], *args: str) -> None:
    for pid in pids:
        subprocess.run(["callgrind_control", *args, str(pid)], capture_output=True, timeout=120)


def _dumped(folder: Path, label: str) -> int:
    """Instructions in the dumps labelled ``label`` (one per process)."""
    total = 0
    for path in folder.glob("out.*"):
        text = path.read_text(errors="replace")
        if f"Trigger: dump {label}\n" in text:
            found = re.search(r"^summary: (\d+)", text, re.M)
            total += int(found.group(1)) if found else 0
    return total


def measure(tree: Path, *, requests: int, hashes: int, idle: float, seed: int) -> dict[str, float]:
    import httpx
    import psutil

    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        raise RuntimeError("valgrind is not installed (Debian package valgrind)")
    work = Path(tempfile.mkdtemp(prefix="vangnet-http-instr-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("VANGNET_")}
    env.update(
        {
            "VANGNET_HOME": str(work / "home"),
            "VANGNET_LOG_LEVEL": "warning",
            "VANGNET_KEY_RATE_PER_SECOND": "0",  # the server's work, not the limiter's refusals
            "VANGNET_INDEX_POLL_SECONDS": "3600",  # no change poll while counting
            "PYTHONHASHSEED": "0",
        }
    )
    rng = random.Random(seed)
    seed_file = work / "seed.txt"
    lines = ["# signal_type: pdq", *(f"{rng.getrandbits(256):064x}" for _ in range(hashes))]
    seed_file.write_text("\n".join(lines) + "\n")
    proc: subprocess.Popen[bytes] | None = None
    try:
        _cli(tree, env, "db", "upgrade")
        _cli(
            tree,
            env,
            "bank",
            "import",
            "BENCH",
            str(seed_file),
            "--format",
            "plain",
            "--signal-type",
            "pdq",
            "--create",
        )
        key = json.loads(_cli(tree, env, "key", "create", "bench", "--role", "matcher", "--json"))
        port = common.free_port()
        dumps = work / "callgrind"
        dumps.mkdir()
        proc = subprocess.Popen(
            [
                "valgrind",
                "--tool=callgrind",
                "--trace-children=yes",
                "--instr-atstart=no",
                f"--callgrind-out-file={dumps}/out.%p",
                _python(tree),
                "-m",
                "vangnet",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            env=env,
            cwd=tree,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        client = httpx.Client(
            base_url=f"http://127.0.0.1:{port}", headers={"X-API-Key": key["key"]}, timeout=120
        )
        queries = [f"{rng.getrandbits(256):064x}" for _ in range(requests + 50)]

        def lookup(value: str) -> int:
            params = {"signal_type": "pdq", "signal": value}
            return client.get("/m/raw_lookup", params=params).status_code

        deadline = time.monotonic() + 900
        while True:
            try:
                if lookup(queries[0]) == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start under valgrind")
            time.sleep(1)
        for value in queries[:50]:  # warm up
            lookup(value)
        pids = [proc.pid, *(c.pid for c in psutil.Process(proc.pid).children(recursive=True))]
        _control(pids, "-i", "on")
        _control(pids, "--dump=start")
        started = time.monotonic()
        time.sleep(idle)
        _control(pids, "--dump=idle")
        idle_s = time.monotonic() - started
        started = time.monotonic()
        for value in queries[50:]:
            if lookup(value) != 200:
                raise RuntimeError("a lookup failed")
        busy_s = time.monotonic() - started
        _control(pids, "--dump=requests")
        idle_rate = _dumped(dumps, "idle") / idle_s
        busy = _dumped(dumps, "requests")
        return {
            "requests": requests,
            "idle_instructions_per_s": idle_rate,
            "instructions_per_request": (busy - idle_rate * busy_s) / requests,
            "raw_instructions_per_request": busy / requests,
        }
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="benchmarks.http_instructions", description=__doc__)
    ap.add_argument("--tree", type=Path, default=common.REPO, help="checkout to measure")
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--hashes", type=int, default=20_000, help="PDQ hashes in the bank")
    ap.add_argument("--idle", type=float, default=20.0, help="seconds to measure idle work")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--seed", type=int, default=20261207)
    args = ap.parse_args(argv)
    for run in range(args.runs):
        row = measure(
            args.tree.resolve(),
            requests=args.requests,
            hashes=args.hashes,
            idle=args.idle,
            seed=args.seed,
        )
        print(
            f"{args.tree} run {run + 1}: {row['instructions_per_request'] / 1e6:.3f} M "
            f"instructions per request (raw {row['raw_instructions_per_request'] / 1e6:.3f} M, "
            f"idle {row['idle_instructions_per_s'] / 1e6:.1f} M/s subtracted)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
