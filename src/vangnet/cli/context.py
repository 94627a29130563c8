"""Opening the store from the CLI: engine from settings, schema brought to head."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import TYPE_CHECKING, Any

from vangnet.config import get_settings

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session


class _LazyModule(ModuleType):
    """A module imported on first attribute access: `vangnet hash` need not load SQLAlchemy."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._target: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        if self._target is None:
            import importlib

            self._target = importlib.import_module(self.__name__)
        return getattr(self._target, attr)


lazy_keys: Any = _LazyModule("vangnet.auth.keys")


@contextmanager
def open_engine() -> Iterator[Engine]:
    from vangnet.audit.chain import attach_anchor
    from vangnet.store.db import make_engine
    from vangnet.store.migrate import ensure_schema

    settings = get_settings()
    engine = attach_anchor(
        make_engine(settings.effective_database_url, home=settings.home), settings
    )
    try:
        ensure_schema(engine)
        yield engine
    finally:
        engine.dispose()


@contextmanager
def session() -> Iterator[Session]:
    """A session; the command commits what it changes (rolled back on error). On SQLite its
    transactions wait for the write lock, so a running server's writes do not make a
    read-then-write command fail (see `vangnet.store.db.writer`)."""
    from sqlalchemy.orm import Session

    from vangnet.store.db import writer

    with open_engine() as engine, Session(writer(engine)) as s:
        yield s
