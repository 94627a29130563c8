"""The per-item analysis steps of a triage, after hashing: each takes the file's bytes, what
is known so far (``kind``, ``hashed``) and the run's options, and returns fields to record
(``metadata``, ``text``, ``language``, ``findings``). A step that raises a `VangnetError`
leaves a problem note on the item; the item is still recorded. Tunable values (sampling,
OCR limits, video-call weights) come with the options (``options.tuning``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from vangnet.investigate.triage import Options
    from vangnet.investigate.tuning import TriageTuning
    from vangnet.signals.hashes import Hashes

Step = Callable[[bytes, dict[str, Any], "Options"], dict[str, Any]]


def metadata_step(data: bytes, context: dict[str, Any], options: Options) -> dict[str, Any]:
    """EXIF / XMP / QuickTime: capture time, GPS and place, device, software, thumbnail."""
    if not options.metadata:
        return {}
    from vangnet.investigate.metadata import extract

    hashed: Hashes | None = context.get("hashed")
    pdq = hashed.value("pdq") if hashed is not None else None
    return {"metadata": extract(data, pdq=pdq, options=options.tuning.metadata).to_dict()}


#: One OCR engine per worker process and OCR limits, made on first use.
_READERS: dict[tuple[int, int, float], Any] = {}


def _reader(tuning: TriageTuning) -> Any:
    limits = (tuning.ocr_max_side, tuning.ocr_min_side, tuning.ocr_min_confidence)
    if limits not in _READERS:
        from vangnet.investigate.text import TextReader

        _READERS[limits] = TextReader(
            threads=1,
            max_side=tuning.ocr_max_side,
            min_side=tuning.ocr_min_side,
            min_confidence=tuning.ocr_min_confidence,
        )
    return _READERS[limits]


def text_step(data: bytes, context: dict[str, Any], options: Options) -> dict[str, Any]:
    """Text in the picture (or in a few frames of a video), its language, the leads in it
    (clocks, dates, handles, apps, file names) and how much it looks like a video call."""
    if not options.ocr:
        return {}
    from vangnet.investigate.text import frames_text, hints, language, video_call_likelihood

    tuning = options.tuning

    if context.get("kind") == "video":
        found = frames_text(
            data,
            every_seconds=tuning.video_text_every_seconds,
            max_frames=tuning.video_text_frames,
            reader=_reader(tuning),
        )
        text = found.text
        findings: dict[str, Any] = {"video_text": found.to_dict()} if text else {}
    else:
        ocr = _reader(tuning).read(data)
        text = ocr.text
        findings = {}
        call = video_call_likelihood(data, ocr, scoring=tuning.call_scoring)
        if call.score > 0:
            findings["video_call"] = {"score": round(call.score, 2), "reasons": list(call.reasons)}
        if text:
            findings["text_lines"] = [line.to_dict() for line in ocr.lines[: tuning.text_lines]]
    if text:
        leads = {k: v for k, v in dict(hints(text)).items() if v}
        if leads:
            findings["text_hints"] = leads
    lang = language(text) if text else None
    if lang is not None:
        findings["language"] = lang.to_dict()
    return {
        "text": text or None,
        "language": lang.code if lang is not None else None,
        "findings": findings,
    }


STEPS: list[Step] = [metadata_step, text_step]
