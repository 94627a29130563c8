"""The request guard: a plain ASGI middleware in front of every route.

In this order, before the application reads a single byte of a request body:

1. ``Host`` must name this server (DNS rebinding): missing or malformed 400, other names 421.
2. Credentials: API routes (``/v1``, ``/c``, ``/m``, ``/h``) that take a body need a valid
   API key, web forms (``/ui`` POSTs except the sign-in form) a live session cookie; otherwise
   401 at once, without reading the body, and the connection is closed.
3. Per-address limits for traffic without valid credentials (sign-in posts, refused keys):
   429 (see `vangnet.api.limits`).
4. A body-size cap per route class (uploads, JSON, web forms, sign-in and the rest): a
   declared ``Content-Length`` above it is refused at once, a chunked body as soon as it
   passes it (413); the body must keep coming (idle timeout) and small bodies must be
   complete within a short time (408).

Web forms are read here completely (they are small) and a multipart form is parsed in
memory and handed on URL-encoded, so Starlette's form parser, which spools file parts to
temporary files on disk, never sees one: no upload touches the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol
from urllib.parse import urlencode

from fastapi.concurrency import run_in_threadpool
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vangnet.api.limits import AddressLimits
from vangnet.api.uploads import MultipartReader
from vangnet.auth.roles import Permission, has_permission
from vangnet.config import Settings
from vangnet.errors import VangnetError
from vangnet.http.buckets import Buckets
from vangnet.http.deps import REQUIRED, Services, api_secret, not_allowed
from vangnet.net import is_loopback, limited_as
from vangnet.store.db import writer
from vangnet.web import sessions

log = logging.getLogger(__name__)

MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around an upload's bytes
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
API_PREFIXES = ("/v1/", "/c/", "/m/", "/h/")
UPLOAD_ROUTES = re.compile(
    r"^/(v1/hash|v1/match|v1/classify|h/hash|m/lookup|c/bank/[^/]+/content|v1/streams/[^/]+/frames"
    r"|v1/context/[^/]+/import)/?$"
)
SIGN_IN = "/ui/login"
# The steps of a sign-in that come before a full session (the second factor, enrolment of a
# required one, leaving a half-finished sign-in): they check that sign-in's own CSRF token.
SIGN_IN_STEPS = frozenset({SIGN_IN, "/ui/login/code", "/ui/login/cancel", "/ui/totp"})


class RouteClass(StrEnum):
    UPLOAD = "upload"  # media bytes: VANGNET_MAX_UPLOAD_BYTES
    JSON = "json"  # the API's JSON bodies: VANGNET_HTTP_MAX_JSON_BYTES
    FORM = "form"  # web forms of a signed-in person: VANGNET_HTTP_MAX_FORM_BYTES
    SIGN_IN = "sign_in"  # the sign-in form: VANGNET_HTTP_MAX_SMALL_BYTES
    OTHER = "other"  # pages, status, static files, docs: VANGNET_HTTP_MAX_SMALL_BYTES


class Credential(StrEnum):
    API_KEY = "api_key"
    SESSION = "session"
    NONE = "none"


@dataclass(frozen=True)
class Route:
    kind: RouteClass
    credential: Credential


def classify(method: str, path: str) -> Route:
    """What a request needs before its body is read, by method and path."""
    if path.startswith(API_PREFIXES):
        kind = RouteClass.UPLOAD if UPLOAD_ROUTES.match(path) else RouteClass.JSON
        # GETs carry no body: their routes check the key as before (public ones stay public)
        return Route(kind, Credential.API_KEY if method in BODY_METHODS else Credential.NONE)
    if path.rstrip("/") in SIGN_IN_STEPS:
        return Route(RouteClass.SIGN_IN, Credential.NONE)
    if path.startswith("/ui/") and method in BODY_METHODS:
        return Route(RouteClass.FORM, Credential.SESSION)
    return Route(RouteClass.OTHER, Credential.NONE)


class BodyRefused(StarletteHTTPException):
    """Raised from ``receive`` when a body passes its cap (413) or stalls (408); the guard
    answers in place of whatever the application makes of it."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(status_code=status, detail=message)
        self.code = code
        self.message = message


def host_name(value: str) -> str | None:
    """The host of a ``Host`` header value (no port, lower case), or None if malformed."""
    value = value.strip().lower()
    if not value or len(value) > 255 or any(c in value for c in "/\\@ \t?#"):
        return None
    if value.startswith("["):
        end = value.find("]")
        if end < 0 or (value[end + 1 :] and not re.fullmatch(r":\d{1,5}", value[end + 1 :])):
            return None
        return value[1:end]
    name, colon, port = value.partition(":")
    if colon and not re.fullmatch(r"\d{1,5}", port):
        return None
    return name.rstrip(".") or None


class HostPolicy:
    """Which ``Host`` names this server answers to (see VANGNET_ALLOWED_HOSTS)."""

    def __init__(self, settings: Settings) -> None:
        names = [h.strip().lower().strip("[]") for h in settings.allowed_hosts if h.strip()]
        bound = settings.host.strip().lower().strip("[]")
        if is_loopback(bound):
            names += sorted(LOOPBACK_NAMES)  # only this machine can connect anyway
        elif bound in ("0.0.0.0", "::", ""):
            if not names:
                names = ["*"]  # every address of the machine: no name to hold to
        else:
            names.append(bound)
        self.any = "*" in names
        self.exact = frozenset(n for n in names if not n.startswith("*."))
        self.suffixes = tuple(n[1:] for n in names if n.startswith("*."))

    def allows(self, name: str) -> bool:
        return self.any or name in self.exact or name.endswith(self.suffixes)


def _too_large(kind: RouteClass, cap: int) -> tuple[str, str]:
    code = "media_too_large" if kind is RouteClass.UPLOAD else "body_too_large"
    return code, f"the request body is larger than the limit of {cap} bytes"


def _shape(path: str, status: int, code: str, message: str) -> tuple[bytes, bytes]:
    """The body and content type of a refusal, in the error shape of the route's family."""
    if path.startswith("/v1"):
        body = json.dumps({"error": {"code": code, "message": message}})
    elif path.startswith(("/c/", "/m/", "/h/")):
        body = json.dumps({"message": message})
    else:
        return f"{status} {code}: {message}\n".encode(), b"text/plain; charset=utf-8"
    return body.encode(), b"application/json"


class HttpGuard:
    """ASGI middleware; install it outermost (see `vangnet.api.app.create_app`)."""

    def __init__(
        self,
        app: ASGIApp,
        settings: Settings,
        routes: Iterable[BaseRoute] = (),
        buckets: Buckets | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.hosts = HostPolicy(settings)
        self.limits = AddressLimits(
            concurrent=settings.http_unauth_concurrency,
            per_minute=settings.http_unauth_per_minute,
            buckets=buckets,
        )
        self.refusals = RefusalLog()
        self.permissions = RoutePermissions(routes)

    def cap(self, kind: RouteClass) -> int:
        s = self.settings
        return {
            RouteClass.UPLOAD: s.max_upload_bytes + MULTIPART_OVERHEAD,
            RouteClass.JSON: s.http_max_json_bytes,
            RouteClass.FORM: s.http_max_form_bytes,
            RouteClass.SIGN_IN: s.http_max_small_bytes,
            RouteClass.OTHER: s.http_max_small_bytes,
        }[kind]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        method: str = scope.get("method", "GET")
        headers = Headers(scope=scope)
        client = scope.get("client")
        address = limited_as(str(client[0])) if client else "unknown"  # IPv6: its /64

        async def refuse(status: int, code: str, message: str, *extra: tuple[bytes, bytes]) -> None:
            self.refusals.count(code)
            body, ctype = _shape(path, status, code, message)
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": [
                        (b"content-type", ctype),
                        (b"content-length", str(len(body)).encode()),
                        (b"connection", b"close"),
                        (b"cache-control", b"no-store"),
                        (b"x-content-type-options", b"nosniff"),
                        *extra,
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})

        name = host_name(headers.get("host", ""))
        if name is None:
            await refuse(400, "bad_host", "the request has no valid Host header")
            return
        if not self.hosts.allows(name):
            await refuse(421, "misdirected", "this server does not answer to that host name")
            return

        route = classify(method, path)
        declared_text = headers.get("content-length")
        declared: int | None = None
        if declared_text is not None:
            if not declared_text.strip().isdigit():
                await refuse(400, "bad_length", "the Content-Length header is not a number")
                return
            declared = int(declared_text)
        has_body = bool(declared) or "transfer-encoding" in headers
        retry = (b"retry-after", b"60")

        refusal = await self._credentials(scope, route, method, path, headers)
        if refusal is not None:
            if await self.limits.over_rate_soon(address):
                await refuse(429, "too_many_requests", "too many refused requests", retry)
                return
            await self.limits.attempt_soon(address)
            await refuse(*refusal)
            return

        cap = self.cap(route.kind)
        if declared is not None and declared > cap:
            await refuse(413, *_too_large(route.kind, cap))
            return

        unauthenticated_body = route.kind is RouteClass.SIGN_IN and method in BODY_METHODS
        if unauthenticated_body:
            if await self.limits.over_rate_soon(address):
                await refuse(429, "too_many_requests", "too many sign-in attempts", retry)
                return
            await self.limits.attempt_soon(address)
            if not self.limits.enter(address):
                await refuse(429, "too_many_requests", "too many open requests", retry)
                return
        try:
            if route.kind in (RouteClass.FORM, RouteClass.SIGN_IN) and has_body:
                await self._small_body(scope, receive, send, cap, refuse)
            elif has_body:
                await self._streamed_body(scope, receive, send, route.kind, refuse)
            else:
                await self._counting(scope, receive, send)
        finally:
            if unauthenticated_body:
                self.limits.leave(address)

    async def _counting(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Pass through; a 401 from a route (a GET with a wrong key) counts as an attempt."""
        client = scope.get("client")
        address = limited_as(str(client[0])) if client else "unknown"  # IPv6: its /64

        async def watch(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                await self.limits.attempt_soon(address)
            await send(message)

        await self.app(scope, receive, watch)

    async def _credentials(
        self, scope: Scope, route: Route, method: str, path: str, headers: Headers
    ) -> tuple[int, str, str] | None:
        """Why the request is refused before its body (status, code, message), or None."""
        if route.credential is Credential.NONE:
            return None
        svc: Services = scope["app"].state.services
        if route.credential is Credential.SESSION:
            token = _cookie(headers, sessions.COOKIE)
            if token and len(token) <= 128 and await run_in_threadpool(_session_ok, svc, token):
                return None
            return 401, "login_required", "sign in first"
        if not svc.auth_required:
            return None
        secret = api_secret(headers)
        key = None
        if secret is not None and len(secret) <= 512:
            key = svc.keys.cached(secret) or await run_in_threadpool(svc.keys.verify, secret)
        if key is None:
            return 401, "unauthorized", "a valid API key is required (X-API-Key or bearer token)"
        needed = self.permissions.get(method, path)
        if needed and not any(has_permission(key.role, p) for p in needed):
            return 403, "forbidden", not_allowed(key.role, needed)
        return None

    async def _streamed_body(
        self, scope: Scope, receive: Receive, send: Send, kind: RouteClass, refuse: _Refuse
    ) -> None:
        """The body streams through to the route, counted and timed."""
        idle = self.settings.http_body_idle_seconds
        cap = self.cap(kind)
        seen = 0
        complete = False
        refused: BodyRefused | None = None
        started = False

        async def guarded() -> Message:
            nonlocal seen, refused, complete
            if refused is not None:
                raise refused
            if complete:  # after the body: waiting for a disconnect, with no time limit
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), timeout=idle)
            except TimeoutError:
                refused = BodyRefused(408, "body_timeout", f"no request body for {idle:g} s")
                raise refused from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    refused = BodyRefused(413, *_too_large(kind, cap))
                    raise refused
                complete = not message.get("more_body", False)
            return message

        async def replaced(message: Message) -> None:
            nonlocal started
            if refused is not None and not started:
                return  # the guard answers instead (below)
            started = True
            await send(message)

        with contextlib.suppress(BodyRefused):  # answered below
            await self.app(scope, guarded, replaced)
        if refused is not None and not started:
            await refuse(refused.status_code, refused.code, refused.message)

    async def _small_body(
        self, scope: Scope, receive: Receive, send: Send, cap: int, refuse: _Refuse
    ) -> None:
        """Read a whole (small) form body here, within a deadline; multipart becomes
        URL-encoded in memory; then hand the application the body as if just received."""
        deadline = self.settings.http_small_body_seconds
        body = bytearray()
        try:
            async with asyncio.timeout(deadline):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    body += message.get("body", b"")
                    if len(body) > cap:
                        await refuse(413, *_too_large(RouteClass.FORM, cap))
                        return
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            await refuse(408, "body_timeout", f"the form did not arrive within {deadline:g} s")
            return
        headers = Headers(scope=scope)
        raw_headers = list(scope["headers"])
        if headers.get("content-type", "").lower().startswith("multipart/form-data"):
            try:
                fields = _form_fields(headers["content-type"], bytes(body), cap)
            except VangnetError as error:
                await refuse(error.status, error.code, error.message)
                return
            body = bytearray(urlencode(fields).encode("ascii"))
            raw_headers = [
                (k, v)
                for k, v in raw_headers
                if k.lower() not in (b"content-type", b"content-length")
            ]
            raw_headers += [
                (b"content-type", b"application/x-www-form-urlencoded"),
                (b"content-length", str(len(body)).encode()),
            ]
        replay: list[Message] = [{"type": "http.request", "body": bytes(body), "more_body": False}]

        async def replayed() -> Message:
            if replay:
                return replay.pop()
            return await receive()  # after the body: wait for a disconnect, as servers do

        await self.app({**scope, "headers": raw_headers}, replayed, send)


class RoutePermissions:
    """The permissions each API route requires (its `require` dependency), by method and
    path: a key whose role holds none of them is refused (403) before the body is read."""

    def __init__(self, routes: Iterable[BaseRoute]) -> None:
        self._routes: list[tuple[re.Pattern[str], set[str], tuple[Permission, ...]]] = []
        for route in routes:
            if isinstance(route, APIRoute):
                needed = _required(route.dependant)
                if needed:
                    self._routes.append((route.path_regex, route.methods or set(), needed))

    def get(self, method: str, path: str) -> tuple[Permission, ...]:
        for pattern, methods, needed in self._routes:
            if method in methods and pattern.match(path):
                return needed
        return ()


def _required(dependant: Dependant) -> tuple[Permission, ...]:
    for dependency in dependant.dependencies:
        if dependency.call is not None and dependency.call in REQUIRED:
            return REQUIRED[dependency.call]
        found = _required(dependency)
        if found:
            return found
    return ()


class RefusalLog:
    """Refusals counted by code; a warning sums them up at most once a minute (an attack is
    seen in the log without a line per request)."""

    EVERY_SECONDS = 60.0

    def __init__(self) -> None:
        self.total: Counter[str] = Counter()
        self._since: Counter[str] = Counter()
        self._logged = time.monotonic()

    def count(self, code: str) -> None:
        self.total[code] += 1
        self._since[code] += 1
        now = time.monotonic()
        if now - self._logged >= self.EVERY_SECONDS:
            summary = ", ".join(f"{k} {v}" for k, v in sorted(self._since.items()))
            log.warning("HTTP front refused in the last %.0f s: %s", now - self._logged, summary)
            self._since.clear()
            self._logged = now


class _Refuse(Protocol):
    """The guard's ``refuse`` callback: answer with status, code, message, extra headers."""

    async def __call__(
        self, status: int, code: str, message: str, *extra: tuple[bytes, bytes]
    ) -> None: ...


class FileInFormError(VangnetError):
    code = "unsupported_media_type"
    status = 415


def _form_fields(content_type: str, body: bytes, cap: int) -> list[tuple[str, str]]:
    """The text fields of a multipart web form, parsed in memory; file parts are refused."""
    reader = MultipartReader(content_type, limit=cap, max_parts=256)
    reader.write(body)
    fields: list[tuple[str, str]] = []
    for part in reader.finish():
        if part.filename is not None:
            raise FileInFormError("web forms take no file uploads")
        fields.append((part.name, part.data.decode("utf-8", "replace")))
    return fields


def _cookie(headers: Headers, name: str) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value.strip()
    return None


def _session_ok(svc: Services, token: str) -> bool:
    with Session(writer(svc.engine)) as session:
        found = sessions.lookup(session, token, settings=svc.settings)
        session.commit()
    return found is not None
