"""The FastAPI application: HMA-compatible routes at the root, the native API under /v1."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from types import FrameType

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

import vangnet
from vangnet.api import context, context_accounts, deterrence, hma, live, reports, review, v1
from vangnet.api.guard import HttpGuard
from vangnet.api.nulguard import RefuseNul
from vangnet.audit.chain import attach_anchor
from vangnet.audit.config import record_config
from vangnet.children import STOP_SIGNALS, die_with_parent, unblock_stop_signals
from vangnet.config import Settings, get_settings
from vangnet.errors import VangnetError
from vangnet.http.buckets import SHARED_BUCKETS_ENV, Buckets, LocalBuckets, SharedBuckets
from vangnet.http.deps import KeyCache, Services
from vangnet.http.feed import EventHub
from vangnet.http.quotas import RateLimitedError, RateLimiter
from vangnet.live.monitor import Monitor
from vangnet.match.indexes import SignalIndexes
from vangnet.match.service import Matcher
from vangnet.media.limits import MediaLimits
from vangnet.media.limits import configure as configure_media
from vangnet.net import is_loopback
from vangnet.store.db import make_engine
from vangnet.store.migrate import ensure_schema
from vangnet.web import app as web
from vangnet.web.deployment import check_deployment
from vangnet.web.errors import web_error

log = logging.getLogger(__name__)


def _native(request: Request) -> bool:
    return request.url.path.startswith("/v1")


def _error(request: Request, status: int, code: str, message: str) -> Response:
    if request.url.path.startswith("/ui"):
        return web_error(request, status, code, message)
    if _native(request):
        return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)
    # OpenMediaMatch's error shape
    return JSONResponse({"message": message}, status_code=status)


class StreamResumer:
    """Calls `Monitor.resume` every ``every`` seconds in a daemon thread: streams queued by
    ``vangnet streams start`` (another process) or left by a worker that died run here."""

    def __init__(self, monitor: Monitor, *, every: float = 2.0) -> None:
        self._monitor = monitor
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vangnet-resume", daemon=True)

    def start(self) -> StreamResumer:
        self._thread.start()
        return self

    def _run(self) -> None:
        while True:
            try:
                taken = self._monitor.resume()
                if taken:
                    log.info("took over streams %s", ", ".join(map(str, taken)))
            except Exception:  # the database may be away for a while; keep trying
                log.exception("could not look for streams to resume")
            if self._stop.wait(self._every):
                return

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join(timeout=30)


def _end_feeds_on_signal(events: EventHub) -> Callable[[], None]:
    """A serving worker is stopped with SIGTERM/SIGINT, then waits for open connections to
    end before the app's shutdown runs: open alert feeds would hold it until killed. Chain a
    handler that ends them (the server's own handling of the signal is unchanged: its event
    loop learns of the signal through the wakeup fd). Returns a function that unchains."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def handler(signum: int, frame: FrameType | None) -> None:
        # not `events.close()` here: the interrupted code may hold the hub's lock
        threading.Thread(target=events.close, name="vangnet-end-feeds", daemon=True).start()
        before = previous.get(signal.Signals(signum))
        if callable(before):
            before(signum, frame)

    for sig in previous:
        signal.signal(sig, handler)

    def restore() -> None:
        for sig, before in previous.items():
            signal.signal(sig, signal.SIG_DFL if before is None else before)

    return restore


def _one_stop_per_worker() -> None:
    """Let the serving worker's own stop handlers (Granian's, on this event loop) run once.

    Granian 2.8's stop event blocks the worker for good when it is set a second time before
    the server has taken the first (a Ctrl-C reaches the worker and its parent at once, and
    the parent then sends SIGTERM): the worker hangs until its parent kills it. The first
    SIGINT or SIGTERM stops the worker; later ones change nothing."""
    loop = asyncio.get_running_loop()
    installed: dict[int, asyncio.Handle] = getattr(loop, "_signal_handlers", {})
    handles = {sig: installed[sig] for sig in STOP_SIGNALS if sig in installed}
    if not handles:
        return
    fired = threading.Event()

    def once(handle: asyncio.Handle) -> None:
        if not fired.is_set():
            fired.set()
            handle._run()

    for sig, handle in handles.items():
        loop.add_signal_handler(sig, once, handle)


def create_app(
    settings: Settings | None = None,
    *,
    engine: Engine | None = None,
    start_background: bool = True,
    end_feeds_on_signal: bool = False,
    buckets: Buckets | None = None,
) -> FastAPI:
    """Build the app. The database schema is brought to head and indexes loaded at start.
    ``buckets``: where request-rate limits keep their token buckets (default: in this
    process; `vangnet serve --workers N` passes the file its workers share)."""
    cfg = settings or get_settings()
    own_buckets = buckets is None
    buckets = buckets if buckets is not None else rate_buckets(cfg, LocalBuckets())
    configure_media(MediaLimits.from_settings(cfg))  # the process's decode caps

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stopping = False
        if end_feeds_on_signal:  # a serving worker, whose server's handlers are in place now
            _one_stop_per_worker()
            # A Ctrl-C or SIGTERM that reached it while it built the app (held back since
            # its fork: see `children`) stops it once it has started; it takes over no
            # streams then, only to hand them back.
            stopping = unblock_stop_signals()
        own_engine = engine is None
        eng = (
            engine if engine is not None else make_engine(cfg.effective_database_url, home=cfg.home)
        )
        attach_anchor(eng, cfg)  # audit entries written through it use the key of ``cfg``
        try:
            ensure_schema(eng)
            check_deployment(cfg, eng)  # no demo settings on a network address
            record_config(eng, cfg)
            indexes = SignalIndexes(eng, snapshot_dir=cfg.snapshot_dir)
            indexes.load()
            if start_background:
                indexes.start(
                    poll_seconds=cfg.index_poll_seconds,
                    snapshot_seconds=cfg.index_snapshot_seconds,
                )
            try:
                events = EventHub()
                # The monitor shares the indexes (it neither starts nor stops them).
                monitor = Monitor(eng, indexes=indexes, on_event=events.publish, settings=cfg)
                app.state.services = Services(
                    settings=cfg,
                    engine=eng,
                    indexes=indexes,
                    matcher=Matcher(indexes, settings=cfg),
                    auth_required=cfg.require_api_keys or not is_loopback(cfg.host),
                    keys=KeyCache(eng),
                    monitor=monitor,
                    events=events,
                    rates=RateLimiter.from_settings(cfg, buckets),
                    classifiers=monitor.classifiers,
                )
                restore = _end_feeds_on_signal(events) if end_feeds_on_signal else None
                try:
                    monitor.start()
                    resumer = StreamResumer(monitor) if start_background and not stopping else None
                    try:
                        if resumer is not None:
                            resumer.start()
                        yield
                    finally:
                        if resumer is not None:
                            resumer.stop()
                finally:
                    if restore is not None:
                        restore()
                    events.close()  # open feeds end
                    # Streams stay wanted: a restarted server (or a worker) resumes them.
                    monitor.close(end_streams=False)
            finally:
                indexes.stop()
            if start_background:
                indexes.save_snapshot()
        finally:
            if own_engine:
                eng.dispose()
            if own_buckets:
                buckets.close()  # connections to Redis, if any (reopened on the next use)

    app = FastAPI(
        title="Vangnet",
        version=vangnet.__version__,
        summary="Hash, bank and match images and video against hash lists of known material.",
        lifespan=lifespan,
    )

    @app.exception_handler(VangnetError)
    async def vangnet_error(request: Request, exc: VangnetError) -> Response:
        response = _error(request, exc.status, exc.code, exc.message)
        if isinstance(exc, RateLimitedError):
            response.headers["Retry-After"] = exc.retry_after_header
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg')}" for e in exc.errors()
        )
        return _error(request, 400, "invalid_request", problems or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(request, exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error(request, 500, "internal_error", "internal error; see the server log")

    app.add_middleware(RefuseNul)
    app.include_router(hma.router)
    app.include_router(v1.router)
    app.include_router(live.router)
    app.include_router(review.router)
    app.include_router(reports.router)
    app.include_router(context.router)
    app.include_router(context_accounts.router)
    app.include_router(deterrence.router)
    web.install(app)
    # Outermost: Host, credentials, limits and body caps before any route reads a byte.
    doors = (hma, v1, live, review, reports, context, context_accounts, deterrence)
    api_routes = [r for m in doors for r in m.router.routes]
    app.add_middleware(HttpGuard, settings=cfg, routes=api_routes, buckets=buckets)
    return app


def app_from_environment() -> FastAPI:
    """The app of one `vangnet serve` worker process, from the settings in force (the serving
    process passes its command line's overrides in the environment). A worker dies with the
    serving process: `kill -9` of `vangnet serve` leaves no worker serving on alone."""
    die_with_parent()
    cfg = get_settings()
    logging.basicConfig(
        level=cfg.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every webhook request line at INFO; a webhook URL may carry a token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    shared = os.environ.get(SHARED_BUCKETS_ENV)  # made by the serving process
    own: Buckets = SharedBuckets(shared) if shared else LocalBuckets()
    return create_app(cfg, end_feeds_on_signal=True, buckets=rate_buckets(cfg, own))


def rate_buckets(cfg: Settings, own: Buckets) -> Buckets:
    """Where the rate limits keep their buckets: in Redis when ``VANGNET_RATE_LIMIT_REDIS_URL``
    is set (shared by every server using it; ``own``, the server's own buckets, limit requests
    while Redis cannot be reached), else ``own``."""
    if cfg.rate_limit_redis_url is None:
        return own
    from vangnet.http.redis_buckets import RedisBuckets

    return RedisBuckets.connect(
        cfg.rate_limit_redis_url.get_secret_value(),
        prefix=cfg.rate_limit_redis_prefix,
        fallback=own,
        timeout=cfg.rate_limit_redis_timeout_seconds,
        retry_seconds=cfg.rate_limit_redis_retry_seconds,
    )
