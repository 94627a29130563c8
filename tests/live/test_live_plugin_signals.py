"""A live alert's frames keep the values of every signal type hashed on them (issue 11,
point 1): a picture-hash plug-in installed the way a third party installs one (a
distribution with an entry point in ``vangnet.signals``, on the path of the `vangnet`
commands), a bank holding only the plug-in's hash of the known photo, a real stream
published by ffmpeg on 127.0.0.1 and watched by ``vangnet watch``: the alert's case
document (``vangnet case show --json``) shows each preserved frame's plug-in value, stored
as an `EvidenceSignal` row, beside its PDQ column. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from live.streaming import VANGNET, Clip, free_port, publish, udp_bound, wait_for
from plugin_site import ahash64, install_ahash64
from vangnet.store.models import Alert, EvidenceItem, EvidenceSignal, Stream

NAME = "test_live_ahash64"
THRESHOLD = 6  # the plug-in's default threshold


class _Settled:
    """Whether the watch's stream row has stopped changing (samples counted, stream time
    processed): the row is saved every second while samples come in, so once it has stayed
    the same for `QUIET` seconds, the samples sent before have all been processed."""

    QUIET = 1.5

    def __init__(self) -> None:
        self.seen: tuple[Any, ...] | None = None
        self.since = time.monotonic()

    def __call__(self, engine: Engine) -> bool:
        with Session(engine) as s:
            now = tuple(
                s.execute(select(func.sum(Stream.samples), func.max(Stream.stream_time))).one()
            )
        if now != self.seen:
            self.seen, self.since = now, time.monotonic()
        return time.monotonic() - self.since >= self.QUIET


def _distance(a: str, b: str) -> int:
    return (int(a, 16) ^ int(b, 16)).bit_count()


def _run(env: dict[str, str], *args: str) -> Any:
    done = subprocess.run(
        [VANGNET, *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_a_live_frame_keeps_the_plugin_value_it_matched_on(
    db_url: str, db_engine: Engine, clip: Clip, ffmpeg: str, tmp_path: Path
) -> None:
    env = {**install_ahash64(tmp_path / "site", NAME), "VANGNET_DATABASE_URL": db_url}
    banked = ahash64(Image.open(clip.known))
    bank_file = tmp_path / "bank.csv"
    bank_file.write_text(f"signal_type,signal_value,category\n{NAME},{banked},vics:1\n")
    _run(env, "bank", "create", "PLUGGED", "--profile", "vics", "--json")
    _run(env, "bank", "import", "PLUGGED", str(bank_file), "--format", "csv", "--json")

    port = free_port(socket.SOCK_DGRAM)
    log = tmp_path / "watch.jsonl"
    command = [VANGNET, "watch", f"udp://127.0.0.1:{port}", "--json", "--duration", "40"]
    with log.open("w") as out:
        watching = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    try:
        # published once the reader listens: a UDP reader that has had no data for
        # VANGNET_LIVE_CONNECT_TIMEOUT (10 s) gives up and opens the stream again
        assert wait_for(lambda: udp_bound(port), timeout=30), log.read_text()
        output = ["-f", "mpegts", f"udp://127.0.0.1:{port}?pkt_size=1316"]
        settled = _Settled()
        with publish(ffmpeg, clip.path, output) as publisher:
            assert wait_for(lambda: '"alert"' in log.read_text(), timeout=clip.duration + 20)
            # the rest of the clip: frames after the alert, all sent, then all sampled
            assert publisher.wait(timeout=clip.duration + 20) == 0
            assert wait_for(lambda: settled(db_engine), timeout=30), log.read_text()[-3000:]
        watching.terminate()  # the operator stops watching: queued evidence is kept first
        assert watching.wait(timeout=90) == 0, log.read_text()[-3000:]
    finally:
        if watching.poll() is None:
            watching.kill()
            watching.wait()
    events = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    alerts = [e for e in events if e["event"] == "alert"]
    assert [(a["bank"], a["category"]) for a in alerts] == [("PLUGGED", "vics:1")]
    assert not [e for e in events if e["event"] == "evidence_lost"]

    with Session(db_engine) as s:
        case_id = s.scalars(select(Alert.case_id)).one()
    doc = _run(env, "case", "show", str(case_id), "--json")
    frames = [i for i in doc["items"] if i["kind"] == "frame"]
    matched = [i for i in frames if i["matched"]]
    assert matched, doc["items"]
    for item in matched:  # the value each matched frame matched on
        assert _distance(item["signals"][NAME], banked) <= THRESHOLD
    for item in frames:  # every frame: its PDQ column and the plug-in's value
        assert item["signals"]["pdq"] == item["pdq"] and item["pdq"]
        assert len(item["signals"][NAME]) == 16
    with Session(db_engine) as s:
        rows = s.execute(
            select(EvidenceSignal.evidence_id, EvidenceSignal.signal_type, EvidenceSignal.value)
            .join(EvidenceItem, EvidenceItem.id == EvidenceSignal.evidence_id)
            .where(EvidenceItem.case_id == case_id)
        ).all()
    assert sorted(rows) == sorted((i["id"], NAME, i["signals"][NAME]) for i in frames)

    # the case's VICS report carries the plug-in's hash of each frame (named as bank exports
    # name it), beside the standard ones
    report = tmp_path / "case.vics.json"
    done = subprocess.run(
        [VANGNET, "report", "vics", str(case_id), "--out", str(report)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (case,) = json.loads(report.read_text())["value"]
    by_id = {i["id"]: i for i in frames}
    assert {m["MediaID"] for m in case["Media"]} == set(by_id)
    for media in case["Media"]:
        hashes = {h["HashName"]: h["HashValue"] for h in media["AlternativeHashes"]}
        item = by_id[media["MediaID"]]
        assert hashes == {
            "SHA256": item["sha256"].upper(),
            "PDQ": item["pdq"],
            NAME.upper(): item["signals"][NAME],
        }
