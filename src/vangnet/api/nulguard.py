"""Refuse NUL characters in request URLs (400) before any route sees them.

PostgreSQL cannot hold NUL in text, so a ``%00`` in a path or query value that reaches a
query fails inside the database driver; refusing it at the door keeps that a clear 400.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send


def _has_nul(scope: Scope) -> bool:
    query: bytes = scope.get("query_string", b"")
    raw_path: bytes = scope.get("raw_path") or b""
    return (
        "\x00" in scope.get("path", "")
        or b"\x00" in query
        or b"%00" in query.lower()
        or b"%00" in raw_path.lower()
    )


class RefuseNul:
    """ASGI middleware: 400 ``invalid_request`` for a URL holding a NUL character."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _has_nul(scope):
            body = {"code": "invalid_request", "message": "NUL characters are not allowed in URLs"}
            await JSONResponse({"error": body}, status_code=400)(scope, receive, send)
            return
        await self.app(scope, receive, send)
