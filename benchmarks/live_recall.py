"""Recall of banked photos shown inside live frames (issue 12, point 4), with and without
the wider net on live samples (``live_verify``).

Each query is one live sample made exactly as a pulled stream makes it
(`vangnet.live.samples.frame_sample` of a decoded 1280x720 frame): a composite of
`benchmarks.transforms` (picture-in-picture inset, player window, video-call grid; padding
and letterbox as controls) letterboxed into the frame and passed once through JPEG q75 (a
stream's compression). Every sample goes through the monitor's own processing stage
(`vangnet.live.processor.Processor.process`: PDQ, the stream's regions, the batched lookup,
the wider net's checks on the decoded frame), one fresh stream per query, with no CPU budget
(``live_regions_budget_ms`` 0) so that recall is measured alone; CPU per sample is printed.

Bank: ``--bank`` BSDS500 test photos added as ``vangnet bank add`` adds them (local features
and crop PDQs kept), SQLite in a temporary folder. Queries: each banked photo in each
composite; distractors: the same composites of as many BSDS500 validation photos (not
banked): any match of theirs is a false positive, as is a match to the wrong banked photo.

    .venv/bin/python -m benchmarks.live_recall [--bank 50] [--composites pip,player,video_call]

Not a timed test: CPU figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from benchmarks import common, transforms

WIDTH, HEIGHT = 1280, 720
BANK = "LIVE_RECALL"
COMPOSITES = ("pad_20", "letterbox_16_9", "pip", "player", "video_call")


def frame_of(picture: Image.Image) -> np.ndarray[Any, np.dtype[np.uint8]]:
    """``picture`` letterboxed into a black 1280x720 frame, through JPEG q75."""
    canvas = Image.new("RGB", (WIDTH, HEIGHT))
    scale = min(WIDTH / picture.width, HEIGHT / picture.height)
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    canvas.paste(
        picture.resize(size, Image.Resampling.LANCZOS),
        ((WIDTH - size[0]) // 2, (HEIGHT - size[1]) // 2),
    )
    buf = io.BytesIO()
    canvas.save(buf, format="JPEG", quality=75)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"), dtype=np.uint8)


class Recorder:
    """The processor's output: the match events of each stream."""

    def __init__(self) -> None:
        self.matches: dict[int, list[dict[str, Any]]] = {}

    def emit(self, runtime: Any, event: str, stream_time: float, **data: Any) -> None:
        if event == "match":
            self.matches.setdefault(runtime.id, []).append(data)

    def write_alert(self, entry: Any, context: Any) -> None:
        pass

    def keep_evidence(self, runtime: Any, alert_id: int, samples: Any, matched: Any) -> None:
        pass


def run(bank_size: int, composites: tuple[str, ...]) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="vangnet-live-recall-"))
    os.environ["VANGNET_HOME"] = str(home)
    os.environ["VANGNET_LIVE_REGIONS_BUDGET_MS"] = "0"
    try:
        return _run(home, bank_size, composites)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _run(home: Path, bank_size: int, composites: tuple[str, ...]) -> dict[str, Any]:
    import av
    from sqlalchemy.orm import Session

    from vangnet.banks.bank import create_bank
    from vangnet.banks.contents import add_content
    from vangnet.banks.features import FeatureSeal
    from vangnet.config import get_settings
    from vangnet.live.decision import DecisionWindow
    from vangnet.live.processor import Processor
    from vangnet.live.runtime import StreamRuntime
    from vangnet.live.sampler import SampleReason
    from vangnet.live.samples import frame_sample
    from vangnet.match.indexes import SignalIndexes
    from vangnet.match.service import Matcher
    from vangnet.signals.hashing import hash_bytes, signal_values
    from vangnet.store.db import make_engine
    from vangnet.store.migrate import ensure_schema

    settings = get_settings()
    engine = make_engine(f"sqlite:///{home / 'recall.db'}", home=home)
    ensure_schema(engine)
    bsds = common.DATA_DIR / "photos" / "bsds500"
    banked = sorted((bsds / "test").glob("*.jpg"))[:bank_size]
    unbanked = sorted((bsds / "val").glob("*.jpg"))[:bank_size]
    seal = FeatureSeal.from_settings(settings)
    ids: dict[Path, int] = {}
    with Session(engine) as s:
        create_bank(s, name=BANK, settings=settings)
        for path in banked:
            hashed = hash_bytes(path.read_bytes(), settings=settings, for_bank=True)
            ids[path] = add_content(
                s,
                bank=BANK,
                signals=signal_values(hashed),
                features=hashed.kept_features(),
                seal=seal,
            )
        s.commit()
    indexes = SignalIndexes(engine, snapshot_dir=None)
    indexes.load()
    others = [Image.open(p).convert("RGB") for p in sorted((bsds / "train").glob("*.jpg"))[:40]]

    def frames(paths: list[Path]) -> list[tuple[str, Path, np.ndarray[Any, Any]]]:
        out = []
        for i, path in enumerate(paths):
            img = Image.open(path).convert("RGB")
            for name in composites:
                around = [others[(i * 5 + k) % len(others)] for k in range(5)]
                out.append(
                    (name, path, frame_of(transforms.apply(name, img, seed=i, others=around)))
                )
        return out

    queries = frames(banked)
    distractors = frames(unbanked)
    result: dict[str, Any] = {"bank": len(banked), "composites": composites}
    for verify in (False, True):
        run_settings = settings.model_copy(update={"live_verify": verify})
        matcher = Matcher(indexes, settings=run_settings)
        recorder = Recorder()
        runtimes: dict[int, StreamRuntime] = {}
        processor = Processor(
            settings=run_settings,
            runtimes=runtimes,
            indexes=indexes,
            matcher=matcher,
            read_engine=engine,
            classifiers=(),
            alerts_lock=threading.RLock(),
            output=recorder,  # type: ignore[arg-type]
        )
        hits: dict[str, int] = dict.fromkeys(composites, 0)
        wrong = 0
        false = 0
        cpu: list[float] = []
        for n, (name, path, pixels) in enumerate(queries + distractors):
            runtime = StreamRuntime(
                id=n,
                kind="bench",
                url=None,
                external_id=None,
                metadata={},
                fps=1.0,
                window=DecisionWindow(rules={}),
            )
            runtimes[n] = runtime
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            sample = frame_sample(n, 0.0, time.time(), SampleReason.BASE, frame)
            began = time.thread_time()
            processor.process([(runtime, sample)])
            cpu.append(time.thread_time() - began)
            found = {m["content_id"] for m in recorder.matches.get(n, [])}
            if n < len(queries):
                if ids[path] in found:
                    hits[name] += 1
                wrong += len(found - {ids[path]})
            else:
                false += len(found)
            del runtimes[n]
        per = len(banked)
        result["verify" if verify else "hash_only"] = {
            "recall": {k: round(v / per, 2) for k, v in hits.items()},
            "wrong_photo": wrong,
            "false_positives": false,
            "cpu_ms_median": round(statistics.median(cpu) * 1000, 1),
            "cpu_ms_p90": round(sorted(cpu)[int(0.9 * (len(cpu) - 1))] * 1000, 1),
        }
    engine.dispose()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bank", type=int, default=50)
    ap.add_argument("--composites", default=",".join(COMPOSITES))
    args = ap.parse_args()
    result = run(args.bank, tuple(args.composites.split(",")))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
