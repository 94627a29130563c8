"""Real streams for the monitor tests: clips made from ../shared/data photos, published on
127.0.0.1 by Debian's ffmpeg (installed by scripts/system-packages)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from live.streaming import KNOWN_SECONDS, NEGATIVE_SECONDS, PHOTOS, Clip
from vangnet.live.clips import Shot, encode_clip


def _photos(root: Path) -> list[Path]:
    return sorted((root / PHOTOS).glob("*.jpg"))


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    path = shutil.which("ffmpeg")
    if path is None:
        pytest.fail("ffmpeg is missing: run scripts/system-packages (scripts/test does)")
    return path


@pytest.fixture(scope="session")
def clip(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Clip:
    """Negative photos, the known photo for 3 s, more negatives: 720p H.264, 9 s."""
    photos = _photos(shared_data)
    before, after = NEGATIVE_SECONDS
    shots = [Shot(Image.open(p), 1.0) for p in photos[1 : 1 + before]]
    shots.append(Shot(Image.open(photos[0]), KNOWN_SECONDS))
    shots += [Shot(Image.open(p), 1.0) for p in photos[1 + before : 1 + before + after]]
    path = tmp_path_factory.mktemp("clips") / "positive.mp4"
    path.write_bytes(encode_clip(shots))
    return Clip(path, photos[0], before + KNOWN_SECONDS + after)


@pytest.fixture(scope="session")
def negative_clip(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    photos = _photos(shared_data)
    shots = [Shot(Image.open(p), 1.0) for p in photos[20:29]]
    path = tmp_path_factory.mktemp("clips") / "negative.mp4"
    path.write_bytes(encode_clip(shots))
    return path
