"""A signal-type plug-in installed the way a third party installs one: a module and a
distribution with an entry point in the group ``vangnet.signals``, in a folder that goes on
``PYTHONPATH`` (so `vangnet` commands and the worker processes they start load it too)."""

from __future__ import annotations

import hashlib
import os
import textwrap
from pathlib import Path

from PIL import Image

#: A 64-bit average hash of an 8 x 8 grey thumbnail (``{name}`` is the type's name).
AHASH64 = '''
"""A 64-bit average hash of an 8 x 8 grey thumbnail: a third-party picture hash."""
from vangnet.errors import InvalidHashError
from vangnet.signals.base import HammingBits, ImageHasher, SignalType


class AverageHash64(SignalType, HammingBits, ImageHasher):
    name = "{name}"
    index = "hamming"
    bits = 64
    default_threshold = 6
    description = "64-bit average hash (test plug-in)."

    @classmethod
    def validate(cls, value):
        text = value.strip().lower() if isinstance(value, str) else ""
        if len(text) != 16 or any(c not in "0123456789abcdef" for c in text):
            raise InvalidHashError("not a {name} value")
        return text

    @classmethod
    def distance(cls, a, b):
        return (int(a, 16) ^ int(b, 16)).bit_count()

    @classmethod
    def hash_picture(cls, img):
        pixels = list(img.convert("L").resize((8, 8)).tobytes())
        mean = sum(pixels) / 64
        return f"{{sum(1 << i for i, p in enumerate(pixels) if p > mean):016x}}", None
'''


def install_ahash64(site: Path, name: str) -> dict[str, str]:
    """`AHASH64` named ``name``, installed in ``site``; the environment that finds it."""
    module = "vangnet_test_" + hashlib.sha1(name.encode()).hexdigest()[:8]
    info = site / f"{module}-1.0.dist-info"
    info.mkdir(parents=True)
    (site / f"{module}.py").write_text(textwrap.dedent(AHASH64.format(name=name)))
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[vangnet.signals]\n{name} = {module}:AverageHash64\n")
    path = os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path}


def ahash64(picture: Image.Image | Path) -> str:
    """What the `AHASH64` plug-in computes for ``picture`` (a test's expected value)."""
    img = Image.open(picture) if isinstance(picture, Path) else picture
    pixels = list(img.convert("L").resize((8, 8)).tobytes())
    mean = sum(pixels) / 64
    return f"{sum(1 << i for i, p in enumerate(pixels) if p > mean):016x}"
