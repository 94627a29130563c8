"""OpenMediaMatch (HMA 1.1) compatible routes: same paths, request and response shapes and
status codes, so an HMA client works unchanged once it sends an API key.

Errors on these routes use HMA's shape, ``{"message": "..."}``. Every bank change is written
to the audit log under the key's name, in the transaction of the change.
"""

from __future__ import annotations

import contextlib
import json
import random
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy.orm import Session

from vangnet.api.uploads import read_multipart
from vangnet.audit import chain
from vangnet.auth.keys import Permission
from vangnet.banks.bank import (
    bank_stats,
    create_bank,
    delete_bank,
    get_bank,
    list_banks,
    update_bank,
)
from vangnet.banks.contents import add_content, delete_content, get_content
from vangnet.banks.features import FeatureSeal
from vangnet.banks.views import BankView
from vangnet.errors import ConflictError, NotFoundError, ValidationError
from vangnet.http.deps import Caller, RowId, Services, db_session, require, services, writer_session
from vangnet.jsonlimits import check_json
from vangnet.match.results import Match
from vangnet.signals.base import ContentType
from vangnet.signals.hashes import Hashes
from vangnet.signals.hashing import hash_bytes
from vangnet.signals.registry import signal_types

router = APIRouter(tags=["HMA-compatible"])

Read = Annotated[Caller, Depends(require(Permission.READ_BANKS))]
Write = Annotated[Caller, Depends(require(Permission.WRITE_BANKS))]
MatchP = Annotated[Caller, Depends(require(Permission.MATCH))]
Db = Annotated[Session, Depends(db_session)]
# Routes that change banks: on SQLite their transaction waits for the write lock.
WriterDb = Annotated[Session, Depends(writer_session)]
Svc = Annotated[Services, Depends(services)]


def _bool(text: str) -> bool:
    if text.lower() in ("true", "1"):
        return True
    if text.lower() in ("false", "0"):
        return False
    raise ValidationError("invalid boolean parameter - prefer true/false")


def _existing_bank(session: Session, name: str, message: str | None = None) -> BankView:
    """The bank, or HMA's 404 message."""
    try:
        return get_bank(session, name)
    except NotFoundError:
        raise NotFoundError(message or f"bank '{name}' not found") from None


def _hma_bank(bank: BankView) -> dict[str, Any]:
    return {"name": bank.name, "matching_enabled_ratio": bank.matching_enabled_ratio}


def _audited_bank(session: Session, bank: BankView) -> dict[str, Any]:
    """What the audit log keeps of a bank: its settings and how much it held."""
    return {
        "name": bank.name,
        "matching_enabled_ratio": bank.matching_enabled_ratio,
        "category_profile": bank.category_profile,
        "high_confidence": bank.high_confidence,
        "note": bank.note,
        "stats": bank_stats(session, bank.name),
    }


def signals_of(hashed: Hashes, types: str | None = None) -> dict[str, str]:
    """The signal values of a `hash_bytes` result, as HMA reports them (one string each)."""
    out = hashed.signal_values()
    if types is not None:
        wanted = [t.strip() for t in types.split(",") if t.strip()]
        if not wanted:
            raise ValidationError("empty signal type selection")
        for name in wanted:
            if name not in signal_types():
                raise ValidationError(f"signal type '{name}' doesn't exist or is disabled")
        out = {k: v for k, v in out.items() if k in wanted}
    return out


async def _hash_upload(
    request: Request,
    svc: Services,
    *,
    for_lookup: bool = False,
    features: bool = False,
    verify: bool = False,
) -> Hashes:
    """The hashes of the one uploaded file; ``for_lookup``: a photo's dihedral variants and
    regions too (``match_regions``), from the same decode, as ``POST /v1/match`` hashes;
    ``features``: the local features a bank keeps; ``verify``: the decoded picture kept in
    memory for the wider net."""
    parts = [
        p
        for p in await read_multipart(request, limit=svc.settings.max_upload_bytes)
        if p.data or p.filename
    ]
    if not parts:
        raise ValidationError("Missing multipart/form-data file upload")
    if len(parts) > 1:
        raise ValidationError("Only one file allowed per request")
    part = parts[0]
    if part.name not in {c.value for c in ContentType}:
        raise ValidationError(f"no such content_type: '{part.name}'")
    hashed = await run_in_threadpool(
        hash_bytes,
        bytes(part.data),
        settings=svc.settings,
        path=part.filename or "-",
        dihedral=for_lookup,
        regions=for_lookup and svc.settings.match_regions,
        features=features,
        verify=verify,
    )
    if hashed.content_type.value != part.name:
        raise ValidationError(f"the upload is a {hashed.content_type.value}, not a {part.name}")
    return hashed


@router.get("/status", response_class=PlainTextResponse)
def status(svc: Svc) -> PlainTextResponse:
    """Liveness: 200 ``I-AM-ALIVE``, or 503 ``INDEX-STALE`` before the indexes are loaded."""
    if not svc.indexes.loaded:
        return PlainTextResponse("INDEX-STALE", status_code=503)
    return PlainTextResponse("I-AM-ALIVE")


@router.get("/h/hash")
def hash_url() -> JSONResponse:
    """Fetching media by URL is disabled: Vangnet never fetches remote URLs (SSRF risk)."""
    return JSONResponse(
        {"message": "hashing by url is disabled; POST the file as multipart/form-data"},
        status_code=501,
    )


@router.post("/h/hash")
async def hash_post(
    request: Request, svc: Svc, _: MatchP, types: str | None = None
) -> dict[str, str]:
    """Hash one uploaded file (multipart field named ``photo`` or ``video``)."""
    return signals_of(await _hash_upload(request, svc), types)


def _banks_param(banks_csv: str | None) -> set[str] | None:
    """HMA's optional ``banks`` parameter: a comma-separated list of bank names."""
    if banks_csv is None:
        return None
    return {b.strip() for b in banks_csv.split(",") if b.strip()}


def _raw(
    svc: Services, session: Session, signal_type: str, signal: str, only: set[str] | None = None
) -> list[Match]:
    cls = signal_types().get(signal_type)
    if cls is None:
        raise ValidationError(f"No such SignalType '{signal_type}'")
    try:
        value = cls.validate(signal)
    except Exception as error:
        raise ValidationError(f"invalid signal: {getattr(error, 'message', error)}") from None
    matches = svc.matcher.lookup(session, signal_type=signal_type, value=value)
    return [m for m in matches if only is None or m.bank in only]


@router.get("/m/raw_lookup")
def raw_lookup(
    svc: Svc,
    session: Db,
    _: MatchP,
    signal: Annotated[str, Query()],
    signal_type: Annotated[str, Query()],
    include_distance: str = "false",
    banks: str | None = None,
) -> dict[str, Any]:
    """Bank content ids whose signal matches ``signal`` (with distances if asked)."""
    matches = _raw(svc, session, signal_type, signal, _banks_param(banks))
    if _bool(include_distance):
        return {
            "matches": [
                {"bank_content_id": m.content_id, "distance": str(m.distance)} for m in matches
            ]
        }
    return {"matches": [m.content_id for m in matches]}


def _by_bank(
    session: Session, matches: list[Match], seed: str | None, bypass_coinflip: bool
) -> dict[str, list[dict[str, Any]]]:
    """HMA's lookup result: per bank, its matching content, after the bank's coin flip
    (``matching_enabled_ratio``, seeded by ``seed`` for consistent answers)."""
    ratios = {b.name: b.matching_enabled_ratio for b in list_banks(session)}
    coinflip = 0.0 if bypass_coinflip else random.Random(seed).random()
    out: dict[str, list[dict[str, Any]]] = {}
    for m in matches:
        if ratios.get(m.bank, 0.0) >= coinflip and ratios.get(m.bank, 0.0) > 0:
            out.setdefault(m.bank, []).append(
                {"bank_content_id": m.content_id, "distance": str(m.distance)}
            )
    return out


@router.get("/m/lookup")
def lookup_get(
    svc: Svc,
    session: Db,
    _: MatchP,
    signal: str | None = None,
    signal_type: str | None = None,
    url: str | None = None,
    seed: str | None = None,
    banks: str | None = None,
    bypass_coinflip: str = "false",
) -> dict[str, list[dict[str, Any]]]:
    """Per bank, the content matching ``signal``: ``{BANK: [{bank_content_id, distance}]}``."""
    if url is not None:
        raise ValidationError("lookup by url is disabled; POST the file to /m/lookup")
    if not signal or not signal_type:
        raise ValidationError("Either url or both signal and signal_type are required")
    matches = _raw(svc, session, signal_type, signal, _banks_param(banks))
    return _by_bank(session, matches, seed, _bool(bypass_coinflip))


@router.post("/m/lookup")
async def lookup_post(
    request: Request,
    svc: Svc,
    session: Db,
    _: MatchP,
    seed: str | None = None,
    banks: str | None = None,
    bypass_coinflip: str = "false",
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Hash an uploaded file; per signal type, per bank, the matching content. A photo's PDQ
    is matched with its dihedral variants and regions, as ``POST /v1/match`` does, and its
    candidates within a bank's verify_threshold are kept when local features confirm them
    against the upload's pixels (the wider net). A video's sampled frames are matched the
    same way against banked photos (frames decoded again only for a candidate's check):
    those found are listed under ``pdq``."""
    # One decode: the PDQ, its dihedral variants (for banks that ask for them) and the PDQs
    # of its regions (borders trimmed, the main picture, insets, video-call tiles; setting
    # ``match_regions``), looked up in one batched query at each bank's threshold and quality
    # floor. A banked item found in a region is listed with that region's distance: HMA's
    # shape, no other keys (it is a contract).
    hashed = await _hash_upload(request, svc, for_lookup=True, verify=True)
    only = _banks_param(banks)
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for name, value in signals_of(hashed).items():
        if name == "pdq" and hashed.content_type is ContentType.PHOTO:
            found = await run_in_threadpool(
                svc.matcher.match_regions,
                session,
                value=value,
                quality=hashed.quality(name),
                variants=hashed.dihedral,
                regions=hashed.regions,
                picture=hashed.picture,
                # only the banks asked for (HMA ignores an unknown name): other banks spend
                # no verification on this lookup
                banks=None if only is None else only & {b.name for b in list_banks(session)},
            )
            matches = list(found)
        else:
            matches = _raw(svc, session, name, value, only)
        out[name] = _by_bank(session, matches, seed, _bool(bypass_coinflip))
    if hashed.photo_frames:  # a video: banked photos shown in its sampled frames, as pdq
        seen = await run_in_threadpool(
            svc.matcher.match_frames,
            session,
            hashed.photo_frames,
            banks=None if only is None else only & {b.name for b in list_banks(session)},
        )
        if seen.matches:
            out["pdq"] = _by_bank(session, list(seen.matches), seed, _bool(bypass_coinflip))
    return out


@router.get("/m/index/status")
def index_status(svc: Svc, _: MatchP, signal_type: str | None = None) -> dict[str, Any]:
    status = svc.indexes.status_dict()
    if signal_type is not None:
        if signal_type not in status:
            raise ValidationError(f"No such signal type '{signal_type}'")
        status = {signal_type: status[signal_type]}
    return status


@router.get("/c/banks")
def banks_index(session: Db, _: Read) -> list[dict[str, Any]]:
    return [_hma_bank(b) for b in list_banks(session)]


def _ratio(data: dict[str, Any], default: float | None) -> float | None:
    if "enabled_ratio" in data:
        try:
            return float(data["enabled_ratio"])
        except (TypeError, ValueError):
            raise ValidationError(f"Invalid float: '{data['enabled_ratio']}'") from None
    if "enabled" in data:
        value = data["enabled"]
        enabled = _bool(value) if isinstance(value, str) else bool(value)
        return 1.0 if enabled else 0.0
    return default


@router.post("/c/banks", status_code=201)
def bank_create(
    session: WriterDb, who: Write, svc: Svc, data: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    name = data.get("name")
    if not name or not isinstance(name, str):
        raise ValidationError("name is required")
    ratio = _ratio(data, 1.0)
    try:
        bank = create_bank(
            session,
            name=name,
            matching_enabled_ratio=ratio if ratio is not None else 1.0,
            settings=svc.settings,
        )
    except ConflictError:
        return JSONResponse({"message": "Bank already exists"}, status_code=403)  # type: ignore[return-value]
    chain.record(
        session,
        actor=who.actor,
        action="bank.create",
        target=f"bank:{bank.name}",
        after=_hma_bank(bank),
        details={"via": "openmediamatch"},
    )
    session.commit()
    return _hma_bank(bank)


@router.get("/c/bank/{bank_name}")
def bank_show(session: Db, _: Read, bank_name: str) -> dict[str, Any]:
    return _hma_bank(_existing_bank(session, bank_name))


@router.put("/c/bank/{bank_name}")
def bank_update(
    session: WriterDb, who: Write, bank_name: str, data: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    before = _existing_bank(session, bank_name, "Bank not found")
    bank = update_bank(
        session,
        bank_name,
        new_name=data.get("name"),
        matching_enabled_ratio=_ratio(data, None),
    )
    chain.record(
        session,
        actor=who.actor,
        action="bank.update",
        target=f"bank:{bank_name}",
        before=_hma_bank(before),
        after=_hma_bank(bank),
        details={"via": "openmediamatch"},
    )
    session.commit()
    return _hma_bank(bank)


@router.delete("/c/bank/{bank_name}")
def bank_delete(session: WriterDb, who: Write, bank_name: str) -> dict[str, str]:
    with contextlib.suppress(NotFoundError):  # HMA answers "Done" for a bank already gone
        before = _audited_bank(session, get_bank(session, bank_name))
        delete_bank(session, bank_name)
        chain.record(
            session,
            actor=who.actor,
            action="bank.delete",
            target=f"bank:{bank_name}",
            before=before,
            details={"via": "openmediamatch"},
        )
    session.commit()
    return {"message": "Done"}


def _metadata(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        meta = json.loads(raw)
    except (json.JSONDecodeError, RecursionError):
        raise ValidationError("metadata should be a json object") from None
    if not isinstance(meta, dict):
        raise ValidationError("metadata should be a json object")
    unexpected = set(meta) - {"content_id", "content_uri", "json"}
    if unexpected:
        raise ValidationError(f"metadata contains unexpected keys: {' ,'.join(sorted(unexpected))}")
    check_json(meta, what="metadata")
    return meta


def _add_signals(
    session: Session,
    who: Caller,
    bank_name: str,
    signals: dict[str, str],
    meta: dict[str, Any],
    features: dict[str, bytes] | None = None,
    seal: FeatureSeal | None = None,
) -> dict[str, Any]:
    if not signals:
        raise ValidationError("No signals given")
    clean: dict[str, str] = {}
    for name, value in signals.items():
        cls = signal_types().get(name)
        if cls is None:
            raise ValidationError(f"No such signal type {name}")
        if not isinstance(value, str):
            raise ValidationError(f"Invalid {name} signal: expected a string")
        try:
            clean[name] = cls.validate(value)
        except Exception as error:
            raise ValidationError(
                f"Invalid {name} signal: {getattr(error, 'message', error)}"
            ) from None
    content_id = add_content(
        session,
        bank=bank_name,
        signals=clean,
        external_id=str(meta["content_id"]) if "content_id" in meta else None,
        source=str(meta["content_uri"]) if "content_uri" in meta else None,
        note=json.dumps(meta["json"]) if "json" in meta else None,
        features=features,
        seal=seal,
    )
    chain.record(
        session,
        actor=who.actor,
        action="bank.add",
        target=f"bank:{bank_name}",
        after={"content_id": content_id, "signals": clean},
        details={"items": 1, "first_content_id": content_id, "via": "openmediamatch"},
    )
    session.commit()
    return {"id": content_id, "signals": clean}


@router.post("/c/bank/{bank_name}/content")
async def bank_add_file(
    request: Request,
    svc: Svc,
    session: WriterDb,
    who: Write,
    bank_name: str,
    metadata: str | None = None,
) -> dict[str, Any]:
    """Hash an uploaded file (multipart field ``photo`` or ``video``) and add it to the bank."""
    _existing_bank(session, bank_name)
    meta = _metadata(metadata)  # checked before the upload is read
    hashed = await _hash_upload(request, svc, features=svc.settings.bank_features)
    features = hashed.kept_features()
    return _add_signals(
        session,
        who,
        bank_name,
        signals_of(hashed),
        meta,
        features=features,
        seal=FeatureSeal.from_settings(svc.settings) if features else None,
    )


@router.get("/c/bank/{bank_name}/content/{content_id}")
def bank_get_content(
    session: Db, _: Read, bank_name: str, content_id: RowId, include_signals: str = "false"
) -> dict[str, Any]:
    """One content item in HMA's shape (``signals`` only with ``include_signals=true``)."""
    bank = _existing_bank(session, bank_name)
    try:
        item = get_content(session, content_id, bank=bank_name)
    except NotFoundError:
        raise NotFoundError(f"content '{content_id}' not found") from None
    out: dict[str, Any] = {
        "id": item.id,
        "disable_until_ts": 0 if item.enabled else 1,  # HMA: 0 = enabled
        "collab_metadata": {},
        "original_media_uri": item.source,
        "bank": _hma_bank(bank),
    }
    if _bool(include_signals):
        out["signals"] = dict(item.signals)
    return out


@router.delete("/c/bank/{bank_name}/content/{content_id}")
def bank_delete_content(
    session: WriterDb, who: Write, bank_name: str, content_id: RowId
) -> dict[str, int]:
    _existing_bank(session, bank_name)
    try:
        delete_content(session, content_id=content_id, bank=bank_name)
        deleted = 1
    except NotFoundError:
        deleted = 0
    if deleted:
        chain.record(
            session,
            actor=who.actor,
            action="content.delete",
            target=f"content:{content_id}",
            details={"bank": bank_name, "via": "openmediamatch"},
        )
    session.commit()
    return {"deleted": deleted}


@router.post("/c/bank/{bank_name}/signal")
def bank_add_signal(
    session: WriterDb, who: Write, bank_name: str, data: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    """Add hashes directly: body ``{"pdq": "<hex>", ...}``."""
    _existing_bank(session, bank_name)
    return _add_signals(session, who, bank_name, data, {})


@router.get("/c/signal_type")
def signal_type_list(_: Read) -> list[dict[str, Any]]:
    return [{"name": name, "enabled_ratio": 1.0} for name in signal_types()]
