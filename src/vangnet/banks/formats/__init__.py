"""Bank import/export formats: VICS JSON, HMA CSV, plain hash lists."""
