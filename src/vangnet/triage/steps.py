"""The per-item analysis steps of a triage, after hashing: each takes the file's bytes, what
is known so far (a `StepInput`: ``kind``, ``hashes``) and the run's options, and returns what
it found (a `StepResult`: ``metadata``, ``text``, ``language``, typed ``findings``; see
`vangnet.triage.result`). A step that raises a `VangnetError`
leaves a problem note on the item; the item is still recorded. Tunable values (sampling,
OCR limits, video-call weights) come with the options (``options.tuning``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from vangnet.triage.result import Findings, StepInput, StepResult, VideoCall

if TYPE_CHECKING:
    from vangnet.config import Settings
    from vangnet.signals.classifiers.media import Spread
    from vangnet.triage.tuning import Options, TriageTuning

Step = Callable[[bytes, StepInput, "Options"], StepResult]


def metadata_step(data: bytes, given: StepInput, options: Options) -> StepResult:
    """EXIF / XMP / QuickTime: capture time, GPS and place, device, software, thumbnail."""
    if not options.metadata:
        return StepResult()
    from vangnet.triage.metadata import extract

    pdq = given.hashes.value("pdq")
    return StepResult(metadata=extract(data, pdq=pdq, options=options.tuning.metadata).to_dict())


#: One OCR engine per worker process and OCR limits, made on first use.
_READERS: dict[tuple[int, int, float], Any] = {}


def _reader(tuning: TriageTuning) -> Any:
    limits = (tuning.ocr_max_side, tuning.ocr_min_side, tuning.ocr_min_confidence)
    if limits not in _READERS:
        from vangnet.triage.text import TextReader

        _READERS[limits] = TextReader(
            threads=1,
            max_side=tuning.ocr_max_side,
            min_side=tuning.ocr_min_side,
            min_confidence=tuning.ocr_min_confidence,
        )
    return _READERS[limits]


def text_step(data: bytes, given: StepInput, options: Options) -> StepResult:
    """Text in the picture (or in a few frames of a video), its language, the leads in it
    (clocks, dates, handles, apps, file names) and how much it looks like a video call."""
    if not options.ocr:
        return StepResult()
    from vangnet.triage.text import frames_text, hints, language, video_call_likelihood

    tuning = options.tuning
    video_text = None
    video_call = None
    lines: tuple[dict[str, Any], ...] = ()
    if given.kind == "video":
        found = frames_text(
            data,
            every_seconds=tuning.video_text_every_seconds,
            max_frames=tuning.video_text_frames,
            reader=_reader(tuning),
        )
        text = found.text
        video_text = found.to_dict() if text else None
    else:
        ocr = _reader(tuning).read(data)
        text = ocr.text
        call = video_call_likelihood(data, ocr, scoring=tuning.call_scoring)
        if call.score > 0:
            video_call = VideoCall(round(call.score, 2), tuple(call.reasons))
        if text:
            lines = tuple(line.to_dict() for line in ocr.lines[: tuning.text_lines])
    leads = {k: v for k, v in dict(hints(text)).items() if v} if text else {}
    lang = language(text) if text else None
    return StepResult(
        text=text or None,
        language=lang.code if lang is not None else None,
        findings=Findings(
            video_text=video_text,
            video_call=video_call,
            text_lines=lines,
            text_hints=leads,
            language=lang.to_dict() if lang is not None else None,
        ),
    )


STEPS: list[Step] = [metadata_step, text_step]


def classify_step(
    data: bytes,
    given: StepInput,
    options: Options,
    settings: Settings,
    *,
    frames: Sequence[Spread] | None = None,
) -> StepResult:
    """The enabled classifiers' scores of a photo, or of a video's sampled frames
    (``classify_video_frames``), fused into the priority signal with the deployment's
    thresholds: the finding ``classifiers`` = ``{"scores": {name: value}, "priority":
    {value, likely, summary, parts[, frame_time]}, "errors": [{classifier, message}]}``
    (absent when the step is off or no classifier is enabled). A classifier that fails on
    the file is named in ``errors`` and in the item's problems (`vangnet.triage.run.analyse`). Run
    after the other steps, with the settings (the classifiers are built from them, once
    per worker process). ``frames``: a video's frames already spread for the classifiers
    (gathered while it was hashed; `vangnet.signals.classifiers.media.FrameSpread`)."""
    if not options.classify or given.kind not in ("photo", "video"):
        return StepResult()
    from vangnet.signals.classifiers.enabled import enabled_classifiers
    from vangnet.signals.classifiers.fusion import Fusion
    from vangnet.signals.classifiers.media import classify_bytes

    classifiers = enabled_classifiers(settings)
    if not classifiers:
        return StepResult()
    classified = classify_bytes(data, settings=settings, classifiers=classifiers, frames=frames)
    fused, at = classified.fused(Fusion.from_settings(settings))
    priority = fused.as_json()
    # 6 places, not the API's 4: most items of a seizure score near 0, and the workbench
    # orders them by this value
    priority["value"] = round(fused.value, 6)
    if at is not None:
        priority["frame_time"] = round(at, 3)
    found = {
        "scores": {n: round(score.value, 6) for n, (score, _) in classified.best().items()},
        "priority": priority,
        "errors": [{"classifier": n, "message": m} for n, m in classified.errors().items()],
    }
    return StepResult(findings=Findings(other={"classifiers": found}))
