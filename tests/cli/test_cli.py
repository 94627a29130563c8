"""The `vangnet` command: hashing, banks, import/export, matching, keys, config, demo.

Commands run in-process with Typer's CliRunner (plus two end-to-end runs of the installed
script); every run uses this test's own VANGNET_HOME and database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from vangnet.cli import app
from vangnet.config import reset_settings

BRIDGE = Path("threatexchange/pdq/data/bridge-mods")
VIDEO = Path("threatexchange/video/sample-videos/test-padded-dimensions.mp4")
PHOTOS = [
    BRIDGE / "aaa-orig.jpg",
    Path("photos/public-domain/skimage_coffee.png"),
    Path("photos/public-domain/skimage_rocket.jpg"),
]
VENV_BIN = Path(sys.executable).parent
PDQ = "fff8316824b44f40247eb99c1161385e6732a2a6c3e335083306565ae715dae6"


@pytest.fixture
def cli_db(db_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("VANGNET_DATABASE_URL", db_url)
    reset_settings()
    return db_url


class Run:
    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, code: int = 0, stdin: str | None = None) -> Any:
        reset_settings()
        result = self.runner.invoke(app, list(args), input=stdin)
        assert "Traceback" not in result.output, result.output
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise AssertionError(f"vangnet {' '.join(args)} raised") from result.exception
        assert result.exit_code == code, (args, result.exit_code, result.output)
        return result

    def json(self, *args: str, code: int = 0) -> Any:
        result = self(*args, code=code)
        return json.loads(result.stdout)

    def lines(self, *args: str, code: int = 0) -> list[Any]:
        result = self(*args, code=code)
        return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


@pytest.fixture
def run() -> Run:
    return Run()


def _media_folder(tmp_path: Path, shared_data: Path, *, video: bool = True) -> Path:
    """A folder of links to shared benign files (nothing is copied)."""
    folder = tmp_path / "media"
    folder.mkdir()
    for rel in PHOTOS + ([VIDEO] if video else []):
        (folder / rel.name).symlink_to(shared_data / rel)
    return folder


def test_hash_json_lines(run: Run, tmp_path: Path, shared_data: Path) -> None:
    folder = _media_folder(tmp_path, shared_data)
    rows = run.lines("hash", str(folder), "--json")
    assert len(rows) == 4
    by_name = {Path(r["path"]).name: r for r in rows}
    for rel in PHOTOS:
        row = by_name[rel.name]
        assert row["content_type"] == "photo"
        assert {"path", "md5", "sha1", "sha256", "pdq", "pdq_quality"} <= set(row)
        assert len(row["pdq"]) == 64 and 0 <= row["pdq_quality"] <= 100
        assert len(row["md5"]) == 32 and len(row["sha1"]) == 40 and len(row["sha256"]) == 64
    video = by_name[VIDEO.name]
    assert video["content_type"] == "video"
    assert "pdq" not in video
    assert video["vpdq"], video
    for frame in video["vpdq"]:
        assert set(frame) == {"frame", "timestamp", "pdq", "quality"}
        assert len(frame["pdq"]) == 64


def test_hash_reports_unreadable_files(run: Run, tmp_path: Path, shared_data: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not a picture\n" * 10)
    missing = tmp_path / "missing.jpg"
    rows = run.lines(
        "hash", str(shared_data / PHOTOS[0]), str(notes), str(missing), "--json", code=3
    )
    assert [Path(r["path"]).name for r in rows] == ["aaa-orig.jpg", "notes.txt", "missing.jpg"]
    assert "pdq" in rows[0]
    for row in rows[1:]:
        assert set(row) == {"path", "error"}
        assert set(row["error"]) == {"code", "message"} and row["error"]["message"]
    table = run("hash", str(notes), code=3)
    assert "could not be hashed" in table.output


def test_bank_lifecycle(run: Run, cli_db: str) -> None:
    created = run.json("bank", "create", "CLI_BANK", "--profile", "vics", "--dihedral", "--json")
    assert created["name"] == "CLI_BANK"
    assert created["category_profile"] == "vics"
    assert created["thresholds"]["pdq"]["dihedral"] is True

    listed = run.json("bank", "list", "--json")
    assert [b["name"] for b in listed] == ["CLI_BANK"]
    assert listed[0]["stats"]["content"] == 0

    shown = run.json("bank", "show", "CLI_BANK", "--json")
    assert shown["enabled"] is True and shown["stats"]["content"] == 0

    updated = run.json(
        "bank", "update", "CLI_BANK", "--pdq-threshold", "20", "--note", "benign", "--json"
    )
    assert updated["thresholds"]["pdq"]["threshold"] == 20
    assert updated["thresholds"]["pdq"]["dihedral"] is True
    assert updated["note"] == "benign"

    assert run.json("bank", "disable", "CLI_BANK", "--json")["enabled"] is False
    assert run.json("bank", "enable", "CLI_BANK", "--json")["enabled"] is True

    renamed = run.json("bank", "update", "CLI_BANK", "--rename", "NEW_NAME", "--json")
    assert renamed["name"] == "NEW_NAME"

    # errors: exit codes 4 (not found), 5 (conflict), 6 (invalid)
    run("bank", "show", "CLI_BANK", code=4)
    missing = run.json("bank", "show", "NO_SUCH", "--json", code=4)
    assert missing["error"]["code"] == "not_found"
    run("bank", "create", "NEW_NAME", code=5)
    assert run.json("bank", "create", "NEW_NAME", "--json", code=5)["error"]["code"] == "conflict"
    assert run("bank", "create", "lower", code=6).output.strip()

    assert run.json("bank", "delete", "NEW_NAME", "--yes", "--json") == {"deleted": "NEW_NAME"}
    run("bank", "delete", "NEW_NAME", "--yes", code=4)
    run("bank", "delete", "NO_SUCH", code=1, stdin="n\n")  # declined confirmation
    assert run.json("bank", "list", "--json") == []


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # PostgreSQL: bank tests above
def test_bank_add_match_export_import(
    run: Run, cli_db: str, tmp_path: Path, shared_data: Path
) -> None:
    folder = _media_folder(tmp_path, shared_data, video=False)
    run("bank", "create", "KNOWN", "--profile", "vics")
    added = run.lines("bank", "add", "KNOWN", str(folder), "--category", "vics:1", "--json")
    assert len(added) == len(PHOTOS)
    assert all(isinstance(a["content_id"], int) for a in added)
    assert run.json("bank", "show", "KNOWN", "--json")["stats"]["content"] == len(PHOTOS)
    # adding the same files again adds nothing new
    again = run.lines("bank", "add", "KNOWN", str(folder), "--json")
    assert [a["content_id"] for a in again] == [a["content_id"] for a in added]

    edit = shared_data / BRIDGE / "sharpen-a-lot.jpg"
    unrelated = shared_data / "photos/public-domain/skimage_camera.png"
    rows = run.lines("match", str(edit), str(unrelated), "--json")
    assert len(rows) == 2
    matches = rows[0]["matches"]
    assert [m["signal_type"] for m in matches] == ["pdq"]
    orig_id = next(a["content_id"] for a in added if a["path"].endswith("aaa-orig.jpg"))
    m = matches[0]
    assert {"bank", "content_id", "signal_type", "distance", "category"} <= set(m)
    assert (m["bank"], m["content_id"], m["category"]) == ("KNOWN", orig_id, "vics:1")
    assert 0 < m["distance"] <= 31
    assert rows[1]["matches"] == []
    exact = run.lines("match", str(shared_data / PHOTOS[0]), "--json")[0]["matches"]
    assert {x["signal_type"] for x in exact} == {"md5", "sha1", "sha256", "pdq"}
    run("match", str(edit), "--bank", "NO_SUCH", "--json", code=4)

    # export, then import into a new bank: same count; importing again adds nothing
    export = tmp_path / "known.vics2.json"
    run("bank", "export", "KNOWN", "-f", "vics2", "-o", str(export))
    assert export.stat().st_size > 0
    run("bank", "create", "COPY", "--profile", "vics")
    first = run.json("bank", "import", "COPY", str(export), "--json")
    assert first["format"] == "vics2"
    assert first["added"] > 0
    assert first["total"] == 4 * len(PHOTOS)  # md5, sha1, sha256 and pdq of each photo
    second = run.json("bank", "import", "COPY", str(export), "-f", "vics2", "--json")
    assert second["added"] == 0
    assert second["skipped_existing"] == second["total"] == first["total"]
    original = run.json("bank", "show", "KNOWN", "--json")["stats"]
    copy = run.json("bank", "show", "COPY", "--json")["stats"]
    assert copy["signals_by_type"] == original["signals_by_type"]

    run("bank", "import", "NO_SUCH", str(export), code=4)
    created = run.json("bank", "import", "FRESH", str(export), "--create", "--json")
    assert created["added"] == first["added"]


def test_import_bad_line_writes_nothing(run: Run, cli_db: str, tmp_path: Path) -> None:
    run("bank", "create", "PLAIN")
    bad = tmp_path / "list.txt"
    good = [format(i, "032x") for i in range(1, 6)]
    bad.write_text("\n".join([good[0], good[1], "not-a-hash", good[2], good[3]]) + "\n")
    result = run("bank", "import", "PLAIN", str(bad), "-f", "plain", "--signal-type", "md5", code=6)
    assert "line 3" in result.output
    as_json = run.json(
        "bank", "import", "PLAIN", str(bad), "-f", "plain", "--signal-type", "md5", "--json", code=6
    )
    assert "line 3" in as_json["error"]["message"]
    assert run.json("bank", "show", "PLAIN", "--json")["stats"]["content"] == 0

    ok = tmp_path / "ok.txt"
    ok.write_text("\n".join(good) + "\n")
    assert run.json("bank", "import", "PLAIN", str(ok), "--json")["added"] == len(good)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # PostgreSQL: bank tests above
def test_keys(run: Run, cli_db: str) -> None:
    created = run.json("key", "create", "uploader", "--role", "matcher", "--json")
    assert created["role"] == "matcher"
    assert created["key"].startswith("vn_") and created["key"].startswith(created["prefix"])
    other = run.json("key", "create", "curator-bot", "--role", "curator", "--json")
    listed = run.json("key", "list", "--json")
    assert [k["name"] for k in listed] == ["uploader", "curator-bot"]
    assert all("key" not in k for k in listed)
    assert all(k["revoked_at"] is None for k in listed)
    assert run.json("key", "revoke", str(created["id"]), "--json") == {"revoked": created["id"]}
    listed = run.json("key", "list", "--json")
    assert listed[0]["revoked_at"] is not None and listed[1]["revoked_at"] is None
    run("key", "revoke", "9999", code=4)
    run("key", "create", "bad", "--role", "superuser", code=2)
    assert other["role"] == "curator"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # PostgreSQL: bank tests above
def test_config_plugins_db(run: Run, cli_db: str) -> None:
    shown = run.json("config", "show", "--json")
    envs = {s["env"]: s for s in shown["settings"]}
    assert {"VANGNET_HOME", "VANGNET_DATABASE_URL", "VANGNET_MAX_UPLOAD_BYTES"} <= set(envs)
    assert envs["VANGNET_HOME"]["value"] == os.environ["VANGNET_HOME"]
    assert envs["VANGNET_DATABASE_URL"]["value"] == cli_db
    assert all(s["help"] for s in shown["settings"])

    plugins = run.json("plugins", "--json")
    assert {"pdq", "vpdq", "md5", "sha1", "sha256"} <= {p["name"] for p in plugins}

    first = run.json("db", "upgrade", "--json")
    assert first["revision"]
    assert run.json("db", "upgrade", "--json") == first  # idempotent
    assert run.json("db", "current", "--json") == first


def test_demo_setup_only(run: Run, tmp_path: Path) -> None:
    result = run("demo", "--setup-only", "--port", "5999")
    out = result.output
    assert "vn_" in out
    assert "curl" in out and "http://127.0.0.1:5999" in out
    assert "DEMO_KNOWN" in out
    shown = run.json("bank", "show", "DEMO_KNOWN", "--json")
    assert shown["stats"]["content"] > 0
    keys = run.json("key", "list", "--json")
    assert [k["name"] for k in keys] == ["demo"]

    # A second run is idempotent for the bank, revokes the old demo key and makes a new one,
    # and its query picture matches the bank.
    again = run("demo", "--setup-only", "--port", "5999")
    assert run.json("bank", "show", "DEMO_KNOWN", "--json")["stats"] == shown["stats"]
    keys = run.json("key", "list", "--json")
    assert [k["revoked_at"] is None for k in keys] == [False, True]
    query = next(
        line.split("@")[1].split()[0] for line in again.output.splitlines() if "photo=@" in line
    )
    matched = run.json("match", query, "--json")
    assert [(m["bank"], m["signal_type"]) for m in matched["matches"]] == [("DEMO_KNOWN", "pdq")]


def _script(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "vangnet"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_installed_script_end_to_end(tmp_path: Path, shared_data: Path) -> None:
    """The real console script: JSON lines on stdout, exit code 3 for an unreadable file,
    no traceback. (Process start-up is slow, so only one run.)"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VANGNET_")}
    env["VANGNET_EGRESS_ALLOW"] = '["loopback"]'  # the tests' servers are on loopback
    env["VANGNET_HOME"] = str(tmp_path / "home")
    notes = tmp_path / "notes.txt"
    notes.write_text("plain text\n")

    hashed = _script("hash", "--json", str(shared_data / PHOTOS[0]), str(notes), env=env)
    assert hashed.returncode == 3, hashed.stderr
    lines = [json.loads(line) for line in hashed.stdout.splitlines()]
    assert "pdq" in lines[0] and "error" in lines[1]

    assert "Traceback" not in hashed.stdout + hashed.stderr


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # PostgreSQL: bank tests above
def test_export_import_keeps_content_items(
    run: Run, cli_db: str, tmp_path: Path, shared_data: Path
) -> None:
    folder = _media_folder(tmp_path, shared_data, video=False)
    run("bank", "create", "KNOWN")
    run("bank", "add", "KNOWN", str(folder))
    export = tmp_path / "known.json"
    run("bank", "export", "KNOWN", "-f", "vics2", "-o", str(export))
    run("bank", "import", "COPY", str(export), "--create")
    assert run.json("bank", "show", "COPY", "--json")["stats"]["content"] == len(PHOTOS)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_banked_video_matches_trimmed_and_overlaid_copies(
    run: Run, cli_db: str, shared_data: Path
) -> None:
    videos = shared_data / "threatexchange/video/sample-videos"
    run("bank", "create", "VIDEOS")
    # `bank add` hashes every frame (near-repeats dropped) and the half-frames.
    run("bank", "add", "VIDEOS", str(videos / "chair-orig-22-sd-bar.mp4"))
    # chair-19 is chair-orig with 3.7 s cut off the start: its 1 fps samples fall between
    # seconds of the original, so only a densely hashed bank holds the same instants.
    found = run.lines("match", str(videos / "chair-19-sd-bar.mp4"), "--json")[0]["matches"]
    assert [(m["bank"], m["signal_type"]) for m in found] == [("VIDEOS", "vpdq")]
    assert found[0]["query_match_pct"] == 100.0
    # A large logo covers the top of every frame: whole frames are 26-80 bits away, the
    # bottom halves 0-12.
    logo = videos / "chair-22-with-large-logo-bar.mp4"
    found = run.lines("match", str(logo), "--json")[0]["matches"]
    assert [(m["bank"], m["signal_type"]) for m in found] == [("VIDEOS", "vpdq_regions")]
    assert found[0]["query_match_pct"] == 100.0
    other = run.lines("match", str(videos / "doorknob-hd-no-bar.mp4"), "--json")[0]["matches"]
    assert other == []
    sparse = run.lines("bank", "add", "VIDEOS", str(logo), "--fps", "0.5", "--json")
    assert sparse[0]["content_id"] > 0
    assert run.json("bank", "show", "VIDEOS", "--json")["stats"]["content"] == 2


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_bank_live_policy_options(run: Run, cli_db: str) -> None:
    made = run.json(
        "bank", "create", "LIVE", "--action", "stream.terminate", "--live-window", "3", "--json"
    )
    assert made["policy"] == {"live_window": 3, "actions": ["stream.terminate"]}
    changed = run.json("bank", "update", "LIVE", "--live-min-frames", "2", "--json")
    assert changed["policy"] == {**made["policy"], "live_min_frames": 2}
    bad = run("bank", "update", "LIVE", "--action", "self.destruct", code=6)
    assert "policy.actions" in bad.output
