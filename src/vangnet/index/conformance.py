"""Conformance kit for indexes: run it on your index plug-in with a signal type it serves
(the built-in indexes run it too).

Usage::

    from vangnet.index.conformance import check_index

    def test_my_index_conforms() -> None:
        check_index(MyIndex, MySignal, ["value 1", "value 2", ...])

`check_index` builds the index from the values (ids 1000, 1001, ...) and checks, raising
`AssertionError` with the first rule broken: ``len``; every value finds its own id at
threshold 0; at the signal type's default threshold the hits are exactly those a brute-force
comparison with `SignalType.distance` gives, with the same distances; ``add`` replaces an
id's value, ``add_pages`` adds page by page (empty pages too), ``remove`` drops ids and
ignores unknown ones; an empty index answers; the
default ``lookup`` applies rules; a snapshot (when `snapshots` is set) round-trips.

`check_plugin` runs both kits on a signal type: `check_signal_type` with its case table, then
`check_index` on the index it names, with the table's valid values.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from vangnet.index.base import Found, MatchRules, SignalIndex, SnapshotUnsupported
from vangnet.index.registry import get_index
from vangnet.signals.base import SignalType
from vangnet.signals.conformance import SignalCases, check_signal_type


def _fail(cls: type[SignalIndex], message: str) -> AssertionError:
    return AssertionError(f"index {getattr(cls, 'name', cls)!r}: {message}")


def _expected(
    signal_type: type[SignalType], values: Sequence[str], ids: Sequence[int], query: str, t: int
) -> dict[int, int]:
    out = {}
    for i, v in zip(ids, values, strict=True):
        d = signal_type.distance(query, v)
        if d <= t:
            out[i] = d
    return out


def _check_answers(
    cls: type[SignalIndex],
    index: SignalIndex,
    signal_type: type[SignalType],
    values: Sequence[str],
    ids: Sequence[int],
    queries: Sequence[str],
    label: str,
) -> None:
    t = signal_type.default_threshold
    got = index.query_many(list(queries), t)
    if len(got) != len(queries):
        raise _fail(cls, f"{label}: query_many returned {len(got)} lists for {len(queries)}")
    for query, hits in zip(queries, got, strict=True):
        found = dict(hits)
        if len(found) != len(hits):
            raise _fail(cls, f"{label}: an id is reported twice for {query!r}")
        expected = _expected(signal_type, values, ids, query, t)
        if found != expected:
            raise _fail(cls, f"{label}: hits for {query!r} are {found}, expected {expected}")


def check_index(
    cls: type[SignalIndex], signal_type: type[SignalType], values: Sequence[str]
) -> None:
    """Check ``cls`` serving ``signal_type`` with ``values`` (canonical, at least two)."""
    if not (isinstance(cls, type) and issubclass(cls, SignalIndex)):
        raise AssertionError(f"{cls!r} is not a SignalIndex subclass")
    if not isinstance(getattr(cls, "name", None), str) or not cls.name:
        raise _fail(cls, "the class variable 'name' must be set")
    values = [signal_type.validate(v) for v in values]
    if len(set(values)) < 2:
        raise _fail(cls, "the kit needs at least two different values")
    ids = [1000 + n for n in range(len(values))]

    empty = cls.build(signal_type, [], [])
    if len(empty) != 0 or empty.query_many(values[:1], signal_type.default_threshold) != [[]]:
        raise _fail(cls, "an empty index must hold 0 values and find nothing")

    index = cls.build(signal_type, values, ids)
    if len(index) != len(values):
        raise _fail(cls, f"len is {len(index)} after building {len(values)} values")
    for value, hits in zip(values, index.query_many(values, 0), strict=True):
        if not any(d == 0 for _, d in hits):
            raise _fail(cls, f"{value!r} does not find itself at threshold 0")
    _check_answers(cls, index, signal_type, values, ids, values, "built")

    # add replaces: the first id now holds the last value
    index.add([values[-1]], [ids[0]])
    now = [values[-1], *values[1:]]
    if len(index) != len(values):
        raise _fail(cls, "add of an existing id must replace it, not add a row")
    _check_answers(cls, index, signal_type, now, ids, values, "after add")
    index.add([values[0]], [ids[0]])

    index.remove([ids[1], 999_999_999])
    rest_values = [v for n, v in enumerate(values) if n != 1]
    rest_ids = [i for n, i in enumerate(ids) if n != 1]
    if len(index) != len(values) - 1:
        raise _fail(cls, "remove must drop the id and ignore unknown ids")
    _check_answers(cls, index, signal_type, rest_values, rest_ids, values, "after remove")

    # add_pages: pages (one per value, and an empty one) into an index holding the first value
    paged = cls.build(signal_type, values[:1], ids[:1])
    paged.add_pages(
        [([], []), *(([v], [i]) for v, i in zip(values[1:], ids[1:], strict=True)), ([], [])]
    )
    if len(paged) != len(values):
        raise _fail(cls, f"len is {len(paged)} after add_pages of {len(values) - 1} to 1 value")
    _check_answers(cls, paged, signal_type, values, ids, values, "after add_pages")

    strict = MatchRules(threshold=0)
    judged = index.lookup(
        [values[0]],
        signal_type.default_threshold,
        lambda found: {i: strict for i in found if i == ids[0]},
    )
    if not judged[0] or not all(isinstance(f, Found) and f.id == ids[0] for f in judged[0]):
        raise _fail(cls, "lookup must keep exactly the ids the rules accept")

    if cls.snapshots:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "index.snap"
            try:
                index.save(path)
                again = cls.load(signal_type, path)
            except SnapshotUnsupported as error:
                raise _fail(cls, "snapshots is on but save / load are not implemented") from error
            if len(again) != len(index):
                raise _fail(cls, "a loaded snapshot holds a different number of values")
            _check_answers(cls, again, signal_type, rest_values, rest_ids, values, "snapshot")


def check_plugin(signal_type: type[SignalType], cases: SignalCases) -> None:
    """The signal-type kit, then the index kit on the index ``signal_type`` names."""
    check_signal_type(signal_type, cases)
    canonical = [signal_type.validate(v) for v in cases.valid]
    check_index(get_index(signal_type.index), signal_type, canonical)
