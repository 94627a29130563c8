"""The native API: hash-and-match in one call, hash-only and batch lookups, classifier scores
of an upload, bank curation with batch adds, content listing and search by hash. Errors:
``{"error": {"code", "message"}}``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from vangnet.api.uploads import read_body, read_multipart
from vangnet.audit import chain as audit
from vangnet.auth.keys import Permission
from vangnet.banks import bank as bank_ops
from vangnet.banks import contents as bank_contents
from vangnet.banks.categories import Category
from vangnet.banks.formats.base import BankRecord
from vangnet.banks.imports import add_many
from vangnet.banks.views import BankView, ContentView
from vangnet.errors import ValidationError, VangnetError
from vangnet.http.deps import (
    AfterId,
    Caller,
    RowId,
    Services,
    db_session,
    require,
    services,
    writer_session,
)
from vangnet.review import cases
from vangnet.review.classifier_calibration import calibrated_thresholds
from vangnet.signals.classifiers.fusion import Fused, Fusion
from vangnet.signals.classifiers.media import classify_bytes
from vangnet.signals.hashing import hash_bytes
from vangnet.store.db import writer

router = APIRouter(prefix="/v1", tags=["native"])

Read = Annotated[Caller, Depends(require(Permission.READ_BANKS))]
Write = Annotated[Caller, Depends(require(Permission.WRITE_BANKS))]
MatchP = Annotated[Caller, Depends(require(Permission.MATCH))]
Db = Annotated[Session, Depends(db_session)]
# Routes that change banks: on SQLite their transaction waits for the write lock.
WriterDb = Annotated[Session, Depends(writer_session)]
Svc = Annotated[Services, Depends(services)]
BankFilter = Annotated[list[str] | None, Query(alias="bank", description="Limit to these banks.")]

MAX_BATCH = 10_000


class LookupRequest(BaseModel):
    signal_type: str = Field(examples=["pdq"])
    value: str = Field(description="The hash, e.g. 64 hex characters for PDQ.")
    quality: int | None = Field(default=None, ge=0, le=100, description="PDQ quality, if known.")
    banks: list[str] | None = None


class BatchLookupRequest(BaseModel):
    signal_type: str = Field(examples=["pdq"])
    values: list[str] = Field(max_length=MAX_BATCH)
    qualities: list[int | None] | None = Field(default=None, max_length=MAX_BATCH)
    banks: list[str] | None = None


class BankCreate(BaseModel):
    name: str
    category_profile: str = "none"
    high_confidence: bool = False
    thresholds: dict[str, dict[str, Any]] | None = None
    note: str | None = None
    matching_enabled_ratio: float = Field(default=1.0, ge=0.0, le=1.0)
    policy: dict[str, Any] | None = Field(
        default=None,
        description="Live-stream rule and actions: live_min_frames, live_window, actions.",
        examples=[{"live_min_frames": 1, "live_window": 1, "actions": ["stream.terminate"]}],
    )


class BankPatch(BaseModel):
    name: str | None = None
    category_profile: str | None = None
    high_confidence: bool | None = None
    thresholds: dict[str, dict[str, Any]] | None = None
    note: str | None = None
    matching_enabled_ratio: float | None = Field(default=None, ge=0.0, le=1.0)
    policy: dict[str, Any] | None = Field(
        default=None, description="Policy keys to change; a key set to null is removed."
    )


class HashItem(BaseModel):
    signal_type: str
    value: str
    category: str | None = Field(default=None, examples=["vics:1"])
    source: str | None = None
    series: str | None = None
    note: str | None = None
    external_id: str | None = None


class BatchAdd(BaseModel):
    items: list[HashItem] = Field(max_length=MAX_BATCH)


def bank_json(bank: BankView) -> dict[str, Any]:
    return {
        "name": bank.name,
        "enabled": bank.enabled,
        "matching_enabled_ratio": bank.matching_enabled_ratio,
        "category_profile": bank.category_profile,
        "high_confidence": bank.high_confidence,
        "thresholds": bank.thresholds,
        "policy": bank.policy,
        "note": bank.note,
        "created_at": bank.created_at.isoformat(),
        "updated_at": bank.updated_at.isoformat(),
    }


def content_json(item: ContentView) -> dict[str, Any]:
    return {
        "id": item.id,
        "bank": item.bank_name,
        "category": str(item.category) if item.category else None,
        "source": item.source,
        "series": item.series,
        "note": item.note,
        "external_id": item.external_id,
        "enabled": item.enabled,
        "signals": [{"signal_type": t, "value": v} for t, v in item.signals],
        "created_at": item.created_at.isoformat(),
        "updated_at": item.updated_at.isoformat(),
    }


async def _upload(request: Request, svc: Services) -> tuple[bytes, str]:
    limit = svc.settings.max_upload_bytes
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        parts = [p for p in await read_multipart(request, limit=limit) if p.filename or p.data]
        if len(parts) != 1:
            raise ValidationError("send exactly one file (multipart field 'file')")
        return bytes(parts[0].data), parts[0].filename or "-"
    return await read_body(request, limit=limit), "-"


@router.post("/hash")
async def hash_upload(request: Request, svc: Svc, _: MatchP) -> dict[str, Any]:
    """Hash an upload (raw body or one multipart file); nothing is stored."""
    data, name = await _upload(request, svc)
    hashed = await run_in_threadpool(hash_bytes, data, settings=svc.settings, path=name)
    return hashed.to_json()


@router.post("/match")
async def match_upload(
    request: Request,
    svc: Svc,
    session: Db,
    who: MatchP,
    bank: BankFilter = None,
    record: Annotated[
        bool, Query(description="File a matching upload in a review case (kept encrypted).")
    ] = True,
    account: Annotated[str | None, Query(max_length=255)] = None,
    platform: Annotated[str | None, Query(max_length=255)] = None,
    content_id: Annotated[str | None, Query(max_length=255)] = None,
    ip: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """Hash an upload and match it against the banks in one call. A match is a lead for a
    reviewer: the upload is sealed in the evidence vault and filed in a case (grouped by
    ``account`` when given), unless ``record=false``. Regions of a photo (borders trimmed,
    the main picture, insets, video-call tiles) are matched too unless ``match_regions`` is
    off; such a match has ``region`` (x, y, w, h) and ``transform``; one found by the wider
    net (beyond the bank's threshold, confirmed by local features) has ``inliers``.

    With ``classify_uploads`` (default on) the enabled classifiers score the upload too:
    ``priority`` is its priority signal (``value``, ``likely``, ``summary``, ``parts``;
    ``classifier_errors`` names a classifier that failed on it). A matched upload's case
    keeps the scores; an upload that matches nothing but is ``likely`` is filed as a case
    of source ``classifier`` (likely new material, ``case_id``) for a person to look at. A
    score is never a verdict: it reports, banks and refuses nothing."""
    data, name = await _upload(request, svc)
    hashed = await run_in_threadpool(
        hash_bytes,
        data,
        settings=svc.settings,
        path=name,
        dihedral=True,
        regions=svc.settings.match_regions,
        verify=True,
    )
    # in a worker thread: verifying wider-net candidates computes local features
    lookup = await run_in_threadpool(svc.matcher.lookup_hashes, session, hashed, banks=bank)
    out = lookup.to_json()
    calibrated = await run_in_threadpool(calibrated_thresholds, session, svc.settings)
    fusion = Fusion.from_settings(svc.settings, calibrated=calibrated)
    scored = None
    if svc.settings.classify_uploads and svc.classifiers:
        scored = await run_in_threadpool(_scored_upload, data, svc, name, fusion)
        out["priority"] = scored.fused.as_json()
        out["classifier_errors"] = scored.errors
    likely = scored is not None and scored.fused.likely
    if record and (lookup.matches or likely):
        subject = {"account": account, "platform": platform, "content_id": content_id, "ip": ip}
        out["case_id"] = await run_in_threadpool(
            cases.file_upload,
            writer(svc.engine),
            svc.vault(),
            data,
            filename=name if name != "-" else None,
            hashes=lookup.hashes,
            matches=list(lookup.matches),
            subject=subject,
            actor=who.actor,
            group_by=svc.settings.review_group_by,
            scores=scored.values if scored is not None else None,
            summaries=scored.summaries if scored is not None else None,
            fusion=fusion,
        )
    return out


@dataclass(frozen=True)
class _Scored:
    """An upload's classifier scores: the highest value per classifier (a video's over
    its sampled frames), their summaries, the fused signal and the classifiers' errors."""

    values: dict[str, float]
    summaries: dict[str, str]
    fused: Fused
    errors: list[dict[str, str]]


def _scored_upload(data: bytes, svc: Services, name: str, fusion: Fusion) -> _Scored:
    """Score ``data`` with the enabled classifiers (`classify_bytes`); a file they cannot
    decode though the hashing could is an error of each classifier, not of the upload."""
    try:
        result = classify_bytes(data, settings=svc.settings, classifiers=svc.classifiers, path=name)
    except VangnetError as error:
        errors = [{"classifier": c.name, "message": error.message} for c in svc.classifiers]
        return _Scored({}, {}, Fused(), errors)
    best = result.best()
    return _Scored(
        values={n: float(score.value) for n, (score, _) in best.items()},
        summaries={n: score.summary for n, (score, _) in best.items() if score.summary},
        fused=result.fused(fusion)[0],
        errors=[{"classifier": n, "message": m} for n, m in result.errors().items()],
    )


@router.post("/classify")
async def classify_upload(request: Request, svc: Svc, session: Db, _: MatchP) -> dict[str, Any]:
    """Score an upload (raw body or one multipart file; a photo, or a video's sampled frames)
    with the classifiers this deployment enables (setting ``classifiers``): per classifier
    its ``value`` in 0-1 for what it ``measures``, the ``evidence`` behind it and a
    ``summary``; ``priority`` fuses them into one explainable signal (``value``, ``likely``,
    ``summary``, ``parts``); ``errors`` names a classifier that failed (no score from it).
    Decoded in memory; nothing is stored. A score orders review: it never confirms, reports or banks
    anything."""
    data, name = await _upload(request, svc)
    result = await run_in_threadpool(
        classify_bytes, data, settings=svc.settings, classifiers=svc.classifiers, path=name
    )
    calibrated = await run_in_threadpool(calibrated_thresholds, session, svc.settings)
    out = result.to_json(Fusion.from_settings(svc.settings, calibrated=calibrated))
    out["classifiers"] = [c.name for c in svc.classifiers]
    return out


@router.post("/lookup")
def lookup(body: LookupRequest, svc: Svc, session: Db, _: MatchP) -> dict[str, Any]:
    """Hash-only lookup: for platforms that keep media in their own infrastructure."""
    matches = svc.matcher.lookup(
        session,
        signal_type=body.signal_type,
        value=body.value,
        quality=body.quality,
        banks=body.banks,
    )
    return {"matches": [m.to_dict() for m in matches]}


@router.post("/lookup/batch")
def lookup_batch(body: BatchLookupRequest, svc: Svc, session: Db, _: MatchP) -> dict[str, Any]:
    """Many hashes of one signal type (e.g. every frame of a stream segment) in one request."""
    if body.qualities is not None and len(body.qualities) != len(body.values):
        raise ValidationError("qualities must have one entry per value")
    results = svc.matcher.lookup_many(
        session,
        signal_type=body.signal_type,
        values=body.values,
        qualities=body.qualities,
        banks=body.banks,
    )
    return {"results": [[m.to_dict() for m in ms] for ms in results]}


@router.get("/index/status")
def index_status(svc: Svc, _: MatchP) -> dict[str, Any]:
    return svc.indexes.status_dict()


@router.get("/banks")
def list_banks(session: Db, _: Read) -> dict[str, Any]:
    return {"banks": [bank_json(b) for b in bank_ops.list_banks(session)]}


@router.post("/banks", status_code=201)
def create_bank(body: BankCreate, session: WriterDb, who: Write, svc: Svc) -> dict[str, Any]:
    bank = bank_ops.create_bank(
        session,
        name=body.name,
        category_profile=body.category_profile,
        high_confidence=body.high_confidence,
        thresholds=body.thresholds,
        note=body.note,
        matching_enabled_ratio=body.matching_enabled_ratio,
        policy=body.policy,
        settings=svc.settings,
    )
    audit.record(
        session,
        actor=who.actor,
        action="bank.create",
        target=f"bank:{bank.name}",
        after=bank_json(bank),
    )
    session.commit()
    return bank_json(bank)


@router.get("/banks/{name}")
def show_bank(name: str, session: Db, _: Read) -> dict[str, Any]:
    bank = bank_ops.get_bank(session, name)
    return {**bank_json(bank), "stats": bank_ops.bank_stats(session, name)}


@router.patch("/banks/{name}")
def update_bank(name: str, body: BankPatch, session: WriterDb, who: Write) -> dict[str, Any]:
    changes = body.model_dump(exclude_unset=True)
    if "name" in changes:
        changes["new_name"] = changes.pop("name")
    before = bank_json(bank_ops.get_bank(session, name))
    bank = bank_ops.update_bank(session, name, **changes)
    audit.record(
        session,
        actor=who.actor,
        action="bank.update",
        target=f"bank:{name}",
        before=before,
        after=bank_json(bank),
    )
    session.commit()
    return bank_json(bank)


@router.delete("/banks/{name}")
def delete_bank(name: str, session: WriterDb, who: Write) -> dict[str, Any]:
    before = bank_json(bank_ops.get_bank(session, name))
    bank_ops.delete_bank(session, name)
    audit.record(
        session, actor=who.actor, action="bank.delete", target=f"bank:{name}", before=before
    )
    session.commit()
    return {"deleted": name}


@router.post("/banks/{name}/hashes")
def add_hashes(name: str, body: BatchAdd, svc: Svc, who: Write) -> dict[str, Any]:
    """Add many hashes to a bank in one all-or-nothing request (idempotent).

    The items are checked, staged in short transactions and published in one, so a large
    batch holds the database's write lock only briefly (live alerts are not held up)."""
    items = []
    for position, item in enumerate(body.items):
        try:
            category = Category.parse(item.category) if item.category else None
        except VangnetError as error:
            raise type(error)(f"items[{position}]: {error.message}") from None
        items.append(
            BankRecord(
                signal_type=item.signal_type,
                value=item.value,
                category=category,
                source=item.source,
                series=item.series,
                note=item.note,
                external_id=item.external_id,
            )
        )

    def audited(session: Session, ids: list[int]) -> None:
        audit.record(
            session,
            actor=who.actor,
            action="bank.add",
            target=f"bank:{name}",
            details={"items": len(ids), "first_content_id": ids[0] if ids else None},
        )

    ids = add_many(
        svc.engine,
        bank=name,
        items=items,
        chunk=svc.settings.bank_import_chunk,
        on_publish=audited,
    )
    return {"content_ids": ids, "count": len(ids)}


@router.get("/banks/{name}/content")
def list_content(
    name: str,
    session: Db,
    _: Read,
    after_id: AfterId = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    items = bank_contents.list_content(session, bank=name, after_id=after_id, limit=limit)
    return {
        "items": [content_json(i) for i in items],
        "next_after_id": items[-1].id if len(items) == limit else None,
    }


@router.delete("/banks/{name}/content/{content_id}")
def delete_content(name: str, content_id: RowId, session: WriterDb, who: Write) -> dict[str, Any]:
    bank_contents.delete_content(session, content_id=content_id, bank=name)
    audit.record(
        session,
        actor=who.actor,
        action="content.delete",
        target=f"content:{content_id}",
        details={"bank": name},
    )
    session.commit()
    return {"deleted": content_id}


@router.get("/content/search")
def search_content(
    session: Db,
    _: Read,
    signal_type: str,
    value: str,
    bank: str | None = None,
) -> dict[str, Any]:
    """Find banked content by an exact hash value (HMA has no such route)."""
    items = bank_contents.find_content_by_signal(
        session, signal_type=signal_type, value=value, bank=bank
    )
    return {"items": [content_json(i) for i in items]}
