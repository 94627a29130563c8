"""Response models derived from the domain's `TypedDict`s, so the OpenAPI schema describes
the case document (and the queue) with one source of truth: `vangnet.cases.document`.

The domain's types stay `typing.TypedDict`s: plain dicts at runtime, the contract of report
plug-ins. Pydantic takes a `typing.TypedDict` only from Python 3.12 on, and would drop a key
a type does not declare; so `response_model` makes a pydantic model of each type, key for key
(the same names and value types; a key that may be missing is left out of the answer when
missing: routes use ``response_model_exclude_unset=True``), that **forbids undeclared keys**:
a key added to the document without being declared makes the route fail loudly (and the
tests that read it) instead of vanishing from the answer. The objects copied from stored
JSON (`vangnet.cases.document.STORED`) pass other keys on instead: an old row must not make
a case unreadable, and nothing is dropped.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from typing import Any, get_args, get_origin, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, create_model

from vangnet.cases.document import STORED

_MODELS: dict[type, type[BaseModel]] = {}
_PLAIN = (int, str, float, bool, type(None))


def _no_default(schema: dict[str, Any]) -> None:
    """A key that may be missing has no default in the schema: it is absent, never null."""
    schema.pop("default", None)


def response_model(cls: type) -> type[BaseModel]:
    """The pydantic model of the `TypedDict` ``cls`` (made once, then reused): the same keys
    and value types, nested `TypedDict`s made models too, undeclared keys forbidden, the
    `TypedDict`'s name and docstring (they title and describe the OpenAPI schema); other
    keys passed on for the types of `STORED`."""
    if not typing.is_typeddict(cls):
        raise TypeError(f"{cls!r} is not a TypedDict")
    model = _MODELS.get(cls)
    if model is not None:
        return model
    required: frozenset[str] = cls.__required_keys__  # type: ignore[attr-defined]
    fields: dict[str, Any] = {}
    for key, hint in get_type_hints(cls).items():
        value = _model_of(hint, f"{cls.__name__}.{key}")
        if key in required:
            fields[key] = (value, ...)
        else:
            fields[key] = (value, Field(default=None, json_schema_extra=_no_default))
    config = ConfigDict(extra="allow" if cls in STORED else "forbid")
    model = create_model(cls.__name__, __config__=config, __doc__=cls.__doc__, **fields)
    _MODELS[cls] = model
    return model


def _model_of(hint: Any, where: str) -> Any:
    """``hint`` with every `TypedDict` in it made a model; a kind of type not handled here is
    an error (at import: the app does not start with a type it cannot describe)."""
    if hint is Any or hint in _PLAIN:
        return hint
    if typing.is_typeddict(hint):
        return response_model(hint)
    origin, args = get_origin(hint), get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return typing.Union[tuple(_model_of(a, where) for a in args)]  # noqa: UP007
    if origin is list and len(args) == 1:
        return list[_model_of(args[0], where)]  # type: ignore[misc]
    if origin in (dict, Mapping) and len(args) == 2:
        return dict[_model_of(args[0], where), _model_of(args[1], where)]  # type: ignore[misc]
    raise TypeError(f"{where}: no response schema for the type {hint!r}")
