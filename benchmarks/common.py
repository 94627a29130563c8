"""Shared helpers: timing, memory readings, result files and Rich tables."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import platform
import socket
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS_DIR = REPO / "benchmarks" / "results"
DATA_DIR = Path(os.environ.get("VANGNET_SHARED_DATA", REPO.parent / "shared" / "data"))

NOT_INSTALLED = "not installed"
NOT_AVAILABLE = "not available yet"


def now() -> float:
    return time.perf_counter()


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (pct in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def proc_status_kb(field: str) -> int:
    """A ``/proc/self/status`` field in kB (VmRSS, VmHWM); 0 where /proc is missing."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_mb() -> float:
    return proc_status_kb("VmRSS") / 1024


def hwm_mb() -> float:
    return proc_status_kb("VmHWM") / 1024


def release_free_memory() -> None:
    """Run the GC and ask glibc to hand freed heap pages back, so VmRSS shows live memory."""
    import gc

    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def machine_info() -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo", encoding="utf-8") as fh:
            info["mem_total_gb"] = round(int(fh.readline().split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return info


def write_json(name: str, payload: dict[str, Any], out_dir: Path | None = None) -> Path:
    out = out_dir or RESULTS_DIR
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n")
    return path


def fmt(value: Any, digits: int = 1) -> str:
    """Table cell text: numbers rounded, strings (statuses) as they are, None as a dash."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value != value:  # NaN
            return "-"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:,.{digits}f}"
    return str(value)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for i, col in enumerate(columns):
        table.add_column(col, justify="left" if i == 0 else "right", no_wrap=i == 0)
    for row in rows:
        table.add_row(*(fmt(v) for v in row))
    Console(width=max(140, len(columns) * 20)).print(table)


def timed_repeats(fn: Callable[[], Any], repeats: int) -> list[float]:
    """Wall-clock seconds of each of ``repeats`` calls of ``fn``."""
    out = []
    for _ in range(repeats):
        t0 = now()
        fn()
        out.append(now() - t0)
    return out


def vangnet_command() -> list[str]:
    """The ``vangnet`` command of this interpreter's environment (or ``python -c`` of its CLI)."""
    exe = Path(sys.executable).with_name("vangnet")
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-c", "import sys; from vangnet.cli import main; sys.exit(main())"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 (loopback only)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
