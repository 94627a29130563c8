"""Review finding (h-review): `triage_signals.signal_type` is ``String(64)`` and nothing
bounds a signal type's name (the plug-in registry checks only that there is one). Before
migration 0015 triage dropped the values of plug-in types; now it writes them, so on
PostgreSQL a plug-in whose name is longer than 64 characters makes `Triage._write` fail with
a DataError that is not the IntegrityError it handles: the triage run ends on a database
error instead of finishing (or of the plug-in being refused, with a clear message, when it is
loaded)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from PIL import Image

VANGNET = str(Path(sys.executable).with_name("vangnet"))
NAME = "review_" + "x" * 63  # 70 characters

PLUGIN = f'''
from vangnet.errors import InvalidHashError
from vangnet.signals.base import HammingBits, ImageHasher, SignalType


class LongNamed(SignalType, HammingBits, ImageHasher):
    name = "{NAME}"
    index = "hamming"
    bits = 64
    default_threshold = 6
    description = "a plug-in with a long name (review test)"

    @classmethod
    def validate(cls, value):
        if not isinstance(value, str) or len(value) != 16:
            raise InvalidHashError("not a value")
        return value

    @classmethod
    def distance(cls, a, b):
        return (int(a, 16) ^ int(b, 16)).bit_count()

    @classmethod
    def hash_picture(cls, img):
        return "0123456789abcdef", None
'''


def test_a_long_plugin_name_does_not_end_triage_on_a_database_error(
    db_url: str, tmp_path: Path
) -> None:
    """On both databases (SQLite does not enforce the column width, PostgreSQL does): the
    plug-in is refused when it loads and the triage finishes."""
    site = tmp_path / "site"
    info = site / "vangnet_review_long-1.0.dist-info"
    info.mkdir(parents=True)
    (site / "vangnet_review_long.py").write_text(textwrap.dedent(PLUGIN))
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: vangnet-review-long\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(
        f"[vangnet.signals]\n{NAME} = vangnet_review_long:LongNamed\n"
    )
    folder = tmp_path / "seized"
    folder.mkdir()
    Image.effect_noise((128, 128), 64).convert("RGB").save(folder / "a.jpg", quality=90)
    env = {
        **os.environ,
        "VANGNET_DATABASE_URL": db_url,
        "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]),
    }
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
