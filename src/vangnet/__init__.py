"""Vangnet: hash, bank and match images, video and live streams against known material.

Library API::

    import vangnet
    from vangnet.config import Settings

    hashes = vangnet.hash_file("photo.jpg", settings=Settings())  # a `Hashes`
    hashes.values["pdq"], hashes.qualities["pdq"]  # typed: values by signal type, qualities
    hashes.to_json()                       # the dict it returned before: `vangnet hash --json`
    index = vangnet.PDQIndex.build(hexes)  # exact Hamming search over PDQ hashes
    index.query(hexes[0], threshold=31)    # -> [(id, distance), ...]

`hash_file` returns a `vangnet.signals.hashes.Hashes` (it used to return the JSON dict of
``vangnet hash --json``; ``Hashes.to_json()`` gives that dict, key for key, and
``Hashes.from_json`` reads it back).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

# ONNX Runtime (the classifiers, OCR) keeps a telemetry session file (``$TMPDIR/.ses``) unless
# told not to: Vangnet writes nothing it does not need to (a server handling suspect media
# leaves its TMPDIR empty) and reports nothing to anyone. Set before any module imports it.
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

__version__ = "0.1.0"
__all__ = ["PDQIndex", "__version__", "hash_file"]

if TYPE_CHECKING:
    from vangnet.index.pdq_index import PDQIndex
    from vangnet.signals.hashing import hash_file


def __getattr__(name: str) -> Any:  # lazy: `import vangnet` stays cheap for the CLI
    if name == "hash_file":
        from vangnet.signals.hashing import hash_file

        return hash_file
    if name == "PDQIndex":
        from vangnet.index.pdq_index import PDQIndex

        return PDQIndex
    raise AttributeError(name)
