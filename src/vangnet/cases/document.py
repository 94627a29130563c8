"""The case document's types: the plain JSON-able dict of ``docs/case-document.md``, typed.

`vangnet.review.cases.case_document` makes it; ``vangnet case show --json``,
``GET /v1/cases/{id}``, the review pages and every report format (`vangnet.reports`, the
report-format plug-ins) read it. It stays a plain dict at runtime (a public, JSON-able contract
for plug-ins); these `TypedDict`s let strict mypy check its producers and consumers. A key
declared here is always present (its value may be null where the type says ``| None``) unless
it is `NotRequired`; ``tests/api/test_case_document.py`` checks real documents and the
page ``docs/case-document.md`` against these declarations, key for key. The API's response
models, hence the OpenAPI schema of the document and of the queue (`CaseSummary`), are made
from them (`vangnet.api.schemas`).

Times are ISO-8601 strings with offset (UTC).

No ``from __future__ import annotations`` here: the `NotRequired` markers must be evaluated
when the classes are made, so that ``__required_keys__`` / ``__optional_keys__`` (what the
checks read) are right.
"""

from collections.abc import Mapping
from typing import Any, NotRequired, TypedDict

#: A JSON object whose keys the case document does not fix (details, metadata, options).
JsonObject = Mapping[str, Any]


class PriorityDoc(TypedDict):
    """The queue priority: score and the reasons behind it, in words."""

    score: int
    reasons: list[str]


class ClassifierDoc(TypedDict):
    """A case's priority signal: its classifier scores (``subject.scores``) fused
    (`vangnet.signals.classifiers.fusion`): ``value`` and ``likely`` as kept on the case
    when the last score arrived, ``summary`` in words."""

    value: float
    likely: bool
    summary: str


class SubjectDoc(TypedDict, total=False):
    """What the platform told us about who and what (any key may be missing), and for a
    live case its stream."""

    platform: str
    account: str
    uploader: str
    user: str
    content_id: str
    ip: str
    ip_at: str  # when the platform gave that IP address (NCMEC needs it)
    email: str
    viewers: int
    country: str
    scores: dict[str, float]  # highest score per classifier
    stream_id: int
    stream_external_id: str | None
    stream_url_display: str | None
    stream_state: str
    live: bool  # the stream is still running


class ItemDoc(TypedDict):
    """A media item preserved (encrypted) for the case."""

    id: int
    kind: str  # "frame" | "upload" | "triage"
    media_type: str
    filename: str | None
    size: int
    sha256: str
    md5: str | None
    sha1: str | None
    pdq: str | None
    signals: dict[str, str]  # every hash of the item by signal type
    captured_at: str | None
    stream_time: float | None
    matched: bool
    alert_id: int | None
    ip: str | None  # an upload's uploader address
    viewed_by: list[str]  # who saw it in the clear


class BankedDoc(TypedDict, total=False):
    """The banked item a match found: the snapshot taken when it matched (``bank``,
    ``content_id``, ``banked_at`` and ``in_bank`` only then), with whether it is still in its
    bank and enabled now; ``{}`` when it was gone before snapshots were kept."""

    bank: str | None
    content_id: int
    category: str | None
    note: str | None
    series: str | None
    source: str | None
    external_id: str | None
    banked_at: str | None
    enabled: bool | None
    in_bank: bool


class FoundDoc(TypedDict, total=False):
    """How a match was found (`vangnet.cases.found`): ``{}`` for the whole picture as given;
    ``region`` ``[x, y, w, h]`` in the matched item's own pixels when a region of it matched,
    ``transform`` when a region or a rotation / flip of the picture matched, ``inliers`` when
    local features confirmed it, ``frame_time`` (seconds) when a banked photo was found in
    a frame of a video."""

    region: list[int]
    transform: str
    inliers: int
    frame_time: float


class MatchDoc(TypedDict):
    """A match of the case against a bank (a live one spans ``stream_time`` to
    ``stream_time_end`` over ``frames`` frames); ``found`` says how it was found."""

    id: int
    item_id: int | None
    alert_id: int | None
    bank: str
    content_id: int
    signal_type: str
    distance: int
    category: str | None
    stream_time: float | None
    stream_time_end: float | None
    frames: int | None
    at: str | None
    banked: BankedDoc
    found: FoundDoc


class EventDoc(TypedDict):
    """A line of the case timeline."""

    at: str | None
    kind: str  # "match" | "alert" | "decision" | "action" | "report" | "note" | ...
    actor: str
    summary: str
    details: JsonObject


class DecisionDoc(TypedDict):
    id: int
    at: str | None
    actor: str
    decision: str  # "confirm" | "false_positive" | "escalate" | "second_opinion" | ...
    category: str | None
    note: str | None
    details: JsonObject


class CustodyDoc(TypedDict):
    """A chain-of-custody event of an item."""

    item_id: int
    at: str | None
    actor: str
    action: str  # "captured" | "accessed" | "exported" | ...
    detail: str | None


class ReportDoc(TypedDict):
    id: int
    kind: str  # "ncmec" | "vics" | "html" | "pdf" | ...
    status: str  # "built" | "submitted" | "failed" | "retracted" | ...
    remote_id: str | None
    at: str | None
    actor: str
    details: JsonObject


class TriageRunDoc(TypedDict):
    """A triage run of an investigation case."""

    id: int
    sources: list[str]
    options: JsonObject
    actor: str
    started_at: str
    finished_at: str | None
    counts: JsonObject  # the run's summary, without its failures


class TriageHashesDoc(TypedDict):
    md5: str | None
    sha1: str | None
    sha256: str | None
    pdq: str | None
    pdq_quality: int | None
    vpdq_frames: int
    #: frames hashed per per-frame video signal type: ``vpdq`` (Meta's vPDQ), and for a
    #: video with bars ``vpdq_cropped``, with regions ``vpdq_regions``; empty for a photo
    video_frames: dict[str, int]


class TriageItemDoc(TypedDict):
    """A file an investigation's triage recorded (`vangnet.triage.result`)."""

    id: int
    chain: list[str]
    source_path: str
    name: str
    size: int
    times: JsonObject
    deleted: bool
    kind: str  # "photo" | "video" | "archive" | "image" | "other"
    content_type: str | None
    status: str  # "ok" | "failed"
    reason: str | None
    hashes: TriageHashesDoc
    #: every single-value hash by signal type: the columns (md5, sha1, sha256, pdq) and the
    #: typed rows of any other registered single-value type (plug-ins included); per-frame
    #: signals are counted in ``hashes.video_frames``
    signals: dict[str, str]
    metadata: JsonObject
    text: str | None
    language: str | None
    findings: JsonObject
    matches: list[JsonObject]
    category: str | None
    series: str | None
    series_id: int | None


class ContextReasonDoc(TypedDict):
    """A reason of the account's context risk (`vangnet.context.findings.Reason`)."""

    indicator: str
    summary: str
    weight: float
    role: str  # "viewer" | "facilitator" | "unknown"
    at: str | None


class ContextRowDoc(TypedDict):
    """A context record behind the case's reasons: ``found`` False when it is no longer
    stored (then ``record`` is ``{}``); ``record``: its fields as imported."""

    kind: str  # "payments" | "messages" | "sessions" | "accounts"
    ref: str
    indicators: list[str]
    at: str | None
    found: bool
    record: JsonObject


class ContextDoc(TypedDict):
    """A case's context risk (payments, chats, call sessions of its account): the latest
    assessment's score, role and reasons, and every record behind a reason, in time order."""

    account: str
    platform: str | None
    score: float
    role: str
    indicators: list[str]
    assessment: str | None
    scored_at: str | None
    reasons: list[ContextReasonDoc]
    rows: list[ContextRowDoc]


class CaseDocument(TypedDict):
    """The whole case, as plain JSON."""

    triage_runs: NotRequired[list[TriageRunDoc]]  # investigation cases only
    triage_items: NotRequired[list[TriageItemDoc]]  # investigation cases only
    #: cases with context signals only (source ``context``): the account's risk and records
    context: NotRequired[ContextDoc]
    id: int
    key: str
    kind: str  # "live" | "upload" | "investigation" | "context"
    title: str
    status: str
    category: str | None  # set when confirmed
    verdict: str | None
    priority: PriorityDoc
    live: bool
    pending_by: str | None
    pending_category: str | None
    subject: SubjectDoc
    created_at: str | None
    updated_at: str | None
    decided_at: str | None
    items: list[ItemDoc]
    matches: list[MatchDoc]
    timeline: list[EventDoc]
    decisions: list[DecisionDoc]
    custody: list[CustodyDoc]
    reports: list[ReportDoc]
    #: Never set by Vangnet: a caller may add the police case number before rendering a
    #: VICS export (its ``CaseNumber``).
    case_number: NotRequired[str]


class CaseSummary(TypedDict):
    """A case in the review queue (``GET /v1/cases``, ``vangnet case list --json``): what
    orders it, without its items, timeline or custody (``docs/case-document.md``, "Queue
    entries")."""

    id: int
    key: str
    kind: str
    title: str
    status: str
    category: str | None
    verdict: str | None
    matched_categories: list[str]  # the banks' categories of its matches
    matches: int  # how many matches
    items: int  # how many media items
    live: bool
    priority: PriorityDoc
    pending_by: str | None
    created_at: str | None
    last_signal_at: str | None
    decided_at: str | None
    classifier: ClassifierDoc | None  # None while no classifier scored it


#: The objects of the document copied from JSON stored with the case (the platform's facts
#: about the subject, the banked item's snapshot taken when it matched, how a match was
#: found: a later matcher may say more) rather than made
#: when the document is: a row written by an older version may hold a key no longer
#: declared. The API passes such a key on (its schema allows other keys in these objects
#: only); the checks of ``tests/api/test_case_document.py`` still refuse one in new data.
STORED: tuple[type, ...] = (SubjectDoc, BankedDoc, FoundDoc)

#: Every TypedDict of the document by the path of the objects it types (for the checks).
SHAPES: dict[str, type] = {
    "": CaseDocument,
    "priority": PriorityDoc,
    "subject": SubjectDoc,
    "items[]": ItemDoc,
    "matches[]": MatchDoc,
    "matches[].banked": BankedDoc,
    "matches[].found": FoundDoc,
    "timeline[]": EventDoc,
    "decisions[]": DecisionDoc,
    "custody[]": CustodyDoc,
    "reports[]": ReportDoc,
    "triage_runs[]": TriageRunDoc,
    "triage_items[]": TriageItemDoc,
    "triage_items[].hashes": TriageHashesDoc,
    "context": ContextDoc,
    "context.reasons[]": ContextReasonDoc,
    "context.rows[]": ContextRowDoc,
}
