"""`vangnet serve` and `vangnet demo`."""

from __future__ import annotations

import contextlib
import subprocess
import threading

import typer

from vangnet.cli.output import console, err_console
from vangnet.config import Settings, get_settings, reset_settings
from vangnet.errors import ExitCode


def run_server(settings: Settings) -> None:
    """Serve the app with Granian (chosen by measurement: see benchmarks/bench_serving.py and
    docs/security/http.md): ``settings.serve_workers`` worker processes, each running the
    app (index pollers, live monitor); a header read timeout against slow headers; at most
    ``http_max_connections`` requests at once per worker; no access log (request lines
    carry hashes in query strings, which logs must not hold)."""
    import os

    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.http import HTTP1Settings
    from granian.log import LogLevels
    from granian.server import Server

    # Workers are new processes: they build the app from these settings (the environment
    # carries the command line's overrides to them; see `vangnet.api.app.app_from_environment`).
    os.environ["VANGNET_HOST"] = settings.host
    os.environ["VANGNET_PORT"] = str(settings.port)
    os.environ["VANGNET_REQUIRE_API_KEYS"] = "true" if settings.require_api_keys else "false"
    os.environ["VANGNET_SERVE_WORKERS"] = str(settings.serve_workers)
    reset_settings()
    # Rate limits count per server, not per worker: the workers share their token buckets.
    from vangnet.http.buckets import SHARED_BUCKETS_ENV, SharedBuckets

    shared = SharedBuckets.create() if settings.serve_workers > 1 else None
    if shared is not None:
        os.environ[SHARED_BUCKETS_ENV] = str(shared.path)
    # A Ctrl-C or SIGTERM that reaches a worker before it has its own handlers (while it
    # builds the app) is held back until they are in place, not lost.
    from vangnet.children import block_stop_signals_in_children

    block_stop_signals_in_children()
    level = settings.log_level.lower()
    server = Server(
        "vangnet.api.app:app_from_environment",
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=settings.serve_workers,
        loop=Loops.asyncio,
        http=HTTPModes.http1,
        websockets=False,
        http1_settings=HTTP1Settings(
            header_read_timeout=int(settings.http_header_timeout_seconds * 1000),
            keep_alive=True,
        ),
        backpressure=settings.http_max_connections,
        log_level=LogLevels(level if level in {m.value for m in LogLevels} else "info"),
        log_access=False,
        respawn_failed_workers=True,
        # Open alert feeds (Server-Sent Events) would otherwise hold a shutdown forever.
        workers_kill_timeout=SHUTDOWN_SECONDS,
    )
    try:
        server.serve()
    finally:
        if shared is not None:
            shared.remove()
            os.environ.pop(SHARED_BUCKETS_ENV, None)


SHUTDOWN_SECONDS = 10


def serve_command(
    host: str | None = typer.Option(None, "--host", help="Bind address (default VANGNET_HOST)."),
    port: int | None = typer.Option(None, "--port", help="Port (default VANGNET_PORT)."),
    no_auth: bool = typer.Option(
        False, "--no-auth", help="Demo mode without API keys; refused unless bound to loopback."
    ),
    workers: int | None = typer.Option(
        None, "--workers", min=1, max=64, help="Worker processes (default VANGNET_SERVE_WORKERS)."
    ),
) -> None:
    """Run the HTTP API (HMA-compatible routes and /v1), keeping indexes current.

    Example: vangnet serve --host 127.0.0.1 --port 5000
    """
    from vangnet.net import is_loopback
    from vangnet.signals.classifiers.enabled import enabled_names

    base = get_settings()
    enabled_names(base)  # a classifier that is not installed: a settings error, before serving
    overrides: dict[str, object] = {}
    if host is not None:
        overrides["host"] = host
    if port is not None:
        overrides["port"] = port
    if no_auth:
        overrides["require_api_keys"] = False
    if workers is not None:
        overrides["serve_workers"] = workers
    settings = base.model_copy(update=overrides)
    if not settings.require_api_keys and not is_loopback(settings.host):
        err_console.print(
            "[bold red]error[/] (insecure_config): API keys can be turned off only when bound to "
            "a loopback address"
        )
        raise typer.Exit(ExitCode.USAGE)
    from vangnet.cli.context import open_engine
    from vangnet.web.deployment import insecure_reasons

    with open_engine() as engine:
        reasons = insecure_reasons(settings, engine)
    if reasons:
        err_console.print(
            f"[bold red]error[/] (insecure_config): refusing to serve on {settings.host} with "
            "demo settings:\n  - " + "\n  - ".join(reasons),
            highlight=False,
        )
        raise typer.Exit(ExitCode.USAGE)
    run_server(settings)


def demo_command(
    port: int | None = typer.Option(None, "--port", help="Port (default VANGNET_PORT)."),
    setup_only: bool = typer.Option(
        False, "--setup-only", help="Build the demo bank, print how to query it, and exit."
    ),
) -> None:
    """Start the server on SQLite with a demo bank of pictures the demo draws itself.

    Example: vangnet demo
    """
    from vangnet.cli.demo.prepare import prepare_demo

    settings = get_settings().model_copy(update={"host": "127.0.0.1", "require_api_keys": True})
    if port is not None:
        settings = settings.model_copy(update={"port": port})
    info = prepare_demo(settings)
    console.print(info.instructions, markup=False, highlight=False, soft_wrap=True)
    if setup_only:
        return
    stop = _start_live_demo(settings)
    try:
        _serve_in_child(settings.port)
    finally:
        stop.set()


class _Terminated(Exception):
    """The demo was sent SIGTERM: it stops the way Ctrl-C stops it."""


def _serve_in_child(port: int) -> None:
    """`vangnet serve` on 127.0.0.1 in a fresh process (it inherits the demo's environment).
    The demo's own threads (webhook receiver, alert printer) run in this process, and a server
    that forks its workers from a process with threads can deadlock them: a lock a thread
    held at the fork (an import lock, say) stays held in the worker forever.

    Ctrl-C (the terminal signals the demo and the server's processes at once) and SIGTERM
    stop the server, and the demo waits for it; a second Ctrl-C kills it at once (its workers
    die with it). The server dies with the demo if the demo is killed (`kill -9`)."""
    import signal
    import sys

    command = [sys.executable, "-m", "vangnet.cli.demo.server", "--port", str(port)]

    def terminated(signum: int, frame: object) -> None:
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, terminated)
    child = subprocess.Popen(command)
    try:
        try:
            child.wait()
        except KeyboardInterrupt:
            _stop_server(child, signal.SIGINT)
            raise
        except _Terminated:
            _stop_server(child, signal.SIGTERM)
            raise typer.Exit(128 + signal.SIGTERM) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        if child.poll() is None:  # an error of the demo's own: leave nothing serving
            child.kill()
            child.wait()


def _stop_server(child: subprocess.Popen[bytes], signum: int) -> None:
    """Pass the stop on to the server and wait for it (bounded); a second Ctrl-C or SIGTERM,
    or a server that does not stop in time, kills it."""
    try:
        child.send_signal(signum)  # Ctrl-C reached it too; a SIGTERM or `kill` did not
        child.wait(timeout=SHUTDOWN_SECONDS + 5)
    except (KeyboardInterrupt, _Terminated, subprocess.TimeoutExpired):
        child.kill()
        with contextlib.suppress(KeyboardInterrupt, _Terminated):
            child.wait()


def _start_live_demo(settings: Settings) -> threading.Event:
    """Queue the demo stream, receive its webhooks here, print alerts as they land."""
    import os

    from vangnet.cli.demo.live import DemoReceiver, print_alerts, queue_demo_stream, write_demo_clip
    from vangnet.config import reset_settings

    def say(text: str) -> None:
        console.print(f"[bold]demo[/] {text}", highlight=False)

    receiver = DemoReceiver(say)
    # The receiver is on 127.0.0.1: allow loopback (only) as a webhook destination, unless
    # the operator set the egress policy already.
    os.environ.setdefault("VANGNET_EGRESS_ALLOW", '["loopback"]')
    os.environ["VANGNET_WEBHOOK_URL"] = receiver.url
    os.environ["VANGNET_WEBHOOK_SECRET"] = receiver.secret
    reset_settings()
    clip = write_demo_clip(settings)
    stream_id = queue_demo_stream(settings, clip)
    console.print(
        f"Live demo: stream {stream_id} plays {clip} (looped, real time) through the monitor;\n"
        "banked picture #7 appears about 4.5 s in. Alerts, webhooks and evidence print below.\n"
        f"  .venv/bin/vangnet streams list      .venv/bin/vangnet alerts list\n"
        f'  curl -s -H "X-API-Key: $KEY" http://127.0.0.1:{settings.port}/v1/alerts\n'
        f'  curl -sN -H "X-API-Key: $KEY" http://127.0.0.1:{settings.port}/v1/alerts/feed\n',
        markup=False,
        highlight=False,
        soft_wrap=True,
    )
    stop = threading.Event()
    threading.Thread(target=print_alerts, args=(settings, say, stop), daemon=True).start()
    return stop
