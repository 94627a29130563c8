"""Values that unpublished imports hold (`vangnet.store.visibility`): a writer about to
publish takes them, so a value ends up in a bank once, held by whoever publishes first.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from vangnet.banks.bulk import chunks, insert_rows, table_of
from vangnet.store.models import BankImport, ContentSignal, utcnow
from vangnet.store.visibility import unpublished


def take_pending(session: Session, bank_id: int, signal_type: str, keys: Sequence[str]) -> None:
    """Take the values among ``keys`` that unpublished imports hold, so a writer about to
    publish (a hand add, an import's publishing transaction) holds them instead: a value ends
    up once, held by whoever publishes first, and is not lost if the import fails. The
    import is told (a ``taken`` row) so it can drop an item left with no signals.

    Callers hold the change-log lock (`lock_change_log`), which every publish takes too, so
    no import is published meanwhile."""
    staging = table_of("bank_import_rows")
    for chunk in chunks(keys):
        rows = session.execute(
            select(
                ContentSignal.id,
                ContentSignal.import_id,
                ContentSignal.content_id,
                ContentSignal.value,
                ContentSignal.value_key,
            ).where(
                ContentSignal.bank_id == bank_id,
                ContentSignal.signal_type == signal_type,
                ContentSignal.value_key.in_(chunk),
                unpublished(ContentSignal.import_id),
            )
        ).all()
        if not rows:
            continue
        import_keys: dict[int, str] = {
            int(i): str(k)
            for i, k in session.execute(
                select(BankImport.id, BankImport.key).where(
                    BankImport.id.in_({r.import_id for r in rows})
                )
            )
        }
        now = utcnow()
        markers = [
            {
                "import_key": import_keys[r.import_id],
                "bank_id": bank_id,
                "signal_type": signal_type,
                "value": r.value,
                "value_key": r.value_key,
                "content_id": r.content_id,
                "staged_at": now,
                "status": "taken",
            }
            for r in rows
            if r.import_id in import_keys
        ]
        insert_rows(session, staging, markers, ignore_conflicts=True)
        session.execute(delete(ContentSignal).where(ContentSignal.id.in_([r.id for r in rows])))
