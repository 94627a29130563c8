"""The per-item analysis steps of a triage, after hashing: each takes the file's bytes, what
is known so far (``kind``, ``hashed``) and the run's options, and returns fields to record
(``metadata``, ``text``, ``language``, ``findings``). A step that raises a `VangnetError`
leaves a problem note on the item; the item is still recorded."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vangnet.investigate.triage import Options

Step = Callable[[bytes, dict[str, Any], "Options"], dict[str, Any]]


def metadata_step(data: bytes, context: dict[str, Any], options: Options) -> dict[str, Any]:
    """EXIF / XMP / QuickTime: capture time, GPS and place, device, software, thumbnail."""
    if not options.metadata:
        return {}
    from vangnet.investigate.metadata import extract

    pdq = (context.get("hashed") or {}).get("pdq")
    return {"metadata": extract(data, pdq=pdq).to_dict()}


STEPS: list[Step] = [metadata_step]
