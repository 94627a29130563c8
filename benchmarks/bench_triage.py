"""Triage benchmark: ``vangnet triage`` on a folder, a zip and an E01 disk image of the
``../shared/data`` photos, with and without OCR, 2 worker processes (the machine's cores).

**Data** (built in a temporary folder, never committed, deleted at the end):

* ``folder``: every ``*.jpg`` / ``*.png`` under ``photos/`` and ``threatexchange/pdq/data/``
  (BSDS500, the public-domain photos, the 12 MP EXIF photos, the bridge edits, rotations,
  colour modes, ...), byte-copied ``--copies`` times into sub-folders ``copyNN/`` (default: enough
  copies for at least ``MIN_FILES`` files). Identical copies are analysed again, as triage does
  (each file is its own item: its path differs).
* ``zip``: that folder in one zip, members stored (no compression: photos do not compress).
* ``e01``: a FAT32 file system (Debian's ``mkfs.vfat -F 32``, sized to fit) filled with
  ``mcopy -s`` (mtools), converted to EnCase 6 with ``ewfacquire -c none`` (ewf-tools). The raw
  image is deleted once the E01 exists. Build times are reported apart; they are not counted.

**Runs.** Each run is ``vangnet triage SOURCE --case BENCH --workers 2 --json`` as a subprocess
(what users run) into its own fresh ``VANGNET_HOME`` (SQLite), a copy of a template home that
holds one bank (``BENCH_KNOWN``: every 5th distinct photo, category ``vics:1``, series
``BENCH-SERIES``), so matching and the "known" path are exercised. Wall time is the whole
command (interpreter start, schema check, index load, pool start, walk, analysis, writes);
the command's own ``seconds`` (from the start of the triage proper) is kept too. Without OCR
(``--no-ocr``) on the whole data; with OCR on ``--ocr-files`` distinct photos (an even sample
of the sorted list, so the mix of small and 12 MP photos stays) as a folder, a zip and an E01
of their own, each also run without OCR so the two compare on the same files. Peak memory is
sampled every 0.2 s over the process tree (the CLI and its workers): the PSS sum (shared pages
split between processes) and the RSS sum.

**Hashing baselines (same folder).** No open peer does triage, so the "same data" baseline is
plain PDQ hashing of the same files: Vangnet's ``hash_bytes`` (what each triage worker runs
first: PDQ + MD5/SHA-1/SHA-256), python-threatexchange's ``PdqSignal.hash_from_file`` and
perception's ``PDQHash`` (see ``benchmarks/peers.py``), each in a pool of 1 and of 2 worker
processes (workers started and warmed up before the clock starts). The gap between Vangnet's
hashing and its triage is the cost of walking, reading, metadata/OCR steps and recording.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks import common, peers
from vangnet.config import get_settings

WORKERS = 2
MIN_FILES = 2000  # default copies: at least this many files in the folder
OCR_FILES = 300  # distinct photos triaged with OCR (0: OCR on the whole data)
QUICK_OCR_FILES = 50
ROOTS = ("photos", "threatexchange/pdq/data")
PATTERNS = ("*.jpg", "*.png")
CASE = "BENCH"
BANK = "BENCH_KNOWN"
KNOWN_EVERY = 5  # every 5th distinct photo is in the bank
BANK_OPTIONS = ("--category", "vics:1", "--series", "BENCH-SERIES", "--json")
SBIN = ("/usr/sbin", "/sbin")
SOURCES = ("folder", "zip", "e01")
SAMPLE_S = 0.2


# -- data ------------------------------------------------------------------------------------


def photos(max_photos: int | None = None) -> list[Path]:
    """The distinct photos of the shared data, sorted (``max_photos``: the first N)."""
    root = common.DATA_DIR
    found = sorted(
        {p for r in ROOTS for pat in PATTERNS for p in (root / r).rglob(pat) if p.is_file()}
    )
    return found[:max_photos] if max_photos else found


def even_sample(files: list[Path], count: int) -> list[Path]:
    if count <= 0 or count >= len(files):
        return list(files)
    return [files[i * len(files) // count] for i in range(count)]


def default_copies(distinct: int) -> int:
    return max(1, math.ceil(MIN_FILES / max(1, distinct)))


def _tool(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    return next((f"{d}/{name}" for d in SBIN if Path(f"{d}/{name}").exists()), None)


def _tools_missing() -> list[str]:
    return [t for t in ("mkfs.vfat", "mcopy", "ewfacquire") if _tool(t) is None]


def build_folder(dest: Path, files: list[Path], copies: int) -> dict[str, Any]:
    t0 = common.now()
    count = size = 0
    for c in range(copies):
        for src in files:
            target = dest / f"copy{c:02d}" / src.relative_to(common.DATA_DIR)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
            count += 1
            size += target.stat().st_size
    return {
        "path": str(dest),
        "files": count,
        "payload_bytes": size,
        "container_bytes": size,
        "build_s": common.now() - t0,
        "status": "ok",
    }


def _folder_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def build_zip(folder: Path, out: Path) -> dict[str, Any]:
    t0 = common.now()
    files = _folder_files(folder)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as archive:
        for p in files:
            archive.write(p, p.relative_to(folder).as_posix())
    return {
        "path": str(out),
        "files": len(files),
        "payload_bytes": sum(p.stat().st_size for p in files),
        "container_bytes": out.stat().st_size,
        "build_s": common.now() - t0,
        "status": "ok",
    }


def _run_tool(args: list[str], env: dict[str, str] | None = None) -> None:
    done = subprocess.run(args, capture_output=True, text=True, check=False, env=env)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(
            f"{Path(args[0]).name} failed (rc {done.returncode}): {' | '.join(tail)}"
        )


def build_e01(folder: Path, work: Path, stem: str) -> dict[str, Any]:
    """FAT32 raw image of ``folder`` (mkfs.vfat + mcopy), then E01 (ewfacquire)."""
    missing = _tools_missing()
    files = _folder_files(folder)
    payload = sum(p.stat().st_size for p in files)
    if missing:
        return {
            "status": f"{common.NOT_AVAILABLE} ({', '.join(missing)} missing: "
            "scripts/system-packages installs them)",
            "files": len(files),
            "payload_bytes": payload,
        }
    t0 = common.now()
    # 4 KiB cluster slack per file and directory, 10 % and 64 MiB for the FATs and headroom.
    dirs = {p.parent for p in files}
    need = sum(-(-p.stat().st_size // 4096) * 4096 for p in files) + 4096 * (len(dirs) + 1)
    size_mb = max(64, math.ceil(need * 1.10 / 2**20) + 64)
    raw = work / f"{stem}.raw"
    with raw.open("wb") as fh:
        fh.truncate(size_mb * 2**20)
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    _run_tool([str(_tool("mkfs.vfat")), "-F", "32", "-n", "BENCH", str(raw)])
    tops = sorted(str(p) for p in folder.iterdir())
    _run_tool([str(_tool("mcopy")), "-s", "-i", str(raw), *tops, "::/"], env=env)
    fat_s = common.now() - t0
    t1 = common.now()
    out_stem = work / stem
    _run_tool(
        [
            str(_tool("ewfacquire")),
            "-u",
            "-t",
            str(out_stem),
            "-f",
            "encase6",
            "-c",
            "none",
            str(raw),
        ]
    )
    e01 = out_stem.with_suffix(".E01")
    segments = sorted(work.glob(f"{stem}.E*"))
    raw_bytes = raw.stat().st_size
    raw.unlink()
    return {
        "path": str(e01),
        "files": len(files),
        "payload_bytes": payload,
        "container_bytes": sum(s.stat().st_size for s in segments),
        "raw_bytes": raw_bytes,
        "segments": len(segments),
        "build_s": common.now() - t0,
        "fat_build_s": fat_s,
        "ewfacquire_s": common.now() - t1,
        "status": "ok",
    }


def build_sets(work: Path, files: list[Path], copies: int, tag: str) -> dict[str, dict[str, Any]]:
    """The folder, zip and E01 of ``files`` x ``copies``."""
    folder = work / f"{tag}-folder"
    sets = {"folder": build_folder(folder, files, copies)}
    try:
        sets["zip"] = build_zip(folder, work / f"{tag}.zip")
    except Exception as exc:  # reported in the table
        sets["zip"] = {"status": f"build failed: {type(exc).__name__}: {exc}"}
    try:
        sets["e01"] = build_e01(folder, work, f"{tag}-disk")
    except Exception as exc:
        sets["e01"] = {"status": f"build failed: {type(exc).__name__}: {exc}"}
    return sets


# -- the CLI ---------------------------------------------------------------------------------


def _vangnet_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("vangnet")
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-c", "import sys; from vangnet.cli import main; sys.exit(main())"]


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VANGNET_")}
    env.update({"VANGNET_HOME": str(home), "VANGNET_LOG_LEVEL": "warning"})
    return env


def _cli(args: list[str], home: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_vangnet_cmd(), *args],
        env=_env(home),
        cwd=common.REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def make_template(work: Path, known: list[Path], timeout: float) -> tuple[Path, dict[str, Any]]:
    """A VANGNET_HOME with the schema and one bank of ``known`` photos (not timed)."""
    home = work / "home-template"
    home.mkdir()
    info: dict[str, Any] = {"bank": BANK, "photos": len(known), "status": "ok"}
    t0 = common.now()
    made = _cli(["bank", "create", BANK], home, timeout)
    added = None
    if made.returncode == 0 and known:
        added = _cli(
            ["bank", "add", BANK, *map(str, known), *BANK_OPTIONS],
            home,
            timeout,
        )
    for step in (made, added):
        if step is not None and step.returncode != 0:
            tail = (step.stderr or step.stdout).strip().splitlines()[-2:]
            info["status"] = f"bank seeding failed: {' | '.join(tail)}"
            info["photos"] = 0
            break
    info["seconds"] = common.now() - t0
    return home, info


def triage_steps() -> dict[str, Any]:
    """The per-item steps installed (OCR is one of them once it is wired)."""
    try:
        from vangnet.triage import steps
    except Exception as exc:
        return {"steps": [], "ocr_wired": False, "error": f"{type(exc).__name__}: {exc}"}
    names = [getattr(s, "__name__", type(s).__name__) for s in steps.STEPS]
    wired = any("ocr" in n.lower() or "text" in n.lower() for n in names)
    return {"steps": names, "ocr_wired": wired}


class _TreeMemory:
    """Peak PSS / RSS sums over a process and its descendants, sampled in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_pss_kb = 0
        self.peak_rss_kb = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> _TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _tree(self) -> list[int]:
        pids, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            pids.append(pid)
            with contextlib.suppress(OSError):
                for task in os.listdir(f"/proc/{pid}/task"):
                    with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as fh:
                        todo.extend(int(c) for c in fh.read().split())
        return pids

    @staticmethod
    def _field(path: str, name: str) -> int:
        with (
            contextlib.suppress(OSError, ValueError, IndexError),
            open(path, encoding="ascii") as fh,
        ):
            for line in fh:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
        return 0

    def _loop(self) -> None:
        if not os.path.exists(f"/proc/{self.pid}"):
            return
        while not self._stop.is_set():
            pss = rss = 0
            for pid in self._tree():
                pss += self._field(f"/proc/{pid}/smaps_rollup", "Pss")
                rss += self._field(f"/proc/{pid}/status", "VmRSS")
            self.samples += 1
            self.peak_pss_kb = max(self.peak_pss_kb, pss)
            self.peak_rss_kb = max(self.peak_rss_kb, rss)
            self._stop.wait(SAMPLE_S)


def _text_items(home: Path) -> int | None:
    """Items of the run with OCR text (from the run's SQLite database)."""
    try:
        from vangnet.store.models import TriageItem

        table = TriageItem.__tablename__
        with contextlib.closing(sqlite3.connect(home / "vangnet.db")) as db:
            row = db.execute(
                f"SELECT COUNT(*) FROM {table} WHERE text IS NOT NULL AND text != ''"
            ).fetchone()
        return int(row[0])
    except Exception:
        return None


def triage_run(
    label: str,
    dataset: dict[str, Any],
    *,
    ocr: bool,
    template: Path,
    work: Path,
    workers: int,
    timeout: float,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "run": label,
        "ocr": ocr,
        "workers": workers,
        "files": dataset.get("files"),
        "payload_mb": (dataset.get("payload_bytes") or 0) / 2**20 or None,
    }
    if dataset.get("status") != "ok":
        row["status"] = dataset.get("status")
        return row
    home = work / f"home-{label.replace(' ', '-')}"
    shutil.copytree(template, home)
    cmd = [*_vangnet_cmd(), "triage", dataset["path"], "--case", CASE]
    cmd += ["--workers", str(workers), "--json"] + ([] if ocr else ["--no-ocr"])
    row["load1_before"] = round(os.getloadavg()[0], 2)
    print(f"[triage] {label} ...", file=sys.stderr, flush=True)
    t0 = common.now()
    proc = subprocess.Popen(
        cmd,
        env=_env(home),
        cwd=common.REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    with _TreeMemory(proc.pid) as memory:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            row["status"] = "timeout"
            return row
    wall = common.now() - t0
    if proc.returncode != 0:
        tail = (err or out).strip().splitlines()[-3:]
        row["status"] = f"error: rc {proc.returncode}: {' | '.join(tail)}"
        return row
    try:
        summary = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        row["status"] = f"error: no JSON summary: {out[-200:]!r}"
        return row
    by_kind = summary.get("by_kind") or {}
    photos_done = int(by_kind.get("photo", 0))
    processed = int(summary.get("processed") or 0)
    row.update(
        {
            "status": "ok",
            "items": summary.get("files"),
            "processed": processed,
            "photos": photos_done,
            "failed": summary.get("failed"),
            "failures": (summary.get("failures") or [])[:10],
            "by_kind": by_kind,
            "known_total": summary.get("known_total"),
            "wall_s": wall,
            "triage_s": summary.get("seconds"),
            "files_per_s": processed / wall,
            "photos_per_s": photos_done / wall,
            "photos_per_hour": photos_done / wall * 3600,
            "mb_per_s": (row["payload_mb"] or 0) / wall,
            "triage_files_per_s": summary.get("files_per_second"),
            "peak_pss_mb": memory.peak_pss_kb / 1024 or None,
            "peak_rss_mb": memory.peak_rss_kb / 1024 or None,
            "text_items": _text_items(home) if ocr else None,
            "load1_after": round(os.getloadavg()[0], 2),
        }
    )
    shutil.rmtree(home, ignore_errors=True)
    return row


# -- hashing baselines -------------------------------------------------------------------------

_HASHER: Callable[[Path], Any] | None = None


def _make_hasher(name: str) -> Callable[[Path], Any]:
    if name == "vangnet":
        from vangnet.signals.hashing import hash_bytes

        def run(path: Path) -> Any:
            return hash_bytes(path.read_bytes(), settings=get_settings())

        return run
    if name == "threatexchange":
        return peers.threatexchange_hasher()
    return peers.perception_hasher()


def _init_hasher(name: str, warm: str) -> None:
    global _HASHER
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    with contextlib.suppress(ImportError):
        import cv2

        cv2.setNumThreads(1)
    _HASHER = _make_hasher(name)
    with contextlib.suppress(Exception):
        _HASHER(Path(warm))


def _hash_one(path: str) -> bool:
    assert _HASHER is not None
    try:
        _HASHER(Path(path))
        return True
    except Exception:
        return False


def _ready(seconds: float) -> bool:
    time.sleep(seconds)
    return True


HASH_IMPLS = {
    "vangnet": "vangnet hash_bytes",
    "threatexchange": "threatexchange PdqSignal",
    "perception": "perception PDQHash",
}


def hash_baseline(name: str, files: list[Path], procs: int, payload_mb: float) -> dict[str, Any]:
    row: dict[str, Any] = {
        "run": f"hash {HASH_IMPLS[name]} ({procs} proc{'s' if procs > 1 else ''})",
        "impl": name,
        "procs": procs,
        "files": len(files),
        "payload_mb": payload_mb,
    }
    print(f"[triage] {row['run']} ...", file=sys.stderr, flush=True)
    paths = [str(p) for p in files]
    try:
        with ProcessPoolExecutor(
            max_workers=procs, initializer=_init_hasher, initargs=(name, paths[0])
        ) as pool:
            # every worker started, imported and warmed up before the clock starts
            list(pool.map(_ready, [0.3] * procs))
            row["load1_before"] = round(os.getloadavg()[0], 2)
            t0 = common.now()
            ok = sum(pool.map(_hash_one, paths, chunksize=8))
            wall = common.now() - t0
    except Exception as exc:
        row["status"] = f"error: {type(exc).__name__}: {exc}"
        return row
    row.update(
        {
            "status": "ok",
            "processed": len(files),
            "photos": ok,
            "failed": len(files) - ok,
            "wall_s": wall,
            "files_per_s": len(files) / wall,
            "photos_per_s": ok / wall,
            "photos_per_hour": ok / wall * 3600,
            "mb_per_s": payload_mb / wall,
        }
    )
    return row


def hash_baselines(
    files: list[Path], payload_mb: float, with_peers: bool, workers: int
) -> list[dict[str, Any]]:
    rows = []
    for name in HASH_IMPLS:
        status: str | None = None
        if name != "vangnet":
            if not with_peers:
                status = "skipped (--no-peers)"
            elif name == "threatexchange":
                status = peers.threatexchange_status()
            else:
                status = peers.perception_status()
        for procs in sorted({1, workers}):
            if status is not None:
                rows.append(
                    {
                        "run": f"hash {HASH_IMPLS[name]} ({procs} proc{'s' if procs > 1 else ''})",
                        "impl": name,
                        "procs": procs,
                        "files": len(files),
                        "status": status,
                    }
                )
            else:
                rows.append(hash_baseline(name, files, procs, payload_mb))
    return rows


# -- the benchmark -----------------------------------------------------------------------------


def run(
    *,
    quick: bool = False,
    with_peers: bool = True,
    max_photos: int | None = None,
    copies: int | None = None,
    ocr_files: int | None = None,
    workers: int = WORKERS,
    timeout_s: float = 1800,
) -> dict[str, Any]:
    distinct = photos(max_photos)
    if copies is None:
        copies = 1 if quick or max_photos is not None else default_copies(len(distinct))
    if ocr_files is None:
        ocr_files = QUICK_OCR_FILES if quick else OCR_FILES
    ocr_sample = even_sample(distinct, ocr_files)
    ocr_on_all = len(ocr_sample) == len(distinct) and copies == 1
    payload: dict[str, Any] = {
        "benchmark": "triage",
        "workers": workers,
        "distinct_photos": len(distinct),
        "distinct_mb": sum(p.stat().st_size for p in distinct) / 2**20,
        "copies": copies,
        "ocr_files": len(ocr_sample),
        "ocr_subset": (
            "the whole data"
            if ocr_on_all
            else f"{len(ocr_sample)} of the {len(distinct)} distinct photos, an even sample "
            "of the sorted list, 1 copy (folder, zip and E01 of their own)"
        ),
        **triage_steps(),
        "load_before": [round(x, 2) for x in os.getloadavg()],
        "datasets": {},
        "rows": [],
        "hashing": [],
    }
    if not distinct:
        payload["rows"] = [{"run": "triage", "status": f"no photos under {common.DATA_DIR}"}]
        return payload
    work = Path(tempfile.mkdtemp(prefix="vangnet-bench-triage-"))
    try:
        print(
            f"[triage] building data: {len(distinct)} photos x {copies} in {work} ...",
            file=sys.stderr,
            flush=True,
        )
        sets = build_sets(work, distinct, copies, "all")
        payload["datasets"]["all"] = sets
        known = distinct[::KNOWN_EVERY]
        template, payload["bank"] = make_template(work, known, timeout_s)
        common_kw: dict[str, Any] = {
            "template": template,
            "work": work,
            "workers": workers,
            "timeout": timeout_s,
        }
        for src in SOURCES:
            payload["rows"].append(triage_run(f"{src} no OCR", sets[src], ocr=False, **common_kw))
        if ocr_on_all:
            for src in SOURCES:
                payload["rows"].append(triage_run(f"{src} OCR", sets[src], ocr=True, **common_kw))
        else:
            sub = build_sets(work, ocr_sample, 1, "ocr")
            payload["datasets"]["ocr_subset"] = sub
            for src in SOURCES:
                for ocr in (False, True):
                    label = f"{src} subset {'OCR' if ocr else 'no OCR'}"
                    payload["rows"].append(triage_run(label, sub[src], ocr=ocr, **common_kw))
        folder_files = _folder_files(Path(sets["folder"]["path"]))
        payload["hashing"] = hash_baselines(
            folder_files, sets["folder"]["payload_bytes"] / 2**20, with_peers, workers
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    payload["load_after"] = [round(x, 2) for x in os.getloadavg()]
    payload.update(_derived(payload))
    return payload


def _derived(payload: dict[str, Any]) -> dict[str, Any]:
    rows = {r["run"]: r for r in payload["rows"]}
    per_hour = {src: rows.get(f"{src} no OCR", {}).get("photos_per_hour") for src in SOURCES}
    files_per_s = {src: rows.get(f"{src} no OCR", {}).get("files_per_s") for src in SOURCES}
    ocr_cost: dict[str, Any] = {}
    for src in SOURCES:
        plain = rows.get(f"{src} subset no OCR") or rows.get(f"{src} no OCR") or {}
        with_ocr = rows.get(f"{src} subset OCR") or rows.get(f"{src} OCR") or {}
        if plain.get("files_per_s") and with_ocr.get("files_per_s"):
            ocr_cost[src] = {
                "files_per_s_no_ocr": plain["files_per_s"],
                "files_per_s_ocr": with_ocr["files_per_s"],
                "slowdown": plain["files_per_s"] / with_ocr["files_per_s"],
                "text_items": with_ocr.get("text_items"),
            }
    hashing = {(h["impl"], h["procs"]): h for h in payload["hashing"] if h.get("status") == "ok"}
    own = hashing.get(("vangnet", payload["workers"]))
    share = {}
    if own:
        for src in SOURCES:
            wall = rows.get(f"{src} no OCR", {}).get("wall_s")
            if wall:
                share[src] = own["wall_s"] / wall
    return {
        "photos_per_hour_no_ocr": per_hour,
        "files_per_s_no_ocr": files_per_s,
        "ocr_cost": ocr_cost,
        "hashing_share_of_triage_wall": share,
    }


TABLE_COLUMNS = [
    "run",
    "status",
    "files",
    "photos",
    "failed",
    "MB",
    "wall s",
    "files/s",
    "MB/s",
    "photos/h",
    "peak MB (PSS)",
    "OCR text items",
    "load",
]


def table_rows(payload: dict[str, Any]) -> list[list[Any]]:
    out: list[list[Any]] = []
    for row in [*payload["rows"], *payload["hashing"]]:
        ok = row.get("status") == "ok"
        out.append(
            [
                row["run"],
                "ok" if ok else row.get("status"),
                row.get("processed", row.get("files")),
                row.get("photos"),
                row.get("failed"),
                row.get("payload_mb"),
                row.get("wall_s"),
                row.get("files_per_s"),
                row.get("mb_per_s"),
                row.get("photos_per_hour"),
                row.get("peak_pss_mb"),
                row.get("text_items"),
                row.get("load1_before"),
            ]
        )
    for tag, sets in payload.get("datasets", {}).items():
        for src, ds in sets.items():
            status = ds.get("status")
            out.append(
                [
                    f"build {tag} {src}",
                    "ok" if status == "ok" else status,
                    ds.get("files"),
                    None,
                    None,
                    (ds.get("container_bytes") or 0) / 2**20 or None,
                    ds.get("build_s"),
                    None,
                    None,
                    None,
                    None,
                    None,
                    None,
                ]
            )
    return out
