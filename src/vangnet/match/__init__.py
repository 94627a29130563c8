"""Matching: the in-process indexes over every bank, kept current from the change log,
and the service that turns hashes into matches with each bank's own thresholds."""
