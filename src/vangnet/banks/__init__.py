"""Hash lists (banks): categories, provenance, import/export formats, service."""
