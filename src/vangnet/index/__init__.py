"""Matching indexes: PDQ Hamming (multi-index hashing), exact digests; snapshots."""
