"""Many rows at once, the way each database does it best: IN lists in chunks, record
batches, bulk inserts, id allocation and "which of these values does the bank hold".

PostgreSQL gets one statement over unnested arrays (one parameter per column, so psycopg
never parses a huge statement); SQLite gets the driver's executemany loop and chunked IN
lists. (The two other differences live with what they serve: the change-log lock in
`vangnet.banks.changes`, an import's SQLite page cache in `vangnet.banks.staging`.)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import Any, TypeVar

from sqlalchemy import String, Table, TypeDecorator, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from vangnet.store.db import is_postgresql
from vangnet.store.models import Base, ContentSignal

_IN_CHUNK = 1000  # values per IN (...) list
_T = TypeVar("_T")


def chunks(items: Sequence[_T], size: int = _IN_CHUNK) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def batches(items: Iterable[_T], size: int) -> Iterator[list[_T]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def table_of(name: str) -> Table:
    return Base.metadata.tables[name]


def insert_rows(
    session: Session, table: Table, rows: list[dict[str, Any]], *, ignore_conflicts: bool = False
) -> int:
    """Insert ``rows`` without a round trip per row; returns how many rows were inserted
    (rows skipped as conflicts not counted), or -1 when the driver does not say.

    PostgreSQL: one ``INSERT ... SELECT unnest(array), ...`` (one parameter per column, so
    psycopg never parses a huge statement). SQLite: the driver's executemany loop in C over
    plain tuples.
    """
    if not rows:
        return 0
    columns = list(rows[0])
    if is_postgresql(session):
        arrays: list[Any] = []
        unnested = False
        for i, name in enumerate(columns):
            kind = table.c[name].type
            values = [row[name] for row in rows]
            first = values[0]
            if len(values) > 1 and all(v is first or v == first for v in values):
                # the same in every row (bank, import, timestamps, empty fields): one
                # parameter, not an array of copies for psycopg to dump one by one
                arrays.append(bindparam(f"a{i}", first, type_=kind))
                continue
            if isinstance(kind, TypeDecorator):
                kind = kind.impl_instance
            arrays.append(func.unnest(bindparam(f"a{i}", values, type_=ARRAY(kind))))
            unnested = True
        if not unnested:  # every row alike: still one row per item
            arrays[0] = func.unnest(
                bindparam(
                    "a0", [row[columns[0]] for row in rows], type_=ARRAY(_impl(table, columns[0]))
                )
            )
        pg_stmt = pg_insert(table).from_select(columns, select(*arrays))
        if ignore_conflicts:
            pg_stmt = pg_stmt.on_conflict_do_nothing()
        counted = pg_stmt.execution_options(preserve_rowcount=True)
        return _rowcount(session.connection().execute(counted))
    lite_stmt = sqlite_insert(table)
    if ignore_conflicts:
        lite_stmt = lite_stmt.on_conflict_do_nothing()
    connection = session.connection()
    compiled = lite_stmt.compile(dialect=connection.dialect, column_keys=columns)
    processors = compiled._bind_processors
    if list(compiled.positiontup or ()) != columns or not all(
        callable(p) for p in processors.values()
    ):  # columns with Python-side defaults, or processors this does not know
        counted_lite = lite_stmt.execution_options(preserve_rowcount=True)
        return _rowcount(session.connection().execute(counted_lite, rows))
    # The statement compiled once per call and the rows as plain tuples, each column
    # converted by its type's bind processor (if any) once per distinct value: SQLAlchemy's
    # per-row parameter handling cost about as much as the inserts themselves.
    cols: list[list[Any]] = []
    for name in columns:
        column = [row[name] for row in rows]
        process = processors.get(name)
        if callable(process):
            column = _processed(process, column)
        cols.append(column)
    return _rowcount(connection.exec_driver_sql(str(compiled), list(zip(*cols, strict=True))))


def _rowcount(result: Any) -> int:
    count = getattr(result, "rowcount", -1)
    return count if isinstance(count, int) and count >= 0 else -1


def _impl(table: Table, name: str) -> Any:
    kind = table.c[name].type
    return kind.impl_instance if isinstance(kind, TypeDecorator) else kind


def _processed(process: Callable[[Any], Any], column: list[Any]) -> list[Any]:
    done: dict[Any, Any] = {}
    out = []
    for value in column:
        try:
            out.append(done[value])
        except KeyError:
            out.append(done.setdefault(value, process(value)))
        except TypeError:  # not hashable
            out.append(process(value))
    return out


def allocate_ids(session: Session, table: Table, count: int) -> list[int]:
    """``count`` new ids for ``table.id``, so bulk inserts need no RETURNING.

    Writers are serialised (`lock_change_log` on PostgreSQL; SQLite has one writer), so the
    ids are also free of concurrent use.
    """
    if is_postgresql(session):
        sequence = func.pg_get_serial_sequence(table.name, "id")
        stmt = select(func.nextval(sequence)).select_from(func.generate_series(1, count))
        return sorted(int(i) for i in session.scalars(stmt))
    # SQLite: continue from the largest id, as SQLite itself does for INTEGER PRIMARY KEY.
    start = int(session.scalar(select(func.coalesce(func.max(table.c.id), 0))) or 0) + 1
    return list(range(start, start + count))


def holders(
    session: Session, bank_id: int, signal_type: str, keys: Sequence[str]
) -> dict[str, int | None]:
    """Which of ``keys`` the bank holds for ``signal_type``, with the holding row's import
    (None: added by hand), published or not."""
    held: dict[str, int | None] = {}
    if is_postgresql(session):
        # Join with the unnested array: a hash join whatever the planner thinks of the table
        # (a large IN list over a table grown inside this transaction can be planned as a
        # sequential scan per batch, which makes big imports quadratic).
        array = bindparam("keys", list(keys), type_=ARRAY(String()))
        wanted = func.unnest(array).table_valued("k").render_derived(name="wanted")
        stmt = (
            select(ContentSignal.value_key, ContentSignal.import_id)
            .join(wanted, wanted.c.k == ContentSignal.value_key)
            .where(ContentSignal.bank_id == bank_id, ContentSignal.signal_type == signal_type)
        )
        held.update({str(k): i for k, i in session.execute(stmt)})
        return held
    for chunk in chunks(keys):
        held.update(
            {
                str(k): i
                for k, i in session.execute(
                    select(ContentSignal.value_key, ContentSignal.import_id).where(
                        ContentSignal.bank_id == bank_id,
                        ContentSignal.signal_type == signal_type,
                        ContentSignal.value_key.in_(chunk),
                    )
                )
            }
        )
    return held


def held_keys(session: Session, bank_id: int, signal_type: str, keys: list[str]) -> set[str]:
    """Which of ``keys`` the bank already holds for ``signal_type``."""
    return set(holders(session, bank_id, signal_type, keys))
