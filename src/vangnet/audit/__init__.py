"""The tamper-evident audit log (a hash chain)."""
