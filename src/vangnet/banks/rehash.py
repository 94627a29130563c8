"""Compute a banked video's per-frame signals again from its media (`vangnet bank rehash`).

Banks made before ``vpdq`` became Meta's vPDQ (migration 0011) hold the bar-cropped frames
as ``vpdq_cropped`` and no standard ``vpdq``. Given the media again (the files the bank was
made from), each file is hashed as `vangnet bank add` hashes it and the bank's content with
the same exact digest (SHA-256, else MD5, else SHA-1) gets its ``vpdq`` and ``vpdq_cropped``
(and any other per-frame signal just computed) replaced; other signals stay as they are.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from vangnet.banks.contents import find_content_by_signal, replace_signals
from vangnet.errors import ValidationError
from vangnet.signals.base import FrameHashes
from vangnet.signals.hashes import Hashes
from vangnet.signals.registry import signal_types

#: Exact digests tried, in order, to find the bank content a file was banked as.
DIGESTS = ("sha256", "md5", "sha1")
#: Always replaced, even when absent from the new hashes (``vpdq_cropped`` is only stored
#: for a video with bars: a renamed value of a bar-less video is dropped).
STANDARD = ("vpdq", "vpdq_cropped")


@dataclass(frozen=True)
class Rehashed:
    """What a rehash did for one file: the content items updated, the signals stored."""

    content_ids: list[int]
    signals: list[str]


def rehash_content(session: Session, *, bank: str, hashed: Hashes) -> Rehashed:
    """Give ``bank``'s content with the digest of ``hashed`` (the
    `vangnet.signals.hashing.hash_file` result of a video) the per-frame signals of
    ``hashed``. No content: nothing changes. The caller commits."""
    if not hashed.video_frames.get("vpdq"):
        raise ValidationError(f"{hashed.path}: not a video (no vpdq frames)")
    installed = signal_types()
    frames = {n for n, cls in installed.items() if issubclass(cls, FrameHashes)}
    values = {n: v for n, v in hashed.signal_values().items() if n in frames}
    types = (frames & set(STANDARD)) | set(values)
    content_ids: list[int] = []
    for digest in DIGESTS:
        value = hashed.value(digest)
        if digest in installed and value:
            found = find_content_by_signal(session, digest, value, bank=bank)
            content_ids = [c.id for c in found]
            if content_ids:
                break
    stored: set[str] = set()
    for content_id in content_ids:
        stored.update(replace_signals(session, content_id, signals=values, types=types, bank=bank))
    return Rehashed(content_ids, sorted(stored))
