"""What triage learns of one file: `TriageResult`, the typed result passed from the analysis
(in a worker process: it pickles) to the matching and the database row.

The analysis steps (`vangnet.triage.steps`) are given a `StepInput` and return a
`StepResult`; their findings are a `Findings`. `TriageResult.row` is the one place a result
becomes a `TriageItem` row, so the stored JSON (``findings``, ``item_metadata``,
``matches``) is made here and nowhere else.

``findings`` as stored, key by key and in this order (each only when found):
``pdq_dihedral`` (a photo's 8 PDQ rotation / flip variants), ``regions`` (a photo's
proposed regions, ``{x, y, w, h, kind}``, that may hold another picture, as matched with
the ``match_regions`` settings; an empty list when none was found, absent when they were
not looked for), ``video_text`` (text in a
video's frames), ``video_call`` (``{score, reasons}``), ``text_lines`` (a picture's OCR
lines), ``text_hints`` (leads in the text), ``language``, then any other step's own keys.
Screenshot tracing adds ``screenshot_of`` to the stored row later (`triage.tracing`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from vangnet.match.results import Match
    from vangnet.signals.hashes import Hashes
    from vangnet.signals.vpdq import VpdqFrame
    from vangnet.sources.entries import Entry
    from vangnet.store.models import TriageItem, TriageSignal

#: A JSON object as recorded (read-only by convention).
Json = Mapping[str, Any]

#: What a file is to triage.
Kind = Literal["photo", "video", "archive", "image", "other"]


@dataclass(frozen=True, slots=True)
class Digests:
    """The exact digests of a file's bytes."""

    md5: str
    sha1: str
    sha256: str

    @classmethod
    def of(cls, data: bytes) -> Digests:
        return cls(
            hashlib.md5(data).hexdigest(),
            hashlib.sha1(data).hexdigest(),
            hashlib.sha256(data).hexdigest(),
        )

    @classmethod
    def from_hashes(cls, hashes: Hashes) -> Digests:
        return cls(hashes.values["md5"], hashes.values["sha1"], hashes.values["sha256"])

    def to_json(self) -> dict[str, str]:
        return {"md5": self.md5, "sha1": self.sha1, "sha256": self.sha256}


@dataclass(frozen=True, slots=True)
class VideoCall:
    """How much a picture looks like a screenshot of a video call (0-1) and why."""

    score: float
    reasons: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"score": self.score, "reasons": list(self.reasons)}


@dataclass(frozen=True, slots=True)
class Findings:
    """What the analysis of one file found beyond its hashes and metadata (see the module
    docstring for the stored keys). ``video_text``, ``text_lines`` and ``language`` are the
    JSON of `triage.text`'s `FramesText`, `OcrLine` and `Language`, ``text_hints`` the
    non-empty lists of its `TextHints`; ``other`` holds the
    findings of an installed step under keys of its own."""

    pdq_dihedral: tuple[str, ...] = ()
    regions: tuple[Json, ...] | None = None
    video_text: Json | None = None
    video_call: VideoCall | None = None
    text_lines: tuple[Json, ...] = ()
    text_hints: Json = field(default_factory=dict)
    language: Json | None = None
    other: Json = field(default_factory=dict)

    def merged(self, later: Findings) -> Findings:
        """These findings with what a later step found (its values win)."""
        return Findings(
            pdq_dihedral=later.pdq_dihedral or self.pdq_dihedral,
            regions=later.regions if later.regions is not None else self.regions,
            video_text=later.video_text if later.video_text is not None else self.video_text,
            video_call=later.video_call if later.video_call is not None else self.video_call,
            text_lines=later.text_lines or self.text_lines,
            text_hints=later.text_hints or self.text_hints,
            language=later.language if later.language is not None else self.language,
            other={**self.other, **later.other},
        )

    def to_json(self) -> dict[str, Any]:
        """The stored ``findings`` object: the one place its shape is made."""
        out: dict[str, Any] = {}
        if self.pdq_dihedral:
            out["pdq_dihedral"] = list(self.pdq_dihedral)
        if self.regions is not None:
            out["regions"] = [dict(r) for r in self.regions]
        if self.video_text is not None:
            out["video_text"] = dict(self.video_text)
        if self.video_call is not None:
            out["video_call"] = self.video_call.to_json()
        if self.text_lines:
            out["text_lines"] = [dict(line) for line in self.text_lines]
        if self.text_hints:
            out["text_hints"] = dict(self.text_hints)
        if self.language is not None:
            out["language"] = dict(self.language)
        for key, value in self.other.items():
            out.setdefault(key, value)
        return out


@dataclass(frozen=True, slots=True)
class StepInput:
    """What an analysis step is told of a file besides its bytes: its kind and hashes."""

    kind: Kind
    hashes: Hashes


@dataclass(frozen=True, slots=True)
class StepResult:
    """What one analysis step found: the file's ``metadata`` (JSON of
    `triage.metadata`), the ``text`` read in it and its ``language`` code, and findings.
    A value left None leaves what an earlier step found."""

    metadata: Json | None = None
    text: str | None = None
    language: str | None = None
    findings: Findings = field(default_factory=Findings)


@dataclass(frozen=True, slots=True)
class TriageResult:
    """Everything triage records of one file, before it becomes a `TriageItem` row.

    ``status`` is ``"failed"`` (with ``reason``) for a file that could not be read or
    decoded although it looked like media; ``note`` says why a file was only digested
    (not stored). ``problems`` are the steps that failed on it (recorded in its metadata).
    ``matches``, ``category`` (of the closest match) and ``series`` (of the matched bank
    items) are added after matching (`with_matches`).
    """

    kind: Kind = "other"
    content_type: str | None = None
    status: Literal["ok", "failed"] = "ok"
    reason: str | None = None
    note: str | None = None
    digests: Digests | None = None
    hashes: Hashes | None = None
    metadata: Json | None = None
    text: str | None = None
    language: str | None = None
    findings: Findings = field(default_factory=Findings)
    problems: tuple[str, ...] = ()
    matches: tuple[Match, ...] = ()
    category: str | None = None
    series: str | None = None
    unverified: int = 0  # wider-net candidates the matcher left unverified

    @classmethod
    def failure(cls, reason: str) -> TriageResult:
        return cls(status="failed", reason=reason)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def with_step(self, found: StepResult) -> TriageResult:
        """This result with what an analysis step found."""
        return replace(
            self,
            metadata=found.metadata if found.metadata is not None else self.metadata,
            text=found.text if found.text is not None else self.text,
            language=found.language if found.language is not None else self.language,
            findings=self.findings.merged(found.findings),
        )

    def with_problem(self, problem: str) -> TriageResult:
        return replace(self, problems=(*self.problems, problem))

    def with_matches(self, matches: Sequence[Match], series: str | None) -> TriageResult:
        """This result with the bank items it matched (none: unchanged)."""
        if not matches:
            return self
        best = min(matches, key=lambda m: m.distance)
        return replace(self, matches=tuple(matches), category=best.category, series=series)

    def with_unverified(self, count: int) -> TriageResult:
        """This result with ``count`` wider-net candidates left unverified (the matcher's
        ``match_verify_max`` spent): kept in its metadata (``unverified``) and said among its
        problems, as the item might match a bank."""
        return replace(self, unverified=count).with_problem(
            f"match: {count} banked items within the wider net left unverified "
            "(match_verify_max spent)"
        )

    def classifier_signal(self) -> tuple[float, bool] | None:
        """The ``classify`` step's priority signal (value, likely), None when it did not
        score the file."""
        found = self.findings.other.get("classifiers")
        if not isinstance(found, Mapping) or not found.get("scores"):
            return None
        priority = found.get("priority")
        if not isinstance(priority, Mapping):
            return None
        return float(priority.get("value") or 0.0), bool(priority.get("likely"))

    def row(self, case_id: int, run_id: int, entry: Entry) -> TriageItem:
        """The database row of this result for the file ``entry``: the one place the
        stored shape is made."""
        from vangnet.store.models import TriageItem

        hashed = self.hashes
        metadata: dict[str, Any] = dict(self.metadata or {})
        if self.problems:
            metadata["problems"] = list(self.problems)
        if self.unverified:
            metadata["unverified"] = self.unverified
        signal = self.classifier_signal()
        vpdq = hashed.video_frames.get("vpdq") if hashed is not None else None
        return TriageItem(
            case_id=case_id,
            run_id=run_id,
            key=entry.key,
            source=entry.chain[0],
            chain=list(entry.chain),
            locations=entry.location_list(),
            name=entry.name[:1000],
            size=entry.size,
            times={k: v for k, v in entry.times.items() if v},
            deleted=entry.deleted,
            kind=self.kind,
            content_type=self.content_type,
            status=self.status,
            reason=self.reason,
            md5=self.digests.md5 if self.digests is not None else None,
            sha1=self.digests.sha1 if self.digests is not None else None,
            sha256=self.digests.sha256 if self.digests is not None else None,
            pdq=hashed.value("pdq") if hashed is not None else None,
            pdq_quality=hashed.quality("pdq") if hashed is not None else None,
            vpdq=_serialize_vpdq(vpdq) if vpdq else None,
            item_metadata=metadata,
            text=self.text,
            language=self.language,
            findings=self.findings.to_json(),
            matches=[m.to_dict() for m in self.matches],
            category=self.category,
            series=self.series,
            priority_signal=signal[0] if signal is not None else None,
            signal_likely=signal[1] if signal is not None else False,
        )

    def extra_signals(self) -> dict[str, str]:
        """The values to keep as `TriageSignal` rows: every registered signal type that
        hashed the file and has no column of its own (`ITEM_COLUMNS`): a plug-in's picture
        hash and, for a video, the per-frame signals other than ``vpdq`` (``vpdq_cropped``,
        ``vpdq_regions``), serialised as banks and evidence items store them."""
        if self.hashes is None:
            return {}
        values = self.hashes.signal_values()
        return {n: v for n, v in values.items() if n not in ITEM_COLUMNS}


#: signal types a triage item keeps in columns of its own; every other one is a `TriageSignal`
#: row
ITEM_COLUMNS = ("md5", "sha1", "sha256", "pdq", "vpdq")


def signal_rows(item_id: int, values: Mapping[str, str]) -> list[TriageSignal]:
    """`TriageSignal` rows of item ``item_id`` for ``values`` (as `extra_signals` gives)."""
    from vangnet.store.models import TriageSignal

    return [TriageSignal(item_id=item_id, signal_type=n, value=v) for n, v in values.items()]


def _serialize_vpdq(frames: Sequence[VpdqFrame]) -> str:
    from vangnet.signals import vpdq

    return vpdq.serialize(list(frames))
