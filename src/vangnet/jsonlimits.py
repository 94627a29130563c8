"""Depth and size limits for JSON and text that Vangnet stores from callers.

Every writer of caller-given JSON (stream metadata, bank thresholds and policy, notes) checks
it here, so no stored row can be nested deeper than a listing can render or grow without
bound; and `shown` replaces a stored value that breaks the limits anyway (written before they
existed) by an error marker, so one bad row never makes a listing fail for everyone.

The walks are iterative: a hostile value cannot exhaust the Python stack while being checked.
"""

from __future__ import annotations

import json
from typing import Any

from vangnet.errors import ValidationError

#: Deepest nesting stored (an object or list in an object is depth 2). The JSON serializer of
#: the API stops at about 255 levels; real metadata needs a handful.
MAX_DEPTH = 32
#: Largest JSON value stored in one field, serialized (UTF-8 bytes).
MAX_BYTES = 65_536
#: Longest note, source or series text stored (characters).
MAX_TEXT = 10_000


class JsonLimitError(ValidationError):
    """Caller-given JSON or text is nested too deeply, too large or not storable."""

    code = "json_limit_exceeded"
    status = 422


def depth(value: Any, *, stop_after: int = MAX_DEPTH) -> int:
    """How deeply ``value`` nests objects and lists (a scalar is 0), counting no further than
    ``stop_after + 1``."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        level += 1
        if level > deepest:
            deepest = level
            if deepest > stop_after:
                return deepest
        pending.extend((child, level) for child in children)
    return deepest


def _has_nul(value: Any) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)
    return False


def check_json(
    value: Any, *, what: str, max_depth: int = MAX_DEPTH, max_bytes: int = MAX_BYTES
) -> None:
    """Raise `JsonLimitError` unless ``value`` may be stored: at most ``max_depth`` levels,
    at most ``max_bytes`` serialized, no NUL characters (PostgreSQL cannot store them)."""
    if depth(value, stop_after=max_depth) > max_depth:
        raise JsonLimitError(f"{what} is nested deeper than {max_depth} levels")
    try:
        size = len(json.dumps(value, default=str, ensure_ascii=False).encode())
    except (TypeError, ValueError) as error:
        raise JsonLimitError(f"{what} is not valid JSON: {error}") from None
    if size > max_bytes:
        raise JsonLimitError(f"{what} is larger than {max_bytes} bytes")
    if _has_nul(value):
        raise JsonLimitError(f"{what} contains a NUL character")


def check_text(value: str | None, *, what: str, max_chars: int = MAX_TEXT) -> str | None:
    """``value`` if it may be stored as text: at most ``max_chars``, no NUL characters."""
    if value is None:
        return None
    if len(value) > max_chars:
        raise JsonLimitError(f"{what} is longer than {max_chars} characters")
    if "\x00" in value:
        raise JsonLimitError(f"{what} contains a NUL character")
    return value


def shown(value: Any, *, what: str = "value") -> Any:
    """``value`` as stored, or an error marker when it breaks the limits (so a listing that
    holds it still renders)."""
    if depth(value) > MAX_DEPTH:
        return {
            "error": {
                "code": JsonLimitError.code,
                "message": f"{what} not shown: nested deeper than {MAX_DEPTH} levels",
            }
        }
    return value
