"""HTTP API: HMA/OpenMediaMatch-compatible routes and the native /v1 API."""
