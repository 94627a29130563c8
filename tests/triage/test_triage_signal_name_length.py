"""Review finding (h-review): `triage_signals.signal_type` is ``String(64)`` and nothing
bounds a signal type's name (the plug-in registry checks only that there is one). Before
migration 0015 triage dropped the values of plug-in types; now it writes them, so on
PostgreSQL a plug-in whose name is longer than 64 characters makes `Triage._write` fail with
a DataError that is not the IntegrityError it handles: the triage run ends on a database
error instead of finishing (or of the plug-in being refused, with a clear message, when it is
loaded)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PIL import Image

from plugin_site import install_ahash64

VANGNET = str(Path(sys.executable).with_name("vangnet"))
NAME = "review_" + "x" * 63  # 70 characters


def test_a_long_plugin_name_does_not_end_triage_on_a_database_error(
    db_url: str, tmp_path: Path
) -> None:
    """On both databases (SQLite does not enforce the column width, PostgreSQL does): the
    plug-in is refused when it loads and the triage finishes."""
    env = {**install_ahash64(tmp_path / "site", NAME), "VANGNET_DATABASE_URL": db_url}
    folder = tmp_path / "seized"
    folder.mkdir()
    Image.effect_noise((128, 128), 64).convert("RGB").save(folder / "a.jpg", quality=90)
    done = subprocess.run(
        [VANGNET, "triage", str(folder), "--case", "LONG", "--workers", "1", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert "StringDataRightTruncation" not in done.stderr, done.stderr[-1500:]
    assert "value too long" not in done.stderr, done.stderr[-1500:]
    assert done.returncode == 0, done.stderr[-1500:]  # the triage finished
    # the plug-in itself is refused when it loads, with the reason
    listed = subprocess.run(
        [VANGNET, "plugins", "--json"], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert "at most 32" in listed and NAME[:20] in listed, listed
