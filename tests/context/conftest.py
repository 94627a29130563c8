"""Fixtures of the context tests: the test evaluator registered for one test."""

from __future__ import annotations

from context.case_data import test_evaluator

__all__ = ["test_evaluator"]
