"""Fixtures of the context tests: the test evaluator registered for one test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from context.case_data import CorridorAndPrice
from vangnet.context.population import REGISTRY


@pytest.fixture
def test_evaluator() -> Iterator[type[CorridorAndPrice]]:
    """`CorridorAndPrice` installed as a context evaluator (unregistered afterwards)."""
    REGISTRY.register(CorridorAndPrice)
    try:
        yield CorridorAndPrice
    finally:
        REGISTRY.unregister(CorridorAndPrice.name)
