"""Which bank rows readers see: rows added by hand, and rows of published imports.

Bulk writes (`vangnet.banks.imports.import_staged`, ``add_many``) write their content and
signals in many short transactions, each row marked with its import's id
(``bank_content.import_id``, ``content_signals.import_id``). Until one tiny transaction
marks the import published (``bank_imports.state``), every reader filters them out with
`visible`; an import that fails or is killed is never published and its rows are removed.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Select, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from vangnet.store.models import BankImport, ImportState


def published_imports() -> Select[int]:
    """The ids of published imports (a subquery)."""
    return select(BankImport.id).where(BankImport.state == ImportState.PUBLISHED.value)


def visible(import_id: InstrumentedAttribute[int | None]) -> ColumnElement[bool]:
    """True for a row added by hand or by a published import (``import_id`` is its column)."""
    return or_(import_id.is_(None), import_id.in_(published_imports()))


def unpublished(import_id: InstrumentedAttribute[int | None]) -> ColumnElement[bool]:
    """True for a row of an import that is not (or will never be) published."""
    return import_id.is_not(None) & import_id.not_in(published_imports())


__all__ = ["published_imports", "unpublished", "visible"]
