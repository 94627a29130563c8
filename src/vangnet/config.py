"""One settings registry: every setting has a name, a default and a help text.

Values come from, in order of precedence: keyword arguments, environment variables
``VANGNET_<NAME>``, the TOML config file (``VANGNET_CONFIG`` or ``$VANGNET_HOME/config.toml``),
then the defaults below. `vangnet config show` prints this registry.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import platformdirs
from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from vangnet.net import parse_allow

# The user roles of vangnet.auth.roles.USER_ROLES, spelled out: importing them here would make
# an import cycle (auth -> store -> config).
UserRoleName = Literal["admin", "curator", "reviewer", "analyst"]


def default_home() -> Path:
    return Path(platformdirs.user_data_dir("vangnet", appauthor=False))


def config_file_path() -> Path:
    explicit = os.environ.get("VANGNET_CONFIG")
    if explicit:
        return Path(explicit)
    home = os.environ.get("VANGNET_HOME")
    return (Path(home) if home else default_home()) / "config.toml"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VANGNET_", extra="forbid", frozen=True)

    home: Path = Field(
        default_factory=default_home,
        description="Data directory: embedded database, index snapshots, evidence vault.",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL; empty means SQLite at $VANGNET_HOME/vangnet.db. "
        "Example: postgresql+psycopg://user@127.0.0.1:5432/vangnet",
    )
    host: str = Field(default="127.0.0.1", description="Address `vangnet serve` binds to.")
    port: int = Field(default=5000, description="Port `vangnet serve` listens on.")
    require_api_keys: bool = Field(
        default=True,
        description="Require an API key on every request. Can be turned off only when bound "
        "to a loopback address (demo mode).",
    )
    max_upload_bytes: int = Field(
        default=256 * 1024 * 1024, description="Largest upload the HTTP API accepts, in bytes."
    )
    max_file_bytes: int = Field(
        default=4 * 1024 * 1024 * 1024, description="Largest file `hash`/`match` will read."
    )
    max_image_pixels: int = Field(
        default=50_000_000,
        gt=0,
        description="Largest picture or video frame (width x height) decoded, checked from the "
        "header before decoding, for uploads, triage, previews and live frames; larger is "
        "refused (HTTP 413 media_too_large) as a possible decompression bomb. 50 MP holds "
        "full-resolution photos of 48/50 MP phone sensors (8160x6120) and keeps one decode "
        "at the cap under ~600 MB of server memory.",
    )
    max_video_seconds: float = Field(
        default=4 * 3600, description="Longest video hashed, in seconds."
    )
    video_fps: float = Field(
        default=1.0, gt=0, description="Frames per second sampled from query videos for vPDQ."
    )
    bank_video_fps: float = Field(
        default=0.0,
        ge=0,
        description="Frames per second hashed when a video is added to a bank; 0 = every "
        "frame, so trimmed copies out of phase with the banked video still match.",
    )
    bank_video_dedupe_bits: int = Field(
        default=4,
        ge=-1,
        le=256,
        description="When banking a video, drop a frame whose hashes are all within this many "
        "bits of the last frame kept (still scenes are stored once); -1 keeps every frame.",
    )
    video_regions: bool = Field(
        default=True,
        description="Also hash the top, bottom, left and right halves of video frames "
        "(signal vpdq_regions), so copies with a large logo or caption overlay match.",
    )
    match_regions: bool = Field(
        default=True,
        description="vangnet match, POST /v1/match and vangnet triage also look up regions of "
        "a query photo "
        "(without borders or letterbox bars, the main picture, insets, video-call tiles), so "
        "a banked photo shown inside another picture is found; false hashes the whole photo only.",
    )
    match_video_frames: int = Field(
        default=8,
        ge=0,
        le=256,
        description="vangnet match and POST /v1/match also look up this many sampled frames "
        "of a query video at most (spread over it), whole and their regions, in PDQ banks, "
        "so a banked photo shown in a video (an inset, a call tile) is found; 0 (or "
        "match_regions false): videos are matched by vPDQ only.",
    )
    match_regions_max: int = Field(
        default=8,
        ge=0,
        le=32,
        description="At most this many regions of a query photo are looked up (best first).",
    )
    match_region_min_side: int = Field(
        default=64,
        ge=16,
        description="A region of a query photo is looked up only when both its sides are at "
        "least this many pixels (of the decoded photo).",
    )
    match_calibration: Path | None = Field(
        default=None,
        description="Operating points of the matcher's lookup kinds (whole picture, dihedral "
        "variant, region), as written by scripts/bench --only robustness --calibrate FILE on "
        "a deployment's own data; default: the points shipped with Vangnet, measured at 99.9 % "
        "precision. A variant or region match is kept only within its bank's threshold and "
        "its kind's point.",
    )
    pdq_threshold: int = Field(
        default=31, description="Default PDQ match distance for new banks (0-256)."
    )
    pdq_verify_threshold: int = Field(
        default=96,
        ge=0,
        le=256,
        description="The wider net: a PDQ candidate of a query photo (the whole picture, a "
        "rotated / flipped variant or a region) farther than its bank's threshold but within "
        "this distance is a match when the photo's pixels and the banked picture's local "
        "features (kept by bank_features) agree (match_verify_min_inliers). The default of "
        "banks that store no verify_threshold of their own; at the bank's threshold or below "
        "it is off. Used where the query's pixels are at hand (vangnet match, POST /v1/match, "
        "POST /m/lookup, triage).",
    )
    pdq_crop_threshold: int = Field(
        default=80,
        ge=0,
        le=256,
        description="The wider net's crop candidates: a query photo's PDQ (the whole picture "
        "or a region) within this distance of a standard crop of a banked picture (PDQs of 58 "
        "crops kept with its local features) is a candidate, a match only when local features "
        "agree (match_verify_min_inliers). Capped by the bank's verify_threshold; a bank "
        "whose wider net is off looks up no crops.",
    )
    match_verify_min_inliers: int = Field(
        default=12,
        ge=3,
        description="A wider-net candidate is a match when at least this many SIFT keypoints "
        "of the query and of the banked picture agree under one plausible similarity (RANSAC "
        "inliers; the fitted rotation at most 10 degrees, the scale 0.25-4).",
    )
    match_verify_side: int = Field(
        default=320,
        ge=64,
        le=2048,
        description="The wider net's check fits each box of the query picture (the whole "
        "picture, a region) within this many pixels before finding its SIFT keypoints "
        "(banked pictures: within 512). Larger keeps more detail and costs more CPU (SIFT at "
        "512 costs about three times as much as at 320).",
    )
    match_verify_max: int = Field(
        default=16,
        ge=0,
        le=256,
        description="At most this many wider-net candidates are verified per query photo "
        "(closest first); 0 turns verification off.",
    )
    bank_features: bool = Field(
        default=True,
        description="Keep local features (SIFT keypoints, no pixels) of each picture banked "
        "from its pixels (vangnet bank add, the HMA file upload, a confirmed case added to a "
        "bank), so wider-net candidates can be verified (pdq_verify_threshold).",
    )
    bank_features_keypoints: int = Field(
        default=512,
        ge=16,
        le=4096,
        description="Local features kept per banked picture: the strongest this many SIFT "
        "keypoints (132 bytes each).",
    )
    pdq_quality_floor: int = Field(
        default=50, description="Default lowest PDQ quality that is matched for new banks."
    )
    vpdq_query_match_pct: float = Field(
        default=80.0,
        description="Default share (%) of a query video's frames that must match a banked video.",
    )
    vpdq_index_match_pct: float = Field(
        default=0.0,
        description="Default share (%) of a banked video's frames that the query must match.",
    )
    index_poll_seconds: float = Field(
        default=0.2,
        description="How often a running server applies bank changes made elsewhere.",
    )
    index_snapshot_seconds: float = Field(
        default=300.0, description="How often a running server writes an index snapshot."
    )
    log_level: str = Field(default="info", description="Logging level.")

    # -- classifiers: scores that order review, never a verdict (issue 13) -------------------
    classifiers: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["opennsfw", "faces"],
        description="Classifiers this deployment runs on live samples, `vangnet classify` and "
        "POST /v1/classify (comma-separated names; `vangnet plugins` lists the installed ones). "
        "Left unset: the bundled default set, those of its names that are installed; set: "
        "every name must be installed (else a settings error); empty: none. A score orders "
        "the review queue; it never confirms, reports or banks anything.",
    )
    live_classify_budget_ms: float = Field(
        default=5.0,
        ge=0,
        description="CPU milliseconds each live stream may spend on the enabled classifiers "
        "per second of stream time, on average (up to ten seconds' worth saved up): with the "
        "default set (about 70 ms a sample on one core) a stream's samples are scored about "
        "every 14 s, which keeps 16 streams of 720p30 per core. A sample over budget is not "
        "scored and is counted (classify_skipped); it is still matched. 0: every sample.",
    )
    live_classify_per_batch: int = Field(
        default=1,
        ge=0,
        description="At most this many live samples are scored by the classifiers in one "
        "batch of the processing stage (the streams that waited longest first), so that "
        "streams whose allowance fills at the same moment do not hold back the matching of "
        "every stream at once; the others are counted as skipped (classify_skipped) and "
        "scored later. 0: no cap.",
    )
    classify_video_frames: int = Field(
        default=8,
        ge=1,
        le=256,
        description="Frames of a video that `vangnet classify` and POST /v1/classify score "
        "(spread evenly over it; the video's highest score per classifier is its score).",
    )
    classify_uploads: bool = Field(
        default=True,
        description="POST /v1/match scores each upload with the enabled classifiers (decoded "
        "in memory): the answer has its priority signal, a matched upload's case keeps the "
        "scores, and an upload that matches nothing but is likely new material is filed as "
        "a case of source classifier for a person to look at (never reported, banked or "
        "refused by it). Off: uploads are only matched.",
    )

    classifier_thresholds: dict[str, float] = Field(
        default_factory=dict,
        description="Per classifier, the score at or above which it counts as likely (the "
        "'likely new material' views and the live review-now rule), as a JSON object, e.g. "
        '{"opennsfw": 0.6}. A classifier not named here uses the calibration stored by '
        "`vangnet classifiers evaluate --save`, else its own default threshold.",
    )
    classifier_minor_prior: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Priority signal: the share of a sexual-content score kept when no face "
        "reads as a minor (no face found, or no age classifier); a face read as a minor with "
        "probability p keeps prior + (1 - prior) * p of it. 1: ages never change the order.",
    )
    faces_detect_threshold: float = Field(
        default=0.15,
        ge=-1,
        le=3,
        description="Faces classifier: the detector's SVM margin below which a detection is "
        "dropped (dlib's own default is 0.0; at 0.0-0.15 it found leaves and animals on "
        "BSDS500). A value other than the default is named in the classifier's version.",
    )
    faces_upsample: int = Field(
        default=1,
        ge=0,
        le=3,
        description="Faces classifier: how many times the picture is upsampled before "
        "detection (0: faces from ~80 px, 1: from ~40 px, each step ~4x the cost). A value "
        "other than the default is named in the classifier's version.",
    )
    faces_max_side: int = Field(
        default=480,
        ge=64,
        le=4096,
        description="Faces classifier: the longest side a picture is shrunk to before "
        "detection (480: ~50 ms a picture; 640: ~85 ms, smaller faces). A value other than "
        "the default is named in the classifier's version.",
    )
    # -- live review-now alerts: k likely samples of the last n within a window (issue 13) --
    live_review_now_k: int = Field(
        default=2,
        ge=0,
        description="A live stream raises a review-now alert (a person should look now; never "
        "a verdict) when this many of its last live_review_now_n scored samples, within "
        "live_review_now_window_seconds of stream time, read as likely (the priority signal's "
        "'likely': a sexual-content or abuse classifier at or above its threshold). At the "
        "default budget a stream's sample is scored about every 14 s, so 2 likely samples "
        "alert about 14-28 s after it starts and a single noisy frame never does. 0: off.",
    )
    live_review_now_n: int = Field(
        default=3,
        ge=1,
        description="The last this many scored samples of a stream are what the review-now "
        "rule counts (live_review_now_k of them must be likely).",
    )
    live_review_now_window_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Scored samples older than this (stream time) before the newest one do "
        "not count for the review-now rule: 60 s holds about four scored samples at the "
        "default classifier budget, and a likely sample an hour ago never combines with one "
        "now.",
    )
    live_review_now_video_call_threshold: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="A scored sample whose video-call likelihood (image clues: app toolbars "
        "around a natural picture, a picture-in-picture inset) is at least this reads as a "
        "video call: the review-now alert records it, its case gets review_priority_video_call "
        "points and live_review_now_video_call_k applies.",
    )
    live_review_now_video_call_k: int = Field(
        default=0,
        ge=0,
        description="With the newest likely sample reading as a video call, this many likely "
        "samples are enough for a review-now alert (e.g. 1: a likely sample in a video call "
        "alerts at once). 0: video calls use live_review_now_k like any stream.",
    )
    live_review_now_quiet_seconds: float = Field(
        default=600.0,
        ge=0,
        description="After a person acknowledged a stream's review-now alert (or decided its "
        "case), samples that qualify within this many seconds extend that alert (kept, "
        "counted, no new alert, webhook or reopened case); later ones open a new alert. A "
        "stream a reviewer judged a false positive does not alert again every half minute. "
        "0: a new alert at once.",
    )
    live_review_now_webhook_url: str = Field(
        default="",
        description="Where the signed stream.review_now webhooks go (a deployment-level "
        "destination, e.g. the team that watches live streams); empty: webhook_url, the "
        "destination of match alerts.",
    )

    @field_validator("classifiers", mode="before")
    @classmethod
    def _split_classifiers(cls, value: Any) -> Any:
        """``VANGNET_CLASSIFIERS=opennsfw,faces`` (comma-separated) or a list."""
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        return value

    # -- remote classifiers: licensed services over HTTP (vangnet.remote) -------------------
    # Enabled only when named in `classifiers`: each picture then LEAVES THE MACHINE for the
    # service at the URL below (under the egress policy). Enabled without a URL or key: a
    # settings error.
    safer_predict_url: str = Field(
        default="",
        validate_default=True,
        description="Thorn Safer Predict: the classification endpoint your Safer contract "
        "gives (https). Pictures are sent there, one per request, when `safer_predict` is in "
        "classifiers.",
    )
    safer_predict_api_key: SecretStr | None = Field(
        default=None, description="Thorn Safer Predict API key (or safer_predict_api_key_file)."
    )
    safer_predict_api_key_file: Path | None = Field(
        default=None,
        validate_default=True,
        description="File holding the Thorn Safer Predict API key.",
    )
    safer_predict_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Timeout of one Safer Predict request."
    )
    safer_predict_requests_per_second: float = Field(
        default=5.0,
        gt=0,
        description="Safer Predict requests a process sends per second at most (one token "
        "bucket shared by its threads).",
    )
    safer_predict_max_retries: int = Field(
        default=3,
        ge=0,
        description="Further tries of a Safer Predict request after a timeout, a connection "
        "error, HTTP 429 or 5xx (Retry-After honoured, else a doubling backoff); other 4xx "
        "answers are not retried.",
    )
    google_content_safety_url: str = Field(
        default="https://contentsafety.googleapis.com/v1beta1/images:classify",
        validate_default=True,
        description="Google Content Safety API: the images:classify endpoint. Pictures are "
        "sent there, in batches, when `google_content_safety` is in classifiers.",
    )
    google_content_safety_api_key: SecretStr | None = Field(
        default=None,
        description="Google Content Safety API key (or google_content_safety_api_key_file).",
    )
    google_content_safety_api_key_file: Path | None = Field(
        default=None,
        validate_default=True,
        description="File holding the Google Content Safety API key.",
    )
    google_content_safety_timeout_seconds: float = Field(
        default=10.0, gt=0, description="Timeout of one Content Safety API request."
    )
    google_content_safety_requests_per_second: float = Field(
        default=5.0,
        gt=0,
        description="Content Safety API requests a process sends per second at most (one "
        "token bucket shared by its threads; the service allows 200).",
    )
    google_content_safety_max_retries: int = Field(
        default=3,
        ge=0,
        description="Further tries of a Content Safety API request after a timeout, a "
        "connection error, HTTP 429 or 5xx (Retry-After honoured, else a doubling backoff); "
        "other 4xx answers are not retried.",
    )
    google_content_safety_batch_size: int = Field(
        default=8,
        ge=1,
        le=32,
        description="Pictures sent in one Content Safety API request (the service takes up "
        "to 32). A request that fails fails all of its pictures.",
    )

    @field_validator("safer_predict_url", "google_content_safety_url")
    @classmethod
    def _remote_url(cls, value: str, info: ValidationInfo) -> str:
        """An enabled remote classifier needs an http(s) endpoint."""
        value = value.strip()
        name = info.field_name.removesuffix("_url") if info.field_name else ""
        if name in info.data.get("classifiers", ()) and not value.startswith(
            ("https://", "http://")
        ):
            raise ValueError(
                f"classifier {name!r} is enabled (classifiers) but has no http(s) endpoint: "
                "pictures would be sent to a remote service, so its URL must be set"
            )
        return value

    @field_validator("safer_predict_api_key_file", "google_content_safety_api_key_file")
    @classmethod
    def _remote_key(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        """An enabled remote classifier needs its key, given or in a readable file."""
        name = info.field_name.removesuffix("_api_key_file") if info.field_name else ""
        if name not in info.data.get("classifiers", ()):
            return value
        if value is not None:
            try:
                readable = bool(value.read_text(encoding="utf-8").strip())
            except (OSError, UnicodeError) as error:
                raise ValueError(f"cannot read {name}'s API key file {value}: {error}") from None
            if not readable:
                raise ValueError(f"{name}'s API key file {value} is empty")
        elif info.data.get(f"{name}_api_key") is None:
            raise ValueError(
                f"classifier {name!r} is enabled (classifiers) but has no API key "
                f"(VANGNET_{name.upper()}_API_KEY or VANGNET_{name.upper()}_API_KEY_FILE)"
            )
        return value

    # -- live streams -----------------------------------------------------------------------
    live_sample_fps: float = Field(
        default=1.0, gt=0, le=30, description="Base rate at which live stream frames are sampled."
    )
    live_scene_change: float = Field(
        default=12.0,
        ge=0,
        le=255,
        description="Mean luminance change (0-255, on a 32x32 thumbnail) that triggers an extra "
        "sample between base-rate samples; 0 turns scene-change sampling off.",
    )
    live_max_extra_fps: float = Field(
        default=4.0,
        ge=0,
        description="Most scene-change samples per second on top of the base rate.",
    )
    live_keyframes_only: bool = Field(
        default=True,
        description="Decode only key frames while they come at least as often as the sample "
        "rate (much cheaper; scene changes are then seen at key frames only).",
    )
    live_regions: bool = Field(
        default=True,
        description="Live samples also look up their regions (a picture-in-picture inset, a "
        "video-call tile, a player's viewport, the picture without bars), in the same batched "
        "lookup as the whole frames, so a banked picture shown inside the stream alerts; false "
        "hashes the whole frame only.",
    )
    live_regions_every: int = Field(
        default=10,
        ge=1,
        description="A stream's layout (its regions) is read again every this many samples, "
        "or sooner when the frame's coarse picture changes (live_regions_change); the "
        "samples in between hash the regions last read.",
    )
    live_regions_change: float = Field(
        default=8.0,
        ge=0,
        le=255,
        description="Mean luminance change (0-255, on a 32x18 grey copy of the sample) since a "
        "stream's layout was read that makes the next sample read it again.",
    )
    live_regions_budget_ms: float = Field(
        default=10.0,
        ge=0,
        description="CPU milliseconds of region work (reading the layout, hashing the "
        "regions) each stream may use per second of stream time, on average (up to ten "
        "seconds' worth saved up); a sample over budget is matched on its whole frame only "
        "and counted (regions_skipped). 0: no limit.",
    )
    live_verify: bool = Field(
        default=True,
        description="Live samples take part in the wider net: a banked picture's PDQ "
        "candidate beyond its bank's threshold (within its verify_threshold) found in a "
        "sample or one of its regions is an alert only when local features kept at banking "
        "confirm it on the sample's frame. Runs with live_regions, within the same CPU "
        "budget (live_regions_budget_ms; its time counts there and as the stream's verify "
        "CPU); a sample over budget is matched on its whole frame only (regions_skipped).",
    )
    live_verify_side: int = Field(
        default=1280,
        ge=64,
        description="A candidate found in a live sample is verified on the decoded frame "
        "scaled to at most this many pixels on its longer side (never enlarged; made only "
        "when a candidate needs it): a small inset has more detail there than on the "
        "512-pixel sample.",
    )
    live_regions_layout_side: int = Field(
        default=512,
        ge=64,
        description="A stream's layout is read on the decoded frame scaled to this many "
        "pixels on its longer side; the regions are hashed on the sample. 512 or less: on "
        "the sample itself (frames are sampled at 512). 1024 finds twice as many small "
        "picture-in-picture insets but costs about four times as much per layout read (below "
        "16 streams per core on 720p30 with the default budget).",
    )
    live_regions_max: int = Field(
        default=6,
        ge=0,
        le=32,
        description="At most this many regions of a live sample are looked up (best first).",
    )
    live_region_min_side: int = Field(
        default=40,
        ge=16,
        description="A region of a live sample is looked up only when both its sides are at "
        "least this many pixels of the sample (frames are sampled at 512 pixels on the "
        "longer side).",
    )
    live_rtsp_transport: Literal["auto", "tcp", "udp"] = Field(
        default="auto",
        description="RTSP transport: auto (UDP, falling back to TCP), or only tcp or udp.",
    )
    live_api_allow_files: bool = Field(
        default=False,
        description="Let API callers start streams from local files (file:// or paths). Off: "
        "a key holder could otherwise probe the server's files.",
    )
    live_min_frames: int = Field(
        default=2,
        ge=1,
        description="Default decision rule for banks that are not high-confidence: this many "
        "matching samples ...",
    )
    live_window: int = Field(
        default=5, ge=1, description="... within this many most recent samples of the stream."
    )
    live_queue_samples: int = Field(
        default=8,
        ge=1,
        description="Samples a stream may have waiting for hashing and lookup; more are dropped "
        "(and counted) rather than letting the stream fall behind live.",
    )
    live_stall_seconds: float = Field(
        default=10.0, gt=0, description="A stream with no frame for this long is stalled."
    )
    live_connect_timeout: float = Field(
        default=10.0, gt=0, description="Seconds to wait for a stream to connect or answer."
    )
    live_reconnect_max_seconds: float = Field(
        default=30.0, gt=0, description="Longest wait between reconnection attempts."
    )
    live_reconnect_attempts: int = Field(
        default=10, ge=0, description="Reconnection attempts before a stream is failed."
    )
    live_max_pixels: int = Field(
        default=3840 * 2160,
        gt=0,
        description="Largest stream frame (width x height) accepted; larger fails the stream.",
    )
    live_lease_seconds: float = Field(
        default=10.0,
        gt=0,
        description="A worker renews its hold on its streams every second; when it stops "
        "(killed, crashed) another worker takes them over after this long.",
    )
    live_evidence_before: int = Field(
        default=3, ge=0, description="Samples before a match kept as evidence with it."
    )
    live_evidence_after: int = Field(
        default=3, ge=0, description="Samples after a match kept as evidence with it."
    )
    live_evidence_queue: int = Field(
        default=256,
        ge=1,
        description="Alerts whose frames may wait to be encrypted into the vault; frames of "
        "alerts beyond are not kept, and are counted (evidence_lost) and announced (event "
        "'evidence_lost'): processing never waits for evidence.",
    )
    live_evidence_retries: int = Field(
        default=5,
        ge=0,
        description="Further tries to preserve an alert's frames after a failure (database or "
        "vault), after 0.5 s, then twice as long each time; frames still not kept are counted "
        "and announced as evidence_lost.",
    )

    # -- actions and evidence ---------------------------------------------------------------
    webhook_url: str = Field(
        default="", description="Where signed webhooks (alert.created, stream.terminate, ...) go."
    )
    webhook_secret: SecretStr | None = Field(
        default=None, description="HMAC-SHA256 key for webhook signatures (or webhook_secret_file)."
    )
    webhook_secret_file: Path | None = Field(
        default=None, description="File holding the webhook signing key."
    )
    webhook_max_attempts: int = Field(
        default=8, ge=1, description="Delivery attempts before a webhook is dead-lettered."
    )
    webhook_backoff_seconds: float = Field(
        default=1.0, gt=0, description="First retry delay; doubles per attempt (capped at 5 min)."
    )
    webhook_timeout_seconds: float = Field(
        default=5.0, gt=0, description="Timeout of one webhook delivery attempt."
    )
    vault_key: SecretStr | None = Field(
        default=None,
        description="Evidence vault key: 32 bytes, base64. Without it (and without "
        "vault_key_file) a key file is created in $VANGNET_HOME/vault.key (mode 0600).",
    )
    vault_key_file: Path | None = Field(
        default=None, description="File holding the evidence vault key (32 bytes, base64)."
    )

    # -- review, reports and the web UI -----------------------------------------------------
    review_group_by: Literal["account", "stream", "evidence"] = Field(
        default="account",
        description="What one case holds: every match and alert of the same account / uploader "
        "(falling back to the stream, then the evidence item, when there is none), of the same "
        "stream, or of the same evidence item.",
    )
    review_two_person: bool = Field(
        default=False,
        description="Confirmation needs two different reviewers (the first confirm leaves the "
        "case pending a second).",
    )
    review_confirm_actions: list[str] = Field(
        default_factory=lambda: ["content.remove", "account.suspend"],
        description="Webhook events sent (signed, via the outbox) when a case is confirmed, "
        "besides case.confirmed.",
    )
    review_session_items: int = Field(
        default=60,
        ge=0,
        description="Items a reviewer may open in one web session before a break reminder; "
        "0 turns the reminder off.",
    )
    review_session_hours: float = Field(
        default=8.0, gt=0, description="Web sessions end after this many hours."
    )
    review_idle_minutes: float = Field(
        default=30.0, gt=0, description="Web sessions end after this many idle minutes."
    )
    review_login_attempts: int = Field(
        default=5,
        ge=1,
        description="Failed sign-ins of one user name from one client address before each "
        "further attempt from there waits (a doubling delay, see signin_*); other addresses, "
        "the real user's included, are not held back.",
    )
    cookie_secure: bool = Field(
        default=False,
        description="Mark the session cookie Secure (set it when served over HTTPS; required "
        "on non-loopback addresses).",
    )
    ncmec_url: str = Field(
        default="",
        description="Base URL of the NCMEC CyberTipline reporting API, e.g. "
        "https://exttest.cybertip.org/ispws (test) or https://report.cybertip.org/ispws; "
        "empty: reports are built but cannot be submitted.",
    )
    ncmec_username: str = Field(default="", description="CyberTipline API user name.")
    ncmec_password: SecretStr | None = Field(default=None, description="CyberTipline API password.")
    ncmec_reporter_first_name: str = Field(default="", description="Reporting person's first name.")
    ncmec_reporter_last_name: str = Field(default="", description="Reporting person's last name.")
    ncmec_reporter_email: str = Field(default="", description="Reporting person's email.")
    ncmec_reporter_phone: str = Field(default="", description="Reporting person's phone.")
    ncmec_company: str = Field(default="", description="Reporting company (ESP) name.")

    # -- egress: outbound destinations (streams, webhooks, NCMEC); see vangnet.egress ---------
    egress_allow: list[str] = Field(
        default_factory=list,
        description="Address ranges outbound connections may reach although they are denied "
        "by default (loopback, private, link-local, CGNAT, unspecified, reserved): CIDRs or "
        'addresses, and "loopback". JSON list, e.g. ["loopback", "10.20.0.0/16"].',
    )
    egress_allow_multicast: bool = Field(
        default=False,
        description="Let udp:// and rtp:// streams join multicast groups.",
    )
    egress_tls_verify: bool = Field(
        default=True,
        description="Verify TLS certificates of https/rtmps streams, webhooks and NCMEC. Off "
        "only for testing (a warning is logged).",
    )
    egress_ca_file: Path | None = Field(
        default=None,
        description="CA bundle (PEM) for TLS verification; default: the certifi bundle.",
    )

    @field_validator("classifier_thresholds")
    @classmethod
    def _check_classifier_thresholds(cls, value: dict[str, float]) -> dict[str, float]:
        for name, threshold in value.items():
            if not 0.0 <= threshold <= 1.0:
                raise ValueError(f"the threshold of {name!r} must be in 0-1, not {threshold}")
        return value

    @field_validator("live_review_now_n")
    @classmethod
    def _check_review_now_n(cls, value: int, info: ValidationInfo) -> int:
        k = info.data.get("live_review_now_k", 0)
        if k > value:
            raise ValueError(f"live_review_now_k ({k}) cannot be more than live_review_now_n")
        return value

    @field_validator("live_review_now_webhook_url")
    @classmethod
    def _check_review_now_webhook_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("live_review_now_webhook_url must be an http or https URL")
        return value

    @field_validator("egress_allow")
    @classmethod
    def _valid_egress_allow(cls, value: list[str]) -> list[str]:
        parse_allow(value)  # ValueError names the bad entry
        return value

    # -- audit: accountability (keyed audit log, checkpoints outside the database) ----------
    audit_key: SecretStr | None = Field(
        default=None,
        description="Key that MACs every audit entry and checkpoint (at least 32 characters). "
        "Without it (and without audit_key_file) a key file is created in "
        "$VANGNET_HOME/audit.key (mode 0600), beside the database, never in it.",
    )
    audit_key_file: Path | None = Field(
        default=None, description="File holding the audit key (at least 32 characters)."
    )
    audit_checkpoint_file: Path | None = Field(
        default=None,
        description="Append-only file of signed checkpoints (entry number, hash, MAC) outside "
        "the database; empty: $VANGNET_HOME/audit-checkpoints.jsonl. Ship it to write-once "
        "storage to keep it out of reach of whoever can write the database.",
    )
    audit_checkpoint_every: int = Field(
        default=1,
        ge=1,
        description="Write a checkpoint after every this many audit entries (and at every "
        "`audit verify` and export); entries after the last checkpoint can be cut unseen.",
    )

    # -- HTTP front: request guard (before any route) and the serving stack (`vangnet serve`) --
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Host names the server answers to (the Host header; DNS rebinding "
        "protection), besides the bound address and, bound to loopback, localhost, 127.0.0.1 "
        'and ::1. Entries may start with "*." for subdomains; "*" allows any. Empty and bound '
        'to 0.0.0.0 or ::: any name. Example: ["vangnet.example.org"]',
    )
    http_max_json_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=1024,
        description="Largest body of an API route that takes JSON (uploads use "
        "VANGNET_MAX_UPLOAD_BYTES), in bytes; larger bodies are refused with 413.",
    )
    http_max_form_bytes: int = Field(
        default=256 * 1024,
        ge=1024,
        description="Largest body of a web form of a signed-in person, in bytes (413).",
    )
    http_max_small_bytes: int = Field(
        default=16 * 1024,
        ge=1024,
        description="Largest body of the sign-in form and of routes that take no body (413).",
    )
    http_body_idle_seconds: float = Field(
        default=10.0,
        gt=0,
        le=600,
        description="Longest wait for the next piece of a request body before 408.",
    )
    http_small_body_seconds: float = Field(
        default=10.0,
        gt=0,
        le=600,
        description="Longest time to receive a whole sign-in or web form body before 408.",
    )
    http_unauth_concurrency: int = Field(
        default=16,
        ge=1,
        description="Requests without valid credentials whose body is being read (the sign-in "
        "form) at the same time, per client address (an IPv6 address counts for its /64); "
        "more get 429.",
    )
    http_unauth_per_minute: int = Field(
        default=120,
        ge=1,
        description="Sign-in attempts and requests refused for a missing or wrong key, per "
        "client address (an IPv6 address counts for its /64) and minute (that many at once, "
        "refilled over the minute; per server, "
        "shared by its worker processes); beyond it, such requests get 429 (keyed and "
        "signed-in traffic is not limited by it).",
    )
    serve_workers: int = Field(
        default=1,
        ge=1,
        le=64,
        description="Worker processes of `vangnet serve` (each runs the app, its index "
        "pollers and a live monitor; streams are leased, so each runs in one worker).",
    )
    http_header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        le=600,
        description="Longest time a client may take to send a request's headers; an idle "
        "connection (new or kept alive) is closed after it too.",
    )
    http_max_connections: int = Field(
        default=1024,
        ge=16,
        description="Requests each worker handles at once (more wait in the socket backlog).",
    )

    # -- signin: sign-in throttling and the second factor (issue 10, point 6) ------------------
    signin_address_failures: int = Field(
        default=20,
        ge=1,
        description="Failed sign-ins from one client address (any user names) before that "
        "address is slowed down with the same doubling delay.",
    )
    signin_base_delay_seconds: float = Field(
        default=2.0,
        gt=0,
        description="First wait after the free failures run out; it doubles with every further "
        "failure of the same user name from the same address (or of the same address).",
    )
    signin_max_delay_seconds: float = Field(
        default=900.0, gt=0, description="Cap of the doubling sign-in delay."
    )
    signin_window_minutes: float = Field(
        default=60.0,
        gt=0,
        description="Failed sign-ins older than this are forgotten (the delay starts again).",
    )
    signin_name_anomaly_failures: int = Field(
        default=50,
        ge=1,
        description="Failed sign-ins of one user name from all addresses together that mark it "
        "as under attack: each address then gets only one free failure for that name (never a "
        "lockout; an address that has not failed for the name is not slowed).",
    )
    web_totp_required_roles: Annotated[list[UserRoleName], NoDecode] = Field(
        default_factory=lambda: list[UserRoleName](["admin"]),
        description="User roles that must sign in with a second factor (TOTP); users of these "
        "roles without one are sent to enrolment right after their password. Comma-separated; "
        "empty: optional for everyone.",
    )

    @field_validator("web_totp_required_roles", mode="before")
    @classmethod
    def _split_roles(cls, value: Any) -> Any:
        """``VANGNET_WEB_TOTP_REQUIRED_ROLES=admin,reviewer`` (comma-separated) or a list."""
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        return value

    # -- hostile media (bounded memory) -----------------------------------------------------
    media_preview_max_bytes: int = Field(
        default=256 * 1024 * 1024,
        gt=0,
        description="Largest investigation item the web workbench reads for a preview or a "
        "reveal (only that member of its archive is read); larger items show no preview.",
    )

    # -- decide: decisions mean what they say (undo window, live case ranges) ----------------
    review_undo_seconds: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        description="A decision can be undone by the person who made it for this many seconds; "
        "its webhooks are held in the outbox until then (0: sent at once, no undo).",
    )
    review_live_range_gap_seconds: float = Field(
        default=10.0,
        gt=0,
        description="Matched frames of one banked item in a live case that are at most this "
        "many stream seconds apart form one time range (one row, one timeline entry).",
    )
    review_live_max_ranges: int = Field(
        default=8,
        ge=1,
        le=1000,
        description="Time ranges kept per banked item in a live case; later matches extend the "
        "last range (every matched frame stays in the alert and the vault).",
    )
    review_live_frames_per_range: int = Field(
        default=2,
        ge=1,
        le=100,
        description="Representative matched frames per time range shown in a live case and its "
        "reports (all matched frames stay in the alert and the vault).",
    )

    # -- live: no alert lost, falling behind said out loud (issue 10, slice "live") ----------
    live_alert_wait_seconds: float = Field(
        default=1.0,
        gt=0,
        description="How long a live alert write waits for a database lock; after that the "
        "alert (already in the on-disk journal) is retried with backoff until it is written.",
    )
    live_alert_retry_max_seconds: float = Field(
        default=5.0, gt=0, description="Longest wait between retries of an alert write."
    )
    live_behind_limit_seconds: float = Field(
        default=5.0,
        gt=0,
        description="A stream processed more than this many seconds behind live is flagged "
        "as falling behind (event 'falling_behind'; 'caught_up' once back under half).",
    )
    live_throttle_seconds: float = Field(
        default=0.0,
        ge=0,
        description="Extra seconds spent per decoded frame of pulled streams: simulates a "
        "slower machine for capacity drills and tests. Keep 0 in production.",
    )
    bank_import_chunk: int = Field(
        default=2500,
        ge=1,
        description="Records a bank import (or batch add) writes per short transaction, "
        "invisible until the import is published (made visible, all at once, in one tiny "
        "transaction) at the end. Each transaction holds the write lock for about this many "
        "rows' worth of inserts (2500: about 0.25 s on a loaded 2-core machine; larger "
        "chunks import faster and make other writers wait longer).",
    )

    # -- fuzz: per-API-key quotas (issue 10) --------------------------------------------------
    key_max_streams: int = Field(
        default=10,
        ge=0,
        description="Most streams one API key may have active at once (started, not ended); "
        "more are refused with 429 quota_exceeded, also when streams resume after a restart. "
        "0: no limit. Streams started from the CLI count against no key.",
    )
    key_rate_per_second: float = Field(
        default=100.0,
        ge=0,
        description="Requests per second one API key may make on average (a token bucket per "
        "key and server, shared by its worker processes); beyond it 429 rate_limited with "
        "Retry-After. 0: no limit.",
    )
    key_rate_burst: int = Field(
        default=1000,
        ge=1,
        description="Requests one API key may make at once before VANGNET_KEY_RATE_PER_SECOND "
        "applies (the size of its token bucket).",
    )
    rate_limit_redis_url: SecretStr | None = Field(
        default=None,
        description="Redis that keeps the token buckets of the per-key and per-address rate "
        "limits, so several `vangnet serve` hosts behind a load balancer share one limit "
        "(example: redis://:PASSWORD@10.0.0.5:6379/0; rediss:// for TLS). Empty: each server "
        "keeps its own (shared by its worker processes). While Redis cannot be reached, each "
        "server process falls back to its own buckets (counted in GET /v1/metrics, logged).",
    )
    rate_limit_redis_prefix: str = Field(
        default="vangnet:rate:",
        min_length=1,
        max_length=200,
        description="Prefix of the Redis keys of the rate limits (servers sharing limits use "
        "the same prefix; keys expire when their bucket would be full again).",
    )
    rate_limit_redis_timeout_seconds: float = Field(
        default=0.1,
        gt=0,
        le=10,
        description="Longest wait for Redis (connecting, or one bucket update) before the "
        "request is limited by this process's own buckets instead.",
    )
    rate_limit_redis_retry_seconds: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="After Redis failed, how long a server process uses its own buckets before "
        "trying Redis again (requests meanwhile do not wait for it).",
    )

    @field_validator("match_calibration")
    @classmethod
    def _calibration_readable(cls, value: Path | None) -> Path | None:
        if value is not None:
            from vangnet.calibration import CalibrationError, read

            try:
                read(value)
            except CalibrationError as error:
                raise ValueError(str(error)) from None
        return value

    @field_validator("rate_limit_redis_url")
    @classmethod
    def _valid_redis_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None  # empty: no Redis
        scheme = value.get_secret_value().strip().partition("://")[0].lower()
        if scheme not in {"redis", "rediss", "unix"}:
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        import redis  # its own parser, as the server will use it (no connection is made)

        try:
            redis.Redis.from_url(value.get_secret_value().strip())
        except ValueError:  # its message may quote a part of the URL: a mistyped password
            raise ValueError(
                "not a URL Redis can read (check its host, port, database number and options)"
            ) from None
        return SecretStr(value.get_secret_value().strip())

    # --- investigate ---
    # Tuning of `vangnet triage` (issue 11): read by the entry points and passed down to the
    # triage steps as `vangnet.triage.tuning.TriageTuning`. Defaults are today's values,
    # measured on the public samples named in each description.
    triage_trace_candidate_bits: int = Field(
        default=70,
        ge=0,
        le=256,
        description="Screenshot tracing: a case video whose nearest frame is within this many "
        "PDQ bits of a screenshot region is checked with local features (the right recording "
        "is 2-24 bits away on the public player screenshots, others 84+).",
    )
    triage_trace_max_candidates: int = Field(
        default=12,
        ge=1,
        description="Screenshot tracing: at most this many candidate videos per screenshot "
        "region are checked with local features, nearest first.",
    )
    triage_trace_frames_per_entry: int = Field(
        default=3,
        ge=1,
        description="Screenshot tracing: nearest frames of each candidate video checked with "
        "local features.",
    )
    triage_trace_min_inliers: int = Field(
        default=20,
        ge=1,
        description="Screenshot tracing: least RANSAC inliers to accept a local-feature match "
        "(the right recording: 55-770 inliers on the public screenshots, others 0-6).",
    )
    triage_trace_hash_bits: int = Field(
        default=31,
        ge=0,
        le=256,
        description="Screenshot tracing: a hash-only video (a banked one) is accepted when the "
        "best part of a screenshot region is within this many PDQ bits of one of its frames.",
    )
    triage_trace_case_videos: int = Field(
        default=50,
        ge=0,
        description="Screenshot tracing: at most this many of a case's own videos are decoded "
        "again for local-feature checks; the others are used by their hashes only.",
    )
    triage_trace_video_bytes: int = Field(
        default=512 * 1024 * 1024,
        ge=0,
        description="Screenshot tracing: case videos larger than this (bytes) are used by "
        "their hashes only, not decoded again.",
    )
    triage_trace_max_screenshots: int = Field(
        default=5000,
        ge=0,
        description="Screenshot tracing: most photos of a case traced per run (every photo "
        "with a proposed region, see match_regions, or with screenshot-like text).",
    )
    triage_trace_call_score: float = Field(
        default=0.3,
        ge=0,
        le=1,
        description="Screenshot tracing: a photo with at least this video-call score is traced "
        "even when no region of it was proposed (as are photos whose text names a player, an "
        "app, a timecode or a media file).",
    )
    triage_trace_results: int = Field(
        default=3,
        ge=1,
        description="Screenshot tracing: traces kept per screenshot (surest first).",
    )
    triage_call_weight_chrome: float = Field(
        default=0.25,
        ge=0,
        le=1,
        description="Video-call score: added for app chrome (a toolbar with icons or text) "
        "around a natural-image region.",
    )
    triage_call_weight_inset: float = Field(
        default=0.3,
        ge=0,
        le=1,
        description="Video-call score: added for a picture-in-picture inset in a corner.",
    )
    triage_call_weight_control_word: float = Field(
        default=0.15,
        ge=0,
        le=1,
        description="Video-call score: added per kind of call control named in the text "
        "(mute, camera, hang up, ...), for at most VANGNET_TRIAGE_CALL_MAX_CONTROL_WORDS kinds.",
    )
    triage_call_max_control_words: int = Field(
        default=3,
        ge=0,
        description="Video-call score: most kinds of call controls that add to the score.",
    )
    triage_call_weight_app: float = Field(
        default=0.25,
        ge=0,
        le=1,
        description="Video-call score: added when the text names a video-call, streaming or "
        "messaging app.",
    )
    triage_call_player_cap: float = Field(
        default=0.35,
        ge=0,
        le=1,
        description="Video-call score: the highest score of a picture that shows a media "
        "player (a recording being played, not a call).",
    )
    triage_call_likely: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="Video-call score from which the investigation workbench calls a picture "
        "a likely video-call screenshot (its flag, count and filter).",
    )
    triage_video_text_every_seconds: float = Field(
        default=10.0,
        gt=0,
        description="Text in videos: one frame is read every this many seconds ...",
    )
    triage_video_text_frames: int = Field(
        default=6,
        ge=1,
        description="... at most this many frames per video.",
    )
    triage_text_lines: int = Field(
        default=200,
        ge=0,
        description="Text in pictures: most OCR lines (with their boxes) kept per item.",
    )
    triage_ocr_max_side: int = Field(
        default=1280,
        ge=32,
        description="OCR: longer side (pixels) a picture is shrunk to before text detection.",
    )
    triage_ocr_min_side: int = Field(
        default=800,
        ge=0,
        description="OCR: longer side a small picture is enlarged to (at most 4 times).",
    )
    triage_ocr_min_confidence: float = Field(
        default=0.6,
        ge=0,
        le=1,
        description="OCR: lines the recogniser is less sure of than this (0-1) are dropped.",
    )
    triage_series_bits: int = Field(
        default=31,
        ge=0,
        le=256,
        description="Series: two photos of a case are linked when their PDQ hashes (under "
        "any of the 8 rotations and flips) are within this many bits.",
    )
    triage_series_min_quality: int = Field(
        default=50,
        ge=0,
        le=100,
        description="Series: photos whose PDQ quality is below this are left out (too "
        "featureless to compare).",
    )
    triage_thumbnail_min_quality: int = Field(
        default=50,
        ge=0,
        le=101,
        description="Metadata: an EXIF thumbnail whose PDQ quality is below this is too "
        "featureless to compare with its picture (Meta's advice: ignore PDQ under 50).",
    )
    triage_gps_offset_minutes: float = Field(
        default=5.0,
        ge=0,
        le=7.5,
        description="Metadata: a UTC offset is inferred from the GPS clock only when local "
        "time minus GPS time is within this many minutes of a whole quarter hour.",
    )
    triage_batch: int = Field(
        default=64,
        ge=1,
        description="Triage: items written per transaction (a crash loses at most one batch, "
        "which the next run redoes).",
    )
    triage_perceptual_max_bytes: int = Field(
        default=512 * 1024 * 1024,
        ge=0,
        description="Triage: files larger than this (bytes) get exact digests only, no "
        "perceptual hashes, metadata or text.",
    )
    triage_stream_hash_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=0,
        description="Triage: plain files larger than this (bytes) are hashed in chunks "
        "(exact digests only) instead of being read into memory.",
    )

    # --- settings ---
    # Operator-tunable constants that were fixed in code (issue 11, point 4); every default is
    # the value the code used before.
    webhook_backoff_max_seconds: float = Field(
        default=300.0,
        gt=0,
        description="Longest wait between two delivery attempts of a webhook (the doubling "
        "backoff from webhook_backoff_seconds stops growing here).",
    )
    live_high_confidence_min_frames: int = Field(
        default=1,
        ge=1,
        description="Decision rule of high-confidence banks whose policy sets none: this many "
        "matching samples ...",
    )
    live_high_confidence_window: int = Field(
        default=1,
        ge=1,
        description="... within this many most recent samples of the stream.",
    )
    review_priority_severity: dict[str, int] = Field(
        default_factory=lambda: {
            "vics:1": 40,
            "uk:A": 40,
            "uk:B": 32,
            "uk:C": 24,
            "vics:2": 20,
            "vics:3": 15,
            "vics:4": 5,
            "vics:0": 0,
        },
        description="Queue-priority points of the most severe matched category "
        '("profile:code"), as a JSON object, e.g. {"vics:1": 40, "uk:A": 40}.',
    )
    review_priority_uncategorised: int = Field(
        default=10,
        ge=0,
        description="Priority points of a match whose category is unknown or not in "
        "review_priority_severity.",
    )
    review_priority_live: int = Field(
        default=30, ge=0, description="Priority points while the case's stream is still running."
    )
    review_priority_confidence: int = Field(
        default=15,
        ge=0,
        description="Priority points of a match from a high-confidence bank or an exact hash.",
    )
    review_priority_distance: int = Field(
        default=12,
        ge=0,
        description="Most priority points of a perceptual (PDQ, vPDQ) match: a distance of 0 "
        "gets all of them, one at the bank's threshold almost none.",
    )
    review_priority_per_match: int = Field(
        default=4, ge=0, description="Priority points per further match in the case ..."
    )
    review_priority_matches_max: int = Field(default=20, ge=0, description="... up to this many.")
    review_priority_viewers: float = Field(
        default=5.0,
        ge=0,
        description="Priority points per tenfold viewers of the stream (this x log10(1 + "
        "viewers)) ...",
    )
    review_priority_viewers_max: int = Field(default=15, ge=0, description="... up to this many.")
    review_priority_classifier: int = Field(
        default=20,
        ge=0,
        description="Priority points of a classifier score of 1.0 (scaled down with the "
        "highest score); a score never reports or confirms anything on its own.",
    )
    review_priority_escalated: int = Field(
        default=10, ge=0, description="Priority points of an escalated case."
    )
    review_priority_review_now: int = Field(
        default=60,
        ge=0,
        description="Priority points of a case with a live review-now alert (classifier "
        "scores of a running stream: a person should look now; never a verdict).",
    )
    review_priority_video_call: int = Field(
        default=10,
        ge=0,
        description="Priority points of a review-now alert whose samples read as a video call "
        "(live_review_now_video_call_threshold).",
    )

    # -- context: payments
    context_payment_rules: Path | None = Field(
        default=None,
        description="The payment and session indicator rules (TOML or JSON): weights, "
        "thresholds, windows, corridors, keyword lists, merchant categories, reference "
        "exchange rates and amount bands. Unset: the bundled defaults "
        "(vangnet/context/payments/default_rules.toml, documented in "
        "docs/context-indicators.md). A bad file is refused naming the key (exit 6).",
    )

    # -- context: chats and deterrence (issue 14, points 3 and 6) ------------------------------
    context_chat_lexicons: list[Path] = Field(
        default_factory=list,
        description="Chat lexicon files (TOML, docs/context-chats.md) that extend the built-in "
        "English, Dutch, Tagalog and Cebuano lexicons (mode = 'extend'), replace one "
        "(mode = 'replace') or add a language; JSON list of paths.",
    )
    context_chat_rules: Path | None = Field(
        default=None,
        description="Chat scoring rules (TOML: category weights, the child-age condition, "
        "indicator families, stages, night hours); default: the bundled rules.toml.",
    )
    context_chat_model: Path | None = Field(
        default=None,
        description="A chat model trained with `vangnet context chats train` (JSON): the chats "
        "evaluator adds its chat_model reason beside the lexicon's; none: lexicon only.",
    )
    deterrence_term_files: list[Path] = Field(
        default_factory=list,
        description="Term lists for the search-deterrence check (plain text, one term a line, "
        "[list] headers; docs/deterrence.md), as a JSON list of paths. Empty: the check "
        "answers enabled=false and counts nothing.",
    )
    deterrence_help_file: Path | None = Field(
        default=None,
        description="Help routes and warning texts per language for the deterrence answer "
        "(TOML, docs/deterrence.md); default: the bundled file.",
    )
    deterrence_max_query_chars: int = Field(
        default=512,
        ge=16,
        le=10_000,
        description="Longest search query the deterrence check accepts (characters); longer "
        "ones are refused (400), not cut.",
    )

    # -- context: graph ------------------------------------------------------------------------
    context_graph_rules: Path | None = Field(
        default=None,
        description="A TOML file of the graph reasons' weights and thresholds (hubs, links to "
        "alerts and media matches, the propagation pass) replacing the shipped "
        "vangnet/context/graph_rules.toml; every key of that file must be present.",
    )
    context_assess_bucket_days: int = Field(
        default=7,
        ge=1,
        le=366,
        description="Risk over time: the length in days of the buckets an assessment scores "
        "each account in (7: weeks starting Monday 00:00 UTC).",
    )
    context_graph_ego_nodes: int = Field(
        default=60,
        ge=2,
        le=2000,
        description="The most nodes an account's network picture (ego graph) holds: grown "
        "from the account along its strongest edges first.",
    )

    # -- context: cases, the case page's picture and the STR (goAML) export ------------------
    context_case_threshold: float = Field(
        default=0.8,
        ge=0.0,
        le=1.0,
        description="Context risk score (0-1, noisy-OR of the strongest reason per indicator) "
        "at or above which `vangnet context scan` files an account as a case for review: 0.8 "
        "takes at least two independent strong indicators (e.g. 0.6 and 0.5), never one weak "
        "one. A case asks a person to look; it is never a verdict.",
    )
    review_priority_context: int = Field(
        default=45,
        ge=0,
        description="Priority points of a context risk of 1.0 (payments, chats, call sessions "
        "of the case's account; scaled down with its score).",
    )
    context_picture_max_nodes: int = Field(
        default=60,
        ge=2,
        le=500,
        description="Most nodes drawn in a context case's network picture (the case's "
        "account and its strongest links first; the rest are counted, not drawn).",
    )
    report_str_rentity_id: str = Field(
        default="",
        max_length=64,
        description="The reporting entity's id at the FIU (goAML rentity_id), given by the "
        "FIU on registration; an STR export is refused until it is set.",
    )
    report_str_rentity_branch: str = Field(
        default="", max_length=255, description="goAML rentity_branch (optional)."
    )
    report_str_reporting_person: dict[str, str] = Field(
        default_factory=dict,
        description="The reporting person of STR exports as a JSON object: first_name, "
        "last_name (required by goAML), and optionally title, email, phone, occupation.",
    )
    report_str_currency_local: str = Field(
        default="EUR",
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 code of the FIU's local currency (goAML currency_code_local): "
        "payments in it are amount_local; others also carry their foreign amount.",
    )
    report_str_action: str = Field(
        default="Account under review; no funds blocked by this report.",
        max_length=4000,
        description="The action the reporting entity took (goAML action), as written in "
        "every STR export unless the caller gives another.",
    )
    report_str_indicator_codes: dict[str, str] = Field(
        default_factory=dict,
        description="The FIU's report indicator codes by Vangnet indicator name, as a JSON "
        'object (e.g. {"payment_corridor": "CSE01"}): every FIU publishes its own list; '
        "indicators without a code are named in the reason text only.",
    )
    report_str_default_indicator: str = Field(
        default="",
        max_length=64,
        description="The FIU indicator code written when none of a case's indicators has a "
        "code (empty: none, and the export is refused if the FIU requires one).",
    )
    report_str_funds_codes: dict[str, str] = Field(
        default_factory=lambda: {
            "remittance": "K",
            "p2p": "K",
            "wire": "K",
            "card": "K",
            "crypto": "K",
            "other": "K",
        },
        description="goAML funds type codes (from_funds_code / to_funds_code) by payment "
        "channel, from the FIU's own lookup table: the default K is a placeholder to replace "
        "with the FIU's code.",
    )
    report_str_transmode_codes: dict[str, str] = Field(
        default_factory=dict,
        description="goAML transmode_code by payment channel (the FIU's lookup table); a "
        "channel without one is written as the channel's name.",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=config_file_path())
        return (init_settings, env_settings, toml, file_secret_settings)

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'vangnet.db'}"

    @property
    def snapshot_dir(self) -> Path:
        return self.home / "index"

    @property
    def vault_dir(self) -> Path:
        return self.home / "vault"


def describe() -> list[dict[str, Any]]:
    """The registry itself: one entry per setting (for `config show` and the docs)."""
    current = get_settings()
    rows = []
    for name, field in Settings.model_fields.items():
        default = field.default_factory() if field.default_factory else field.default  # type: ignore[call-arg]
        value = getattr(current, name)
        if isinstance(value, SecretStr):  # shown as set, never its value (JSON-safe)
            value = "**********"
        rows.append(
            {
                "name": name,
                "env": f"VANGNET_{name.upper()}",
                "value": value,
                "default": default,
                "help": field.description or "",
            }
        )
    return rows


@cache
def get_settings() -> Settings:
    """The settings in force; a bad value (env or file) is a clear `ValidationError`."""
    import pydantic

    from vangnet.errors import ValidationError

    try:
        return Settings()
    except pydantic.ValidationError as error:
        problems = "; ".join(
            f"VANGNET_{'.'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in error.errors()
        )
        raise ValidationError(f"invalid configuration: {problems}") from None
    except (OSError, ValueError) as error:  # unreadable or malformed config file
        raise ValidationError(f"invalid configuration file {config_file_path()}: {error}") from None


def reset_settings() -> None:
    """Forget cached settings (tests change the environment)."""
    get_settings.cache_clear()
