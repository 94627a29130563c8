"""Triage's bank matching uses the wider net on a seized video's sampled frames (issue 12,
point 2) as ``vangnet match`` does: a short video call showing a photo banked with
``vangnet bank add`` (local features kept) as a small tile, beyond the PDQ threshold, is
known through ``vangnet triage`` and ``vangnet case show --json``, its match verified
(``inliers``, ``frame_time``); a call of other people is not. The frames' pixels cross from
the triage worker process to the matcher as the video's bytes (decoded again there only for
a candidate's check), never through a file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cli_invoke import invoke, json_lines
from region_composites import load
from video_composites import call_clips

VANGNET = str(Path(sys.executable).with_name("vangnet"))


#: The wider net's storage is covered on both databases by tests/cli/test_match_verify.py;
#: the triage path (a worker process, then the matcher) does not depend on the database.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_triage_knows_a_banked_photo_shown_small_in_a_seized_video(
    db_url: str, tmp_path: Path, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    paths = sorted((shared_data / "photos" / "bsds500" / "train").glob("*.jpg"))
    bank = tmp_path / "bank"
    bank.mkdir()
    (bank / paths[1].name).symlink_to(paths[1])
    invoke("bank", "create", "KNOWN", "--profile", "vics")
    (added,) = json_lines("bank", "add", "KNOWN", str(bank), "--json")

    pictures = [load(p) for p in paths[:24]]
    call, other, _ = call_clips(pictures[1], [pictures[10], *pictures[20:24]])
    seized = tmp_path / "seized"
    seized.mkdir()
    (seized / "call.mp4").write_bytes(call)
    (seized / "other.mp4").write_bytes(other)

    env = {**os.environ, "VANGNET_DATABASE_URL": db_url}
    args = ["triage", str(seized), "--case", "CALL", "--no-ocr", "--workers", "1", "--json"]
    done = subprocess.run([VANGNET, *args], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout)
    assert summary["failed"] == 0, summary["failures"]
    doc = json.loads(invoke("case", "show", "CALL", "--json").stdout)
    items = {i["name"]: i for i in doc["triage_items"]}
    (match,) = [m for m in items["call.mp4"]["matches"] if m["signal_type"] == "pdq"]
    assert match["content_id"] == added["content_id"], match
    assert match["distance"] > 31 and match["inliers"] >= 12, match
    assert 2.0 <= match["frame_time"] < 5.0, match
    assert [m for m in items["other.mp4"]["matches"] if m["signal_type"] == "pdq"] == []
    assert summary["known_total"] == 1
