"""Evidence a running server could not keep is surfaced where the operator looks: a push
stream raises an alert while the vault cannot be opened (its key file is missing), so its
frames cannot be preserved even after the retries; the alert stands, and the lost frames are
counted in ``GET /v1/streams/{id}``, ``/v1/metrics`` and ``vangnet streams list --json``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import AppFactory, poll, refresh
from .test_live_api import WAIT, bank_photo, push_jpeg, start_push, wait_alert

PHOTOS = Path("photos/bsds500/train")
VANGNET = str(Path(sys.executable).with_name("vangnet"))


def test_frames_the_vault_refuses_are_counted_in_the_api_metrics_and_cli(
    make_client: AppFactory, admin_key: str, db_url: str, shared_data: Path, tmp_path: Path
) -> None:
    client = make_client(vault_key_file=tmp_path / "missing.key", live_evidence_retries=1)
    client.headers["X-API-Key"] = admin_key
    known = sorted((shared_data / PHOTOS).glob("*.jpg"))[0]
    bank_photo(db_url, known)
    refresh(client)
    stream = start_push(client)
    for t in (1.0, 2.0):
        assert push_jpeg(client, stream, known.read_bytes(), t).status_code == 202
    alert = wait_alert(client, stream)  # the alert stands, whatever happens to its frames

    def lost() -> int:
        count: int = client.get(f"/v1/streams/{stream}").json()["live"]["evidence_lost"]
        return count

    assert poll(lambda: lost() == 2, timeout=WAIT)
    metrics = client.get("/v1/metrics").text
    assert f'vangnet_stream_evidence_frames_lost_total{{stream="{stream}"}} 2' in metrics
    assert client.get(f"/v1/alerts/{alert['id']}").status_code == 200

    def listed() -> int:
        done = subprocess.run(
            [VANGNET, "streams", "list", "--json"],
            env={**os.environ, "VANGNET_DATABASE_URL": db_url},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
        [row] = [r for r in rows if r["id"] == stream]
        count: int = row["evidence_lost"]
        return count

    assert poll(lambda: listed() == 2, timeout=WAIT)  # the stream row, saved within 1 s
