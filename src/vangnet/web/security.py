"""Secure response headers on every response (a plain ASGI middleware: no per-request cost
beyond adding headers, and streaming responses such as the alert feed pass straight through).

- Content-Security-Policy: only this origin's scripts, styles, images (and blob: URLs for
  revealed media); no framing (``frame-ancestors 'none'``), no plugins, forms post here only.
- ``Cache-Control: no-store`` on every web page and media response: a browser never keeps a
  page or picture of a case on disk.
- nosniff, no referrer, no camera/microphone/geolocation.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "media-src 'self' blob:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)
_COMMON = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
_NO_STORE = [(b"cache-control", b"no-store, max-age=0"), (b"pragma", b"no-cache")]


class SecureHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        private = path.startswith("/ui") and not path.startswith("/ui/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if not (private and k.lower() == b"cache-control")
                ]
                have = {k.lower() for k, _ in headers}
                headers.extend((k, v) for k, v in _COMMON if k not in have)
                if private:
                    headers.extend(_NO_STORE)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
