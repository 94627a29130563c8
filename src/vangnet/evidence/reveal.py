"""Reveal: an item shown in the clear to one person, on their explicit request.

Every reveal is written twice, in the caller's transaction: to the audit log
(``media.reveal``, who saw what) and to the item's chain of custody (``accessed``, what
happened to the evidence). The caller commits, counts the reveal towards the person's
break, and makes the clear picture (`vangnet.evidence.previews.clear_media`).

A review case's items are in the vault (`reveal`). An investigation item is read again
from its source (the seized folder, archive or disk image: `vangnet.triage.locate`),
and a chain of custody belongs to an evidence item; so at its first reveal the bytes shown,
checked against the SHA-256 triage recorded, are sealed into the vault as an evidence item
of the investigation case (kind ``triage``, custody ``captured``), and every reveal of it
is logged on that item (`reveal_triage_item`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from vangnet.audit import chain
from vangnet.errors import NotFoundError
from vangnet.evidence.custody import record_custody
from vangnet.evidence.reading import read_evidence
from vangnet.evidence.sealing import triage_context
from vangnet.store.models import EvidenceItem, EvidenceSignal, TriageItem, TriageSignal, utcnow
from vangnet.store.vault import Vault, VaultEntry, VaultError


def reveal(session: Session, vault: Vault, item_id: int, *, actor: str) -> bytes:
    """Decrypt a case item for ``actor``'s reveal: custody ``accessed``, audit
    ``media.reveal`` of ``item:N`` (caller's transaction)."""
    item = session.get(EvidenceItem, item_id)
    if item is None:
        raise NotFoundError(f"no evidence item {item_id}")
    data = read_evidence(session, vault, item_id, actor=actor)
    chain.record(
        session,
        actor=actor,
        action="media.reveal",
        target=f"item:{item_id}",
        details={"case": item.case_id, "sha256": item.sha256},
    )
    return data


@dataclass(frozen=True)
class Revealed:
    """What a reveal of an investigation item recorded: the evidence item its custody is
    kept on, and the vault file sealed by this reveal (None when sealed before). If the
    caller's transaction fails, it deletes ``sealed`` (no row points at it)."""

    evidence_id: int
    sealed: VaultEntry | None


def held_for(session: Session, triage: TriageItem) -> EvidenceItem | None:
    """The evidence item an investigation item was sealed as (at its first reveal), if any."""
    if triage.sha256 is None:
        return None
    for item in session.scalars(
        select(EvidenceItem)
        .where(
            EvidenceItem.case_id == triage.case_id,
            EvidenceItem.kind == "triage",
            EvidenceItem.sha256 == triage.sha256,
        )
        .order_by(EvidenceItem.id)
    ):
        if (item.details or {}).get("triage_item_id") == triage.id:
            return item
    return None


def reveal_triage_item(
    session: Session,
    vault: Vault,
    triage_item_id: int,
    data: bytes,
    *,
    media_type: str,
    actor: str,
) -> Revealed:
    """Record ``actor``'s reveal of an investigation item whose bytes (``data``, read from
    its source) are shown: sealed at the first reveal, custody ``accessed``, audit
    ``media.reveal`` of ``triage_item:N`` (caller's transaction)."""
    triage = session.get(TriageItem, triage_item_id)
    if triage is None:
        raise NotFoundError(f"no item {triage_item_id}")
    sha256 = hashlib.sha256(data).hexdigest()
    if triage.sha256 is not None and triage.sha256 != sha256:
        raise VaultError(f"item {triage_item_id} does not match the SHA-256 triage recorded")
    held = held_for(session, triage)
    sealed = None
    try:
        if held is None:
            sealed = vault.put(data, context=triage_context(sha256))
            held = _hold(session, triage, sealed, media_type=media_type, actor=actor)
        record_custody(
            session,
            held.id,
            actor=actor,
            action="accessed",
            detail=f"revealed in the clear (item {triage.id}, read from its source, "
            "SHA-256 checked)",
        )
        chain.record(
            session,
            actor=actor,
            action="media.reveal",
            target=f"triage_item:{triage_item_id}",
            details={"case": triage.case_id, "sha256": triage.sha256, "kind": triage.kind},
        )
        session.flush()
    except BaseException:
        if sealed is not None:
            vault.delete(sealed.name)  # no row points at it
        raise
    return Revealed(held.id, sealed)


def _hold(
    session: Session, triage: TriageItem, sealed: VaultEntry, *, media_type: str, actor: str
) -> EvidenceItem:
    """The evidence row of an investigation item sealed at its first reveal (custody
    ``captured``, naming where in the seized sources it was found)."""
    held = EvidenceItem(
        case_id=triage.case_id,
        kind="triage",
        media_type=media_type[:64],
        filename=triage.name[:255],
        md5=triage.md5,
        sha1=triage.sha1,
        pdq=triage.pdq,
        captured_at=utcnow(),
        sha256=sealed.sha256,
        size=sealed.size,
        vault_name=sealed.name,
        matched=bool(triage.matches),
        details={"triage_item_id": triage.id, "chain": list(triage.chain)},
    )
    session.add(held)
    session.flush()
    # every other hash the triage kept, as the item's typed rows (as an upload's are): a
    # plug-in's, and a video's frames: ``vpdq`` (a column of the triage item), and
    # ``vpdq_cropped`` / ``vpdq_regions`` (rows of it)
    rows = [("vpdq", triage.vpdq)] if triage.vpdq else []
    rows += [
        (str(name), str(value))
        for name, value in session.execute(
            select(TriageSignal.signal_type, TriageSignal.value).where(
                TriageSignal.item_id == triage.id
            )
        )
    ]
    session.add_all(
        EvidenceSignal(evidence_id=held.id, signal_type=name, value=value) for name, value in rows
    )
    record_custody(
        session,
        held.id,
        actor=actor,
        action="captured",
        detail=f"sealed at its first reveal from item {triage.id} of the investigation: "
        + " > ".join(triage.chain),
    )
    return held
