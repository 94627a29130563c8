"""A webhook endpoint for trying Vangnet out: verifies each delivery and reports it.

`vangnet webhooks listen` and `vangnet demo` run it on a loopback address. A platform's own
endpoint does the same three checks with `vangnet.actions.webhooks.verify`: the signature
over the raw body, the timestamp within 5 minutes, and an idempotency key not seen before
(a retry of a delivery already handled is acknowledged and ignored).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from vangnet.actions.webhooks import IDEMPOTENCY_HEADER, WebhookSignatureError, verify


class WebhookReceiver:
    """Serves on ``host:port`` (0: any free port) in a daemon thread; ``report`` gets one
    dict per delivery: ``{"ok", "event", "id", "data" | "error"}``."""

    def __init__(
        self,
        secret: str,
        report: Callable[[dict[str, Any]], None],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.secret = secret
        seen: set[str] = set()
        key = secret.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
                headers = dict(self.headers.items())
                status = 200
                try:
                    repeat = headers.get(IDEMPOTENCY_HEADER, "") in seen
                    if repeat:  # handled already: acknowledge, do nothing twice
                        report({"ok": True, "repeat": True, "id": headers[IDEMPOTENCY_HEADER]})
                    else:
                        verify(body, headers, secret=key, seen=seen)
                        event = json.loads(body)
                        report(
                            {"ok": True, "event": event["event"], "id": event["id"]}
                            | {"data": event.get("data", {})}
                        )
                except (WebhookSignatureError, ValueError, KeyError) as error:
                    status = 401
                    report({"ok": False, "error": str(error)})
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}/vangnet-webhooks"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
