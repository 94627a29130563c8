"""Chain of custody: who did what to an evidence item, when (append-only).

`record_custody` is the one place a `CustodyEvent` is written. The actions in use:

- ``captured``: the item was sealed into the vault (a live frame, an upload, an
  investigation item at its first reveal);
- ``accessed``: its bytes were decrypted or read for a person or a report;
- ``exported``: its bytes or a preview of them left in a report or an export.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy.orm import Session

from vangnet.store.models import CustodyEvent

CustodyAction = Literal["captured", "accessed", "exported"]


def record_custody(
    session: Session,
    evidence_id: int,
    *,
    actor: str,
    action: CustodyAction,
    detail: str | None = None,
) -> CustodyEvent:
    """Append one entry to an item's chain of custody in the caller's transaction."""
    event = CustodyEvent(evidence_id=evidence_id, actor=actor, action=action, detail=detail)
    session.add(event)
    return event
