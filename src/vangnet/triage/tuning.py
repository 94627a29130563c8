"""The tunable values of a triage, passed down from the entry points to the steps.

`TriageTuning` holds what an analyst or operator may change (tracer thresholds, video-call
score weights, sampling counts, OCR limits, series distance, batch and size limits). Its
defaults are the documented defaults of the ``triage_*`` settings in `vangnet.config` (one
source: the settings registry); `TriageTuning.from_settings` copies the values in force.
`vangnet triage` builds it from the settings it read and hands it to `Triage` inside its
`Options`; nothing under `vangnet.triage` reads the environment or the settings file.

The parts the steps take (`TraceOptions`, `CallScoring`) are small frozen dataclasses of
their own, so the library functions (`screenshots.trace`, `text.video_call_likelihood`)
can be called with today's defaults or with values of the caller's choosing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from vangnet.config import Settings

PREFIX = "triage_"


def default(name: str) -> Any:
    """The documented default of setting ``name`` (e.g. ``triage_trace_hash_bits``)."""
    return Settings.model_fields[name].default


@dataclass(frozen=True)
class TraceOptions:
    """Thresholds of screenshot tracing (`vangnet.triage.screenshots.trace`), measured
    on the public player screenshots (see that module)."""

    #: Ingested entries whose nearest frame is within this many bits are verified with
    #: features (the right recording: 2-24 bits on the public screenshots; others 84+) ...
    candidate_bits: int = default("triage_trace_candidate_bits")
    #: ... at most this many entries per region, nearest first.
    max_candidates: int = default("triage_trace_max_candidates")
    #: Nearest frames of each entry checked with features.
    frames_per_entry: int = default("triage_trace_frames_per_entry")
    #: Least RANSAC inliers to accept a feature match.
    min_inliers: int = default("triage_trace_min_inliers")
    #: Hash-only entries: accept when the best part is within this many bits.
    hash_bits: int = default("triage_trace_hash_bits")


@dataclass(frozen=True)
class CallScoring:
    """What each clue adds to the video-call score (`vangnet.triage.text_calls`)."""

    chrome: float = default("triage_call_weight_chrome")
    inset: float = default("triage_call_weight_inset")
    control_word: float = default("triage_call_weight_control_word")
    max_control_words: int = default("triage_call_max_control_words")
    call_app: float = default("triage_call_weight_app")
    #: Highest score of a picture that shows a media player.
    player_cap: float = default("triage_call_player_cap")


@dataclass(frozen=True)
class MetadataOptions:
    """Thresholds of `vangnet.triage.metadata.extract`."""

    #: EXIF thumbnails of lower PDQ quality are not compared with their picture.
    thumbnail_min_quality: int = default("triage_thumbnail_min_quality")
    #: Minutes local time minus GPS time may be off a whole quarter hour for an offset to
    #: be inferred from the GPS clock.
    gps_offset_minutes: float = default("triage_gps_offset_minutes")


@dataclass(frozen=True)
class TriageTuning:
    """Every ``triage_*`` setting, by its name without the prefix (plus the frame-library
    settings screenshot tracing shares with the banks). Picklable: it travels to the worker
    processes inside `Options`."""

    trace_candidate_bits: int = default("triage_trace_candidate_bits")
    trace_max_candidates: int = default("triage_trace_max_candidates")
    trace_frames_per_entry: int = default("triage_trace_frames_per_entry")
    trace_min_inliers: int = default("triage_trace_min_inliers")
    trace_hash_bits: int = default("triage_trace_hash_bits")
    trace_case_videos: int = default("triage_trace_case_videos")
    trace_video_bytes: int = default("triage_trace_video_bytes")
    trace_max_screenshots: int = default("triage_trace_max_screenshots")
    trace_call_score: float = default("triage_trace_call_score")
    trace_results: int = default("triage_trace_results")
    call_weight_chrome: float = default("triage_call_weight_chrome")
    call_weight_inset: float = default("triage_call_weight_inset")
    call_weight_control_word: float = default("triage_call_weight_control_word")
    call_max_control_words: int = default("triage_call_max_control_words")
    call_weight_app: float = default("triage_call_weight_app")
    call_player_cap: float = default("triage_call_player_cap")
    video_text_every_seconds: float = default("triage_video_text_every_seconds")
    video_text_frames: int = default("triage_video_text_frames")
    text_lines: int = default("triage_text_lines")
    ocr_max_side: int = default("triage_ocr_max_side")
    ocr_min_side: int = default("triage_ocr_min_side")
    ocr_min_confidence: float = default("triage_ocr_min_confidence")
    thumbnail_min_quality: int = default("triage_thumbnail_min_quality")
    gps_offset_minutes: float = default("triage_gps_offset_minutes")
    series_bits: int = default("triage_series_bits")
    series_min_quality: int = default("triage_series_min_quality")
    batch: int = default("triage_batch")
    perceptual_max_bytes: int = default("triage_perceptual_max_bytes")
    stream_hash_bytes: int = default("triage_stream_hash_bytes")
    # Shared with the banks: how densely case videos are hashed for tracing.
    library_fps: float = default("bank_video_fps")
    library_dedupe_bits: int = default("bank_video_dedupe_bits")
    library_quality_floor: int = default("pdq_quality_floor")

    @classmethod
    def from_settings(cls, settings: Settings) -> TriageTuning:
        """The values of ``settings`` (the ones the entry point read)."""
        shared: dict[str, Any] = {
            "library_fps": settings.bank_video_fps,
            "library_dedupe_bits": settings.bank_video_dedupe_bits,
            "library_quality_floor": settings.pdq_quality_floor,
        }
        values: dict[str, Any] = {
            f.name: shared[f.name] if f.name in shared else getattr(settings, PREFIX + f.name)
            for f in fields(cls)
        }
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @property
    def trace(self) -> TraceOptions:
        return TraceOptions(
            candidate_bits=self.trace_candidate_bits,
            max_candidates=self.trace_max_candidates,
            frames_per_entry=self.trace_frames_per_entry,
            min_inliers=self.trace_min_inliers,
            hash_bits=self.trace_hash_bits,
        )

    @property
    def metadata(self) -> MetadataOptions:
        return MetadataOptions(
            thumbnail_min_quality=self.thumbnail_min_quality,
            gps_offset_minutes=self.gps_offset_minutes,
        )

    @property
    def call_scoring(self) -> CallScoring:
        return CallScoring(
            chrome=self.call_weight_chrome,
            inset=self.call_weight_inset,
            control_word=self.call_weight_control_word,
            max_control_words=self.call_max_control_words,
            call_app=self.call_weight_app,
            player_cap=self.call_player_cap,
        )


@dataclass(frozen=True)
class Options:
    """What a run does (``ocr``, ``metadata``, ``classify``: the enabled classifiers score
    each photo and sampled video frames), with how many worker processes, and the tunable
    values of its steps (``tuning``: the ``triage_*`` settings, passed in by the entry
    point; the documented defaults when not given)."""

    ocr: bool = True
    metadata: bool = True
    workers: int = 0  # 0: one per core
    tuning: TriageTuning = field(default_factory=TriageTuning)
    classify: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "ocr": self.ocr,
            "metadata": self.metadata,
            "classify": self.classify,
            "workers": self.workers,
            "tuning": self.tuning.to_dict(),
        }
