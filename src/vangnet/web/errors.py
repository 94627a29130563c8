"""Errors on web pages: a page saying what went wrong (never a traceback); not signed in
redirects to the sign-in page."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from vangnet.web.deps import render


def web_error(request: Request, status: int, code: str, message: str) -> Response:
    if code == "login_required":
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        if request.method == "GET":
            return RedirectResponse(f"/ui/login?next={quote(target)}", status_code=303)
    if request.method != "GET" and request.headers.get("x-csrf-token"):
        # fetch() from the page (reveal): a short text answer
        return Response(f"{code}: {message}", status_code=status, media_type="text/plain")
    return render(
        request, "error.html", {"status": status, "code": code, "message": message}, status=status
    )
