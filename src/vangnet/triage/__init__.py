"""Investigation: triage of seized collections and disk images, metadata, text, series and
screenshot tracing."""
