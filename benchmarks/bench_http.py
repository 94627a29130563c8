"""HTTP benchmark: HMA-compatible ``GET /m/raw_lookup`` against a local ``vangnet serve``.

A throw-away ``VANGNET_HOME`` (SQLite) is seeded with N random PDQ hashes through
``vangnet bank import`` (plain list), a matcher API key is made with ``vangnet key create``, and
the server is started on a free loopback port. Then, with the same 1000 queries as the index
benchmark (half near-duplicates), lookups/s and latency p50/p99 are measured with 1 and with 8
concurrent clients (threads, one keep-alive ``httpx.Client`` each). Request loops are bounded in
count and time and only ever talk to 127.0.0.1; the server is stopped at the end.

Besides lookups/s (wall clock: it moves with whatever else the machine runs), each row gives
the server's CPU time per request (user + system time of ``vangnet serve`` and its worker
processes over the measured requests, from psutil), which a busy machine moves much less:
compare commits by that column.

No peer row: python-threatexchange has no server of its own (HMA is a separate deployment).
When ``vangnet serve`` or the route is missing, the row says "not available yet".
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks import bench_index, common

BANK = "BENCH_RANDOM_PDQ"
CLIENT_COUNTS = (1, 8)


def _cli(args: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*common.vangnet_command(), *args],
        env=env,
        cwd=common.REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def availability() -> str | None:
    try:
        import httpx  # noqa: F401
    except ImportError:
        return f"{common.NOT_AVAILABLE} (httpx missing)"
    try:
        from vangnet.api import hma
        from vangnet.cli import serve_cmd  # noqa: F401
    except Exception as exc:
        return f"{common.NOT_AVAILABLE} ({type(exc).__name__}: {exc})"
    routes = {getattr(r, "path", "") for r in getattr(hma, "router", None).routes}  # type: ignore[union-attr]
    if "/m/raw_lookup" not in routes:
        return f"{common.NOT_AVAILABLE} (no /m/raw_lookup route)"
    return None


def _server_cpu(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` and its children (the server's workers)."""
    import psutil

    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def _measure(
    base: str,
    key: str,
    queries: list[str],
    clients: int,
    per_client: int,
    max_s: float,
    server_pid: int | None = None,
) -> dict[str, Any]:
    import httpx

    lat: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    deadline = time.monotonic() + max_s

    def worker(i: int) -> None:
        with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30) as c:
            for j in range(per_client):
                if time.monotonic() > deadline:
                    break
                q = queries[(i * per_client + j) % len(queries)]
                t = time.perf_counter()
                r = c.get("/m/raw_lookup", params={"signal_type": "pdq", "signal": q})
                lat[i].append(time.perf_counter() - t)
                if r.status_code != 200:
                    errors[i] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    cpu0 = _server_cpu(server_pid) if server_pid is not None else None
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    flat = [x for row in lat for x in row]
    cpu_ms = None
    if cpu0 is not None and server_pid is not None and flat:
        cpu_ms = 1000 * (_server_cpu(server_pid) - cpu0) / len(flat)
    return {
        "clients": clients,
        "requests": len(flat),
        "errors": sum(errors),
        "seconds": wall,
        "lookups_per_s": len(flat) / wall if wall > 0 else None,
        "p50_ms": 1000 * common.percentile(flat, 50) if flat else None,
        "p99_ms": 1000 * common.percentile(flat, 99) if flat else None,
        "server_cpu_ms_per_request": cpu_ms,
    }


def run(*, size: int = 1_000_000, quick: bool = False, seed: int = 20261129) -> dict[str, Any]:
    payload: dict[str, Any] = {"benchmark": "http", "size": size, "rows": []}
    status = availability()
    if status is not None:
        payload["rows"] = [{"impl": "vangnet serve", "status": status}]
        return payload
    home = Path(tempfile.mkdtemp(prefix="vangnet-bench-http-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("VANGNET_")}
    env.update({"VANGNET_HOME": str(home), "VANGNET_LOG_LEVEL": "warning"})
    # the server's throughput, not the per-key request limit (a deployment sets its own):
    # with the default limit about half of the 8-client requests were refused with 429
    env["VANGNET_KEY_RATE_PER_SECOND"] = "0"
    proc: subprocess.Popen[bytes] | None = None
    try:
        stored, qhex, planted = bench_index.make_data(size, bench_index.N_QUERIES, seed)
        hex_list = bench_index.to_hex_list(stored)
        del stored
        seed_file = home / "seed.txt"
        with seed_file.open("w") as fh:
            fh.write("# signal_type: pdq\n")
            fh.write("\n".join(hex_list))
            fh.write("\n")
        near_query = next(q for q, src in zip(qhex, planted, strict=True) if src >= 0)
        del hex_list
        _cli(["db", "upgrade"], env, 300)
        t0 = time.perf_counter()
        imp = _cli(
            [
                "bank",
                "import",
                BANK,
                str(seed_file),
                "--format",
                "plain",
                "--signal-type",
                "pdq",
                "--create",
                "--json",
            ],
            env,
            3600,
        )
        seed_s = time.perf_counter() - t0
        if imp.returncode != 0:
            raise RuntimeError(f"bank import failed: {imp.stderr.strip()[-300:]}")
        seed_file.unlink()
        key_out = _cli(["key", "create", "bench", "--role", "matcher", "--json"], env, 120)
        if key_out.returncode != 0:
            raise RuntimeError(f"key create failed: {key_out.stderr.strip()[-300:]}")
        key = json.loads(key_out.stdout)["key"]

        port = common.free_port()
        proc = subprocess.Popen(
            [*common.vangnet_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=common.REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        import httpx

        t0 = time.perf_counter()
        ready = False
        while time.perf_counter() - t0 < 900 and proc.poll() is None:
            try:
                r = httpx.get(
                    f"{base}/m/raw_lookup",
                    params={"signal_type": "pdq", "signal": near_query},
                    headers={"X-API-Key": key},
                    timeout=30,
                )
                if r.status_code == 200 and r.json().get("matches"):
                    ready = True
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        ready_s = time.perf_counter() - t0
        if not ready:
            err = (
                proc.stderr.read().decode(errors="replace")[-300:]
                if proc.poll() is not None and proc.stderr
                else ""
            )
            raise RuntimeError(
                f"server not ready (planted match not found) after {ready_s:.0f}s {err}"
            )
        per_client = 300 if quick else 1000
        for clients in CLIENT_COUNTS:
            _measure(base, key, qhex, clients, 20, 30)  # warm-up
            row = _measure(
                base, key, qhex, clients, per_client, 60 if quick else 120, server_pid=proc.pid
            )
            row.update(
                {
                    "impl": f"vangnet serve ({clients} client{'s' if clients > 1 else ''})",
                    "status": "ok",
                }
            )
            payload["rows"].append(row)
        payload["seed_import_s"] = seed_s
        payload["ready_s"] = ready_s
    except Exception as exc:
        payload["rows"].append({"impl": "vangnet serve", "status": f"error: {exc}"})
    finally:
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        shutil.rmtree(home, ignore_errors=True)
    return payload


TABLE_COLUMNS = [
    "impl",
    "status",
    "requests",
    "errors",
    "lookups/s",
    "p50 ms",
    "p99 ms",
    "server CPU ms/request",
]


def table_rows(payload: dict[str, Any]) -> list[list[Any]]:
    return [
        [
            r["impl"],
            r["status"],
            r.get("requests"),
            r.get("errors"),
            r.get("lookups_per_s"),
            r.get("p50_ms"),
            r.get("p99_ms"),
            r.get("server_cpu_ms_per_request"),
        ]
        for r in payload["rows"]
    ]
