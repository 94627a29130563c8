"""Adapters for the peers Vangnet is measured against.

* Meta's python-threatexchange (PyPI ``threatexchange``): ``PdqSignal.hash_from_file`` and the
  faiss-based PDQ index that ``PdqSignal.get_index_cls()`` returns.
* Thorn's ``perception``: ``perception.hashers.PDQHash``.

Each peer is optional: when its package is missing, ``*_status()`` says ``"not installed"`` and
the benchmark rows for it carry that status instead of figures.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmarks.common import NOT_INSTALLED


def package_version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def threatexchange_status() -> str | None:
    """None when usable, else a status string for the result rows."""
    if not (_importable("threatexchange") and _importable("faiss") and _importable("pdqhash")):
        return NOT_INSTALLED
    try:
        from threatexchange.signal_type.pdq.signal import PdqSignal  # noqa: F401
    except Exception as exc:  # pragma: no cover - depends on the installed peer
        return f"import failed: {type(exc).__name__}: {exc}"
    return None


def perception_status() -> str | None:
    if not (_importable("perception") and _importable("pdqhash")):
        return NOT_INSTALLED
    try:
        from perception.hashers import PDQHash  # noqa: F401
    except Exception as exc:  # pragma: no cover - depends on the installed peer
        return f"import failed: {type(exc).__name__}: {exc}"
    return None


# ---------------------------------------------------------------------------------------------
# Hashers: each returns a callable path -> 64-hex PDQ hash ("" when the peer declines to hash).


def threatexchange_hasher() -> Callable[[Path], str]:
    """python-threatexchange's public file hasher, as its CLI and HMA call it."""
    from threatexchange.signal_type.pdq.signal import PdqSignal

    def hash_path(path: Path) -> str:
        return str(PdqSignal.hash_from_file(path))

    return hash_path


def threatexchange_raw_pdq(path: Path) -> tuple[str, int]:
    """Hash and quality without PdqSignal's quality cut-off (quality < 50 gives "")."""
    from threatexchange.signal_type.pdq.pdq_hasher import pdq_from_file

    digest, quality = pdq_from_file(path)
    return str(digest), int(quality)


def perception_hasher() -> Callable[[Path], str]:
    """Thorn perception's PDQ hasher, reading the file itself (OpenCV decode)."""
    from perception.hashers import PDQHash

    hasher = PDQHash()

    def hash_path(path: Path) -> str:
        return str(hasher.compute(str(path), hash_format="hex"))

    return hash_path


# ---------------------------------------------------------------------------------------------
# Index: python-threatexchange's PDQ index, built from (hash, metadata) entries like its users do.


class ThreatExchangeIndex:
    """Wraps ``PdqSignal.get_index_cls()`` (the faiss multi-hash ``PDQIndex``)."""

    threshold = 31

    def __init__(self) -> None:
        from threatexchange.signal_type.pdq.signal import PdqSignal

        self.cls: Any = PdqSignal.get_index_cls()
        self.index: Any = None

    @property
    def name(self) -> str:
        return f"{self.cls.__module__}.{self.cls.__qualname__}"

    def build(self, hashes: Sequence[str]) -> None:
        entries = ((h, i) for i, h in enumerate(hashes))
        build = getattr(self.cls, "build", None)
        self.index = build(entries) if build is not None else self.cls(entries)

    def query(self, hex_hash: str) -> list[int]:
        return [int(m.metadata) for m in self.index.query(hex_hash)]

    def query_many(self, hexes: Sequence[str]) -> list[list[int]]:
        """Batch lookup: one faiss range search over all queries (the index's batch entry)."""
        inner = getattr(self.index, "index", None)
        batch = getattr(inner, "search_with_distance_in_result", None)
        if batch is None:  # no batch entry point: one query per hash
            return [self.query(h) for h in hexes]
        found = batch(list(hexes), self.cls.get_match_threshold())
        entries = self.index.local_id_to_entry
        return [[int(entries[idx][1]) for idx, _h, _d in found[h]] for h in hexes]

    def __len__(self) -> int:
        return len(self.index)


def peer_versions() -> dict[str, str | None]:
    return {
        "threatexchange": package_version("threatexchange"),
        "faiss-cpu": package_version("faiss-cpu"),
        "perception": package_version("perception"),
        "pdqhash": package_version("pdqhash"),
    }
