"""Opening the store from the CLI: engine from settings, schema brought to head."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from vangnet.config import get_settings
from vangnet.store.db import make_engine
from vangnet.store.migrate import ensure_schema


@contextmanager
def open_engine() -> Iterator[Engine]:
    engine = make_engine(get_settings().effective_database_url)
    try:
        ensure_schema(engine)
        yield engine
    finally:
        engine.dispose()


@contextmanager
def session() -> Iterator[Session]:
    """A session; the command commits what it changes (rolled back on error)."""
    with open_engine() as engine, Session(engine) as s:
        yield s
