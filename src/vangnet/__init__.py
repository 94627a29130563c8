"""Vangnet: hash, bank and match images, video and live streams against known material.

Library API::

    import vangnet
    vangnet.hash_file("photo.jpg")        # same keys as `vangnet hash --json`
    index = vangnet.PDQIndex.build(hexes)  # exact Hamming search over PDQ hashes
    index.query(hexes[0], threshold=31)    # -> [(id, distance), ...]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["PDQIndex", "__version__", "hash_file"]

if TYPE_CHECKING:
    from vangnet.hashing import hash_file
    from vangnet.index.pdq_index import PDQIndex


def __getattr__(name: str) -> Any:  # lazy: `import vangnet` stays cheap for the CLI
    if name == "hash_file":
        from vangnet.hashing import hash_file

        return hash_file
    if name == "PDQIndex":
        from vangnet.index.pdq_index import PDQIndex

        return PDQIndex
    raise AttributeError(name)
