"""Sealing: media into the vault, bound to its record, with an ``evidence_items`` row.

The vault (`vangnet.store.vault`) encrypts and stores bytes; what ties a vault file to its
record is the *context* it was sealed with (the GCM associated data): a file swapped for
another record's fails to decrypt. `vault_context` is the one place that context is named.

Sealing (tens of milliseconds) happens before the database transaction that records the
item; the caller removes the file again (`Vault.delete`) if that transaction fails.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from vangnet.evidence.custody import record_custody
from vangnet.evidence.hashes import add_item_signals
from vangnet.store.models import EvidenceItem
from vangnet.store.vault import Vault, VaultEntry


def upload_context(sha256: str) -> str:
    return f"evidence:upload:{sha256}"


def alert_context(alert_id: int | None) -> str:
    return f"evidence:alert:{alert_id}"


def triage_context(sha256: str) -> str:
    return f"evidence:triage:{sha256}"


def vault_context(item: EvidenceItem) -> str:
    """The context an item's bytes were sealed with (a file cannot be swapped for another's)."""
    if item.kind == "upload":
        return upload_context(item.sha256)
    if item.kind == "triage":
        return triage_context(item.sha256)
    return alert_context(item.alert_id)


def seal_upload(vault: Vault, data: bytes, sha256: str) -> VaultEntry:
    """Encrypt an upload into the vault (before the database transaction that files it)."""
    return vault.put(data, context=upload_context(sha256))


def record_upload(
    session: Session,
    *,
    entry: VaultEntry,
    case_id: int,
    media_type: str,
    filename: str | None,
    hashes: Mapping[str, str],
    received_at: datetime,
    details: Mapping[str, Any],
    actor: str,
    detail: str,
) -> EvidenceItem:
    """The evidence row of a sealed upload (``entry``), its hashes of every signal type and
    its ``captured`` custody entry (``detail``), in the caller's transaction (flushed)."""
    item = EvidenceItem(
        case_id=case_id,
        kind="upload",
        media_type=media_type,
        filename=(filename or "upload")[:255],
        captured_at=received_at,
        sha256=entry.sha256,
        md5=str(hashes.get("md5") or "") or None,
        sha1=str(hashes.get("sha1") or "") or None,
        pdq=str(hashes.get("pdq") or "") or None,
        size=entry.size,
        vault_name=entry.name,
        matched=True,
        details=dict(details),
    )
    session.add(item)
    session.flush()
    add_item_signals(session, item, hashes)
    record_custody(session, item.id, actor=actor, action="captured", detail=detail)
    return item
