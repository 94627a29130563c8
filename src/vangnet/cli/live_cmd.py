"""`vangnet watch`, `vangnet worker`, `vangnet streams ...`, `vangnet alerts ...`."""

from __future__ import annotations

import signal
import threading
import time
from typing import TYPE_CHECKING, Any

import typer
from rich.live import Live
from rich.table import Table

from vangnet.cli.context import open_engine, session
from vangnet.cli.output import console, err_console, print_json, table, user_errors
from vangnet.config import get_settings
from vangnet.errors import ExitCode, ValidationError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from vangnet.live.monitor import Monitor

streams_app = typer.Typer(help="Watched live streams.", no_args_is_help=True)
alerts_app = typer.Typer(
    help="Alerts raised on live streams: matches and review-now alerts.", no_args_is_help=True
)


def _audit(s: Session, action: str, target: str, **fields: Any) -> None:
    """Record a change in the audit log, attributed to the OS user running the CLI."""
    from vangnet.audit import chain

    chain.record(s, actor=chain.cli_actor(), action=action, target=target, **fields)


def _metadata(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValidationError(f"--meta expects key=value, got {pair!r}")
        out[key] = int(value) if value.isdigit() else value
    return out


def _print_record(row: dict[str, Any], as_json: bool, message: str | None = None) -> None:
    """One record: a JSON line, a message, or a field/value table."""
    if as_json:
        print_json(row)
    elif message is not None:
        console.print(message, highlight=False)
    else:
        table(None, ["field", "value"], [[k, v] for k, v in row.items()])


def _status_table(monitor: Monitor) -> Table:
    t = Table(title="vangnet watch", expand=False)
    columns = ("stream", "url", "state", "fps", "samples", "matches", "alerts", "dropped", "p50")
    for col in (*columns, "behind", "lost", "evidence lost"):
        t.add_column(col)
    for s in monitor.status():
        latency = "" if s["latency_p50_ms"] is None else f"{s['latency_p50_ms']:.0f} ms"
        state = s["state"] + (f" ({s['reason']})" if s["reason"] else "")
        behind = "" if s["behind_live_s"] is None else f"{s['behind_live_s']:.1f} s"
        if s["falling_behind"]:
            behind = f"[bold red]{behind} FALLING BEHIND[/]"
        lost = f"{s['input_lost_seconds']:.1f} s" if s["input_discontinuities"] else ""
        t.add_row(
            str(s["id"]),
            str(s["url"]),
            state,
            f"{s['sampled_fps']:.1f}",
            str(s["samples"]),
            str(s["matches"]),
            str(s["alerts"]),
            str(s["dropped"]),
            latency,
            behind,
            lost,
            str(s["evidence_lost"] or ""),
        )
    return t


def _until_done(monitor: Monitor, stop: threading.Event, duration: float | None) -> None:
    deadline = None if duration is None else time.monotonic() + duration
    while not stop.wait(0.25):
        if deadline is not None and time.monotonic() >= deadline:
            return
        runtimes = list(monitor.runtimes.values())
        if runtimes and all(rt.state.finished for rt in runtimes):
            return


def watch_command(
    urls: list[str] = typer.Argument(
        ..., help="Stream URLs (rtmp://, rtsp://, http(s):// HLS or FLV, udp://, srt://) or files."
    ),
    fps: float | None = typer.Option(
        None, "--fps", help="Samples per second (default VANGNET_LIVE_SAMPLE_FPS)."
    ),
    external_id: str | None = typer.Option(None, "--id", help="The platform's id for the stream."),
    meta: list[str] = typer.Option([], "--meta", help="Platform metadata key=value (repeatable)."),
    duration: float | None = typer.Option(
        None, "--duration", min=0.1, help="Stop after this many seconds."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON event per line."),
) -> None:
    """Watch live streams in the foreground: match every sampled frame, alert, act.

    Example: vangnet watch rtmp://127.0.0.1:1935/live/room1 --meta account=alice
    Example: vangnet watch udp://127.0.0.1:5000 recording.mp4 --json
    """
    from vangnet.live.monitor import Monitor

    stop = threading.Event()
    failed = False
    with user_errors(as_json=as_json), open_engine() as engine:
        metadata = _metadata(meta)
        live: Live | None = None

        def on_event(event: dict[str, Any]) -> None:
            if as_json:
                print_json(event)
            elif event["event"] == "alert":
                target = live.console if live is not None else console
                target.print(
                    f"[bold red]ALERT[/] stream {event['stream']} at {event['stream_time']} s: "
                    f"{event['bank']} item {event['content_id']} ({event['category'] or '-'}), "
                    f"distance {event['distance']}, {event['rule']}",
                    highlight=False,
                )
            elif event["event"] == "review_now":
                target = live.console if live is not None else console
                target.print(
                    f"[bold magenta]REVIEW NOW[/] stream {event['stream']} at "
                    f"{event['stream_time']} s (alert {event['alert_id']}, classifier scores, "
                    f"not a match): {event['summary']}; {event['rule']}",
                    highlight=False,
                )
            elif event["event"] in ("falling_behind", "caught_up"):
                target = live.console if live is not None else console
                text = event.get("reason") or f"caught up ({event['behind_live_s']} s behind)"
                style = "bold yellow" if event["event"] == "falling_behind" else "green"
                target.print(f"[{style}]stream {event['stream']}[/]: {text}", highlight=False)
            elif event["event"] == "evidence_lost":
                target = live.console if live is not None else console
                target.print(
                    f"[bold red]stream {event['stream']}[/]: {event['frames']} frames of alert "
                    f"{event['alert_id']} not kept as evidence: {event['reason']}",
                    highlight=False,
                )

        monitor = Monitor(
            engine, settings=get_settings(), on_event=on_event, keep_finished_seconds=None
        ).start()
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            from vangnet.audit.chain import cli_actor, record_now
            from vangnet.net import display_url

            for url in urls:
                stream_id = monitor.add_stream(
                    url, external_id=external_id, metadata=metadata, fps=fps
                )
                record_now(
                    engine,
                    actor=cli_actor(),
                    action="stream.start",
                    target=f"stream:{stream_id}",
                    after={"url": display_url(url), "external_id": external_id, "via": "watch"},
                )
            if as_json:
                _until_done(monitor, stop, duration)
            else:
                with Live(_status_table(monitor), console=console, refresh_per_second=2) as live:
                    updater = threading.Thread(target=_until_done, args=(monitor, stop, duration))
                    updater.start()
                    while updater.is_alive():
                        live.update(_status_table(monitor))
                        updater.join(0.5)
                    live.update(_status_table(monitor))
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            failed = any(rt.state.value == "failed" for rt in monitor.runtimes.values())
            monitor.close(end_streams=True, reason="watch stopped")
    if failed:
        raise typer.Exit(ExitCode.UNREADABLE_INPUT)


def worker_command(
    poll: float = typer.Option(
        2.0, "--poll", min=0.1, help="Seconds between looks for new streams."
    ),
) -> None:
    """Run the streams started with `vangnet streams start` or the API, in this process.

    Several workers may share a database: each takes streams no live worker holds, and takes
    over the streams of a worker that died (after VANGNET_LIVE_LEASE_SECONDS, 10 s).

    Example: vangnet worker
    """
    from vangnet.live.monitor import Monitor

    stop = threading.Event()
    with user_errors(), open_engine() as engine:
        monitor = Monitor(engine, settings=get_settings()).start()
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
        err_console.print(f"worker {monitor.worker} running; Ctrl-C to stop")
        try:
            while True:
                monitor.resume()
                if stop.wait(poll):
                    break
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            monitor.close(end_streams=False)


@streams_app.command("start")
def streams_start(
    url: str = typer.Argument(..., help="Stream URL or file."),
    fps: float | None = typer.Option(None, "--fps"),
    external_id: str | None = typer.Option(None, "--id"),
    meta: list[str] = typer.Option([], "--meta", help="key=value (repeatable)."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Queue a stream for `vangnet worker` / `vangnet serve` to watch.

    Example: vangnet streams start rtmp://127.0.0.1/live/room1 --id room1 --meta account=alice
    """
    from vangnet.live.streams import create_stream, stream_dict

    with user_errors(as_json=as_json), session() as s:
        row = create_stream(
            s,
            url=url,
            settings=get_settings(),
            external_id=external_id,
            metadata=_metadata(meta),
            fps=fps,
        )
        out = stream_dict(row)
        _audit(
            s,
            "stream.start",
            f"stream:{row.id}",
            after={"url": out.get("url"), "external_id": external_id, "queued": True},
        )
        s.commit()
    if as_json:
        print_json(out)
    else:
        console.print(f"stream {out['id']} queued ({out['url']})", highlight=False)


@streams_app.command("list")
def streams_list(
    active: bool = typer.Option(False, "--active", help="Only streams not ended or failed."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List streams with their state and counters.

    Example: vangnet streams list --active
    """
    from vangnet.live.streams import list_streams, stream_dict

    with user_errors(as_json=as_json), session() as s:
        rows = [stream_dict(r) for r in list_streams(s, active_only=active)]
    if as_json:
        for row in rows:
            print_json(row)
        return
    table(
        None,
        [
            "id",
            "url",
            "state",
            "reason",
            "samples",
            "matches",
            "alerts",
            "dropped",
            "evidence lost",
            "behind",
            "lost",
            "worker",
        ],
        [
            [r[k] for k in ("id", "url", "state", "reason", "samples", "matches")]
            + [r[k] for k in ("alerts", "dropped", "evidence_lost")]
            + [
                f"{r['behind_live_s']:.1f} s" + (" FALLING BEHIND" if r["falling_behind"] else ""),
                f"{r['input_lost_seconds']:.1f} s",
                r["worker"],
            ]
            for r in rows
        ],
    )


@streams_app.command("show")
def streams_show(
    stream_id: int = typer.Argument(...), as_json: bool = typer.Option(False, "--json")
) -> None:
    """Show one stream.

    Example: vangnet streams show 3
    """
    from vangnet.live.streams import get_stream, stream_dict

    with user_errors(as_json=as_json), session() as s:
        row = stream_dict(get_stream(s, stream_id))
    _print_record(row, as_json)


@streams_app.command("stop")
def streams_stop(
    stream_id: int = typer.Argument(...), as_json: bool = typer.Option(False, "--json")
) -> None:
    """Stop watching a stream (the worker holding it ends it within a second).

    Example: vangnet streams stop 3
    """
    from vangnet.live.streams import request_stop, stream_dict

    with user_errors(as_json=as_json), session() as s:
        row = stream_dict(request_stop(s, stream_id))
        _audit(s, "stream.stop", f"stream:{stream_id}")
        s.commit()
    _print_record(row, as_json, f"stream {stream_id}: stop requested ({row['state']})")


@alerts_app.command("list")
def alerts_list(
    stream: int | None = typer.Option(None, "--stream", help="Only this stream's alerts."),
    status: str | None = typer.Option(None, "--status", help="open or acknowledged."),
    kind: str | None = typer.Option(
        None,
        "--kind",
        help="match (a stream shows banked material) or review_now (the classifiers' "
        "review-now rule: look now; never a verdict).",
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """List alerts, oldest first: match alerts and review-now alerts (column kind).

    Example: vangnet alerts list --status open --kind review_now
    """
    from vangnet.errors import ValidationError
    from vangnet.live.alerts import KINDS, alert_dict, list_alerts

    with user_errors(as_json=as_json), session() as s:
        if kind is not None and kind not in KINDS:
            raise ValidationError(f"unknown alert kind {kind!r} (known: {', '.join(KINDS)})")
        found = list_alerts(s, stream_id=stream, status=status, limit=1000, kind=kind)
        rows = [alert_dict(a) for a in found]
    if as_json:
        for row in rows:
            print_json(row)
        return
    table(
        None,
        ["id", "kind", "stream", "what", "from", "to", "distance / priority", "status"],
        [
            [a["id"], a["kind"], a["stream_id"]]
            + (
                [a["summary"], a["first_stream_time"], a["last_stream_time"], a["best_value"]]
                if a["kind"] == "review_now"
                else [
                    f"{a['bank']} item {a['content_id']} ({a['category'] or '-'})",
                    a["first_stream_time"],
                    a["last_stream_time"],
                    a["best_distance"],
                ]
            )
            + [a["status"]]
            for a in rows
        ],
    )


@alerts_app.command("show")
def alerts_show(
    alert_id: int = typer.Argument(...), as_json: bool = typer.Option(False, "--json")
) -> None:
    """Show an alert with its matched frames and evidence (hashes and custody, not media).

    Example: vangnet alerts show 1 --json
    """
    from vangnet.evidence.reading import list_evidence
    from vangnet.live.alerts import alert_dict, get_alert

    with user_errors(as_json=as_json), session() as s:
        alert, frames = get_alert(s, alert_id)
        out = alert_dict(alert, frames)
        out["evidence"] = list_evidence(s, alert_id=alert_id)
    if as_json:
        print_json(out)
        return
    summary = {k: v for k, v in out.items() if k not in ("frames", "evidence")}
    table(f"alert {alert_id}", ["field", "value"], [[k, v] for k, v in summary.items()])
    if out["kind"] == "review_now":
        table(
            "qualifying samples (classifier scores: look now; never a verdict)",
            ["stream time", "captured", "priority", "video call", "summary"],
            [
                [
                    f["stream_time"],
                    f["captured_at"],
                    f.get("priority"),
                    f.get("video_call"),
                    f.get("summary"),
                ]
                for f in out["frames"]
            ],
        )
    else:
        table(
            "matched frames",
            ["stream time", "captured", "distance", "quality", "found in"],
            [
                [f["stream_time"], f["captured_at"], f["distance"], f["quality"], _found(f)]
                for f in out["frames"]
            ],
        )
    table(
        "evidence",
        ["id", "stream time", "matched", "sha256", "bytes"],
        [
            [e["id"], e["stream_time"], e["matched"], e["sha256"], e["size"]]
            for e in out["evidence"]
        ],
    )


def _found(frame: dict[str, Any]) -> str:
    """Where a matched frame matched: its region (x, y, w x h in the frame's pixels) and
    transform, or the whole frame."""
    found = frame.get("found") or {}
    region = found.get("region")
    where = "whole frame" if region is None else "region {},{} {}x{}".format(*region)
    transform = found.get("transform")
    return where if transform in (None, "identity") else f"{where}, {transform}"


@alerts_app.command("ack")
def alerts_ack(
    alert_id: int = typer.Argument(...),
    by: str = typer.Option(..., "--by", help="Who acknowledges it."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Acknowledge an alert.

    Example: vangnet alerts ack 1 --by analyst.jansen
    """
    from vangnet.live.alerts import acknowledge, alert_dict

    with user_errors(as_json=as_json), session() as s:
        out = alert_dict(acknowledge(s, alert_id, by=by))
        _audit(
            s,
            "alert.acknowledge",
            f"alert:{alert_id}",
            after={"status": out["status"], "acknowledged_by": out["acknowledged_by"]},
        )
        s.commit()
    if as_json:
        print_json(out)
    else:
        console.print(f"alert {alert_id} acknowledged by {out['acknowledged_by']}")


webhooks_app = typer.Typer(
    help="Signed webhooks: try them out, see and retry failures.", no_args_is_help=True
)


@webhooks_app.command("listen")
def webhooks_listen(
    port: int = typer.Option(8099, "--port", help="Port on 127.0.0.1 (0: any free port)."),
    secret: str = typer.Option(
        ..., "--secret", envvar="VANGNET_WEBHOOK_SECRET", help="The signing key to verify with."
    ),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per delivery."),
) -> None:
    """Receive Vangnet's webhooks on 127.0.0.1, verify each one and print it (for trying
    out a set-up; a platform's own endpoint does the same checks).

    Example: vangnet webhooks listen --port 8099 --secret s3cret
    """
    from vangnet.actions.receiver import WebhookReceiver

    def report(item: dict[str, Any]) -> None:
        if as_json:
            print_json(item)
        elif not item["ok"]:
            console.print(f"[bold red]rejected[/]: {item['error']}", highlight=False)
        elif item.get("repeat"):
            console.print(f"repeat of {item['id']} (already handled)", highlight=False)
        elif item["data"].get("alert", {}).get("kind") == "review_now":
            alert, stream = item["data"]["alert"], item["data"].get("stream", {})
            console.print(
                f"[bold]{item['event']}[/] (signature verified) alert {alert.get('id')}: "
                f"stream {stream.get('id')} {stream.get('external_id') or ''} needs a look now "
                f"(classifier scores, not a match): {alert.get('summary')}",
                highlight=False,
            )
        else:
            alert = item["data"].get("alert", {})
            stream = item["data"].get("stream", {})
            console.print(
                f"[bold]{item['event']}[/] (signature verified) alert {alert.get('id')}: "
                f"stream {stream.get('id')} {stream.get('external_id') or ''} shows "
                f"{alert.get('bank')} item {alert.get('content_id')} ({alert.get('category')})",
                highlight=False,
            )

    with user_errors(as_json=as_json):
        try:
            receiver = WebhookReceiver(secret, report, port=port)
        except OSError as error:
            raise ValidationError(f"cannot listen on 127.0.0.1:{port}: {error.strerror}") from None
        err_console.print(f"listening on {receiver.url}; Ctrl-C to stop", highlight=False)
        stop = threading.Event()
        previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.wait(0.5):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
            receiver.close()


@webhooks_app.command("dead")
def webhooks_dead(as_json: bool = typer.Option(False, "--json")) -> None:
    """List dead-lettered webhooks (every attempt failed).

    Example: vangnet webhooks dead
    """
    from vangnet.actions.webhooks import dead_letters
    from vangnet.net import display_url

    with user_errors(as_json=as_json), session() as s:
        rows = [
            {
                "id": d.id,
                "event": d.event,
                "url": display_url(d.url),
                "attempts": d.attempts,
                "last_status": d.last_status,
                "last_error": d.last_error,
                "created_at": d.created_at.isoformat(),
            }
            for d in dead_letters(s, limit=1000)
        ]
    if as_json:
        for row in rows:
            print_json(row)
        return
    table(
        None,
        ["id", "event", "url", "attempts", "status", "error", "created"],
        [
            [r[k] for k in ("id", "event", "url", "attempts", "last_status")]
            + [r["last_error"], r["created_at"]]
            for r in rows
        ],
    )


@webhooks_app.command("retry")
def webhooks_retry(delivery_id: int = typer.Argument(...)) -> None:
    """Queue a dead-lettered webhook again (a running server or worker sends it).

    Example: vangnet webhooks retry 12
    """
    from vangnet.actions.webhooks import retry

    with user_errors(), session() as s:
        retry(s, delivery_id)
        _audit(s, "webhook.retry", f"webhook:{delivery_id}")
        s.commit()
    console.print(f"webhook {delivery_id} queued again")
