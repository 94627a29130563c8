"""Vangnet benchmarks: Vangnet against its peers on the same data, in the same run.

Run them with ``scripts/bench`` (see benchmarks/README.md).
"""
