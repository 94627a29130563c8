"""Outbound connections under one policy: `policy` (which destinations, options and TLS)
and `client` (HTTP clients that connect only where the policy allows)."""
