"""hash_file / hash_bytes: the CLI's JSON object."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from PIL import Image

from vangnet.config import get_settings, reset_settings
from vangnet.errors import EmptyInputError, MediaTooLargeError, UnsupportedMediaError
from vangnet.signals.hashing import hash_bytes, hash_file


def test_photo(shared_data: Path) -> None:
    path = shared_data / "threatexchange/pdq/data/bridge-mods/aaa-orig.jpg"
    result = hash_file(path, settings=get_settings())
    data = path.read_bytes()
    assert set(result) == {"path", "content_type", "md5", "sha1", "sha256", "pdq", "pdq_quality"}
    assert result["content_type"] == "photo" and result["path"] == str(path)
    assert result["sha256"] == hashlib.sha256(data).hexdigest()
    assert result["md5"] == hashlib.md5(data).hexdigest()
    assert len(result["pdq"]) == 64 and result["pdq_quality"] == 100
    variants = hash_file(path, dihedral=True, settings=get_settings())["pdq_dihedral"]
    assert len(variants) == 8 and variants[0] == result["pdq"]


def test_animated_all_frames() -> None:
    frames = [Image.new("RGB", (64, 64), c) for c in ("red", "white")]
    frames[1].paste((0, 0, 0), (0, 0, 32, 64))
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:])
    result = hash_bytes(buf.getvalue(), all_frames=True, settings=get_settings())
    assert result["path"] == "-"
    assert [f["frame"] for f in result["frames"]] == [0, 1]
    assert result["frames"][0]["pdq"] == result["pdq"]
    assert "frames" not in hash_bytes(buf.getvalue(), settings=get_settings())


def test_video(shared_data: Path) -> None:
    result = hash_file(
        shared_data / "threatexchange/video/sample-videos/doorknob-hd-no-bar.mp4",
        settings=get_settings(),
    )
    assert result["content_type"] == "video" and "pdq" not in result
    assert [f["frame"] for f in result["vpdq"]] == [0, 30, 60, 90]
    assert set(result["vpdq"][1]) == {"frame", "timestamp", "pdq", "quality"}
    assert result["vpdq"][1]["timestamp"] == 1.0


def test_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(EmptyInputError):
        hash_file(empty, settings=get_settings())
    text = tmp_path / "notes.txt"
    text.write_text("hello\n" * 100)
    with pytest.raises(UnsupportedMediaError):
        hash_file(text, settings=get_settings())
    monkeypatch.setenv("VANGNET_MAX_FILE_BYTES", "100")
    reset_settings()
    with pytest.raises(MediaTooLargeError, match="max_file_bytes"):
        hash_file(text, settings=get_settings())
