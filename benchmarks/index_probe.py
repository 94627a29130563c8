"""Probe of the PDQ index at scale: build time, memory, single and batch lookups, snapshots.

    .venv/bin/python benchmarks/index_probe.py 1000000 10000000

``run(n, queries)`` returns a dict of figures (times in seconds unless the key says ms).
Half the queries are stored hashes with 10 random bits flipped, half are random.
"""

from __future__ import annotations

import gc
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from vangnet.index.pdq_index import PDQIndex, words_to_hex


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _queries(rng: np.random.Generator, words: np.ndarray[Any, Any], count: int) -> Any:
    n = words.shape[0]
    near = words[rng.integers(n, size=count // 2)].copy()
    for row in near:
        for b in rng.choice(256, size=10, replace=False).tolist():
            row[b // 64] ^= np.uint64(1) << np.uint64(b % 64)
    rand = rng.integers(0, 2**64, size=(count - count // 2, 4), dtype=np.uint64)
    out = np.concatenate([near, rand])
    return out[rng.permutation(count)]


def run(n: int, queries: int = 2000, threshold: int = 31, seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    gc.collect()
    rss0 = _rss_mb()
    words = rng.integers(0, 2**64, size=(n, 4), dtype=np.uint64)
    qwords = _queries(rng, words, queries)
    t = time.perf_counter()
    index = PDQIndex.build_array(words)
    build_s = time.perf_counter() - t
    del words
    gc.collect()
    rss_index = _rss_mb() - rss0
    res: dict[str, Any] = {
        "n": n,
        "queries": queries,
        "threshold": threshold,
        "widths": list(index._state.main.tables.widths),
        "build_s": round(build_s, 2),
        "rss_index_mb": round(rss_index, 1),
    }
    # single lookups (array API and hex API)
    hexes = words_to_hex(qwords)

    def one_array(i: int) -> Any:
        return index.query_array(qwords[i : i + 1], threshold)

    def one_hex(i: int) -> Any:
        return index.query(hexes[i], threshold)

    for name, fn in (("single_array", one_array), ("single_hex", one_hex)):
        for i in range(min(50, queries)):  # warm-up
            fn(i)
        lat = []
        cpu = []
        found = 0
        for i in range(queries):
            c = time.process_time()
            t = time.perf_counter()
            hits = fn(i)
            lat.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
            found += len(hits[0]) if isinstance(hits, tuple) else len(hits)
        res[f"{name}_p50_ms"] = round(float(np.percentile(lat, 50)) * 1e3, 3)
        res[f"{name}_p99_ms"] = round(float(np.percentile(lat, 99)) * 1e3, 3)
        res[f"{name}_cpu_p50_ms"] = round(float(np.percentile(cpu, 50)) * 1e3, 3)
        res[f"{name}_cpu_p99_ms"] = round(float(np.percentile(cpu, 99)) * 1e3, 3)
        res[f"{name}_matches"] = found
    # batches of 1000
    batch = 1000
    t = time.perf_counter()
    c = time.process_time()
    done = 0
    for q0 in range(0, queries, batch):
        index.query_array(qwords[q0 : q0 + batch], threshold)
        done += min(batch, queries - q0)
    res["batch1000_qps"] = round(done / (time.perf_counter() - t))
    res["batch1000_qps_cpu"] = round(done / (time.process_time() - c))
    # brute-force fallback at a high threshold
    t = time.perf_counter()
    index.query_array(qwords[:1], 96)
    res["single_t96_ms"] = round((time.perf_counter() - t) * 1e3, 1)
    # incremental update visible to next query, background compaction not awaited
    t = time.perf_counter()
    index.add_array(qwords[:1], np.array([-1], dtype=np.int64))
    res["add_one_ms"] = round((time.perf_counter() - t) * 1e3, 3)
    assert index.query_array(qwords[:1], 0)[1].tolist()[0] == -1
    # snapshots
    with tempfile.TemporaryDirectory(dir=Path.home()) as tmp:
        path = Path(tmp) / "pdq.idx"
        t = time.perf_counter()
        index.save(path)
        res["save_s"] = round(time.perf_counter() - t, 2)
        res["snapshot_mb"] = round(path.stat().st_size / 2**20, 1)
        index = PDQIndex()  # drop the big one before loading
        gc.collect()
        t = time.perf_counter()
        loaded = PDQIndex.load(path)  # mmap + CRC verification
        res["load_s"] = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        loaded.query_array(qwords[:1], threshold)
        res["first_query_after_load_ms"] = round((time.perf_counter() - t) * 1e3, 2)
        del loaded
    return res


if __name__ == "__main__":
    for arg in sys.argv[1:] or ["1000000"]:
        print(json.dumps(run(int(arg)), indent=None), flush=True)
