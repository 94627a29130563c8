"""`vangnet config show` and `vangnet plugins`."""

from __future__ import annotations

from typing import Any

import typer

from vangnet.cli.output import print_json, table, user_errors
from vangnet.config import config_file_path, describe, get_settings
from vangnet.index.registry import failed_indexes, indexes
from vangnet.signals.registry import failed_signal_types, signal_types

config_app = typer.Typer(
    help="Show the settings registry and current values.", no_args_is_help=True
)


@config_app.command("show")
def config_show(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Every setting: environment variable, current value, default and help.

    Example: VANGNET_PORT=8080 vangnet config show
    """
    rows = describe()
    if as_json:
        print_json({"config_file": str(config_file_path()), "settings": rows})
        return
    table(
        f"Settings (config file: {config_file_path()})",
        ["env", "value", "default", "help"],
        [[r["env"], r["value"], r["default"], r["help"]] for r in rows],
    )


def _row(kind: str, name: str, cls: type, description: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "name": name,
        "class": f"{cls.__module__}:{cls.__qualname__}",
        "index": "",
        "default_threshold": "",
        "content_types": [],
        "description": description,
        "state": "loaded",
        **extra,
    }


def _summary(cls: type) -> str:
    return (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""


def plugins(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List every plug-in point with its plug-ins and their load state: signal types (their
    index, default threshold), indexes, classifiers (their version, what they measure, the
    licence of their model, and whether this deployment runs them: setting classifiers; an
    enabled one is started, and listed as failed when its model cannot be),
    live stream sources (by URL scheme), bank formats, report formats, record formats
    (context records: the kinds each reads, under content) and context evaluators (their
    version; `vangnet context assess` runs every one). A plug-in that
    failed to load is listed with kind ``failed``, name ``<point>:<name>``, state ``failed``
    and why."""
    from vangnet.banks.formats import failed_formats
    from vangnet.banks.formats import formats as bank_formats
    from vangnet.context.population import evaluators, failed_evaluators
    from vangnet.reports.formats import failed_report_formats, report_formats
    from vangnet.signals.classifiers.base import classifier_types, failed_classifiers
    from vangnet.signals.classifiers.enabled import enabled_classifiers, start_failures
    from vangnet.sources.records.registry import failed_formats as failed_record_formats
    from vangnet.sources.records.registry import formats as record_formats
    from vangnet.sources.streams import failed_stream_sources, stream_sources

    rows: list[dict[str, Any]] = [
        _row(
            "signal_type",
            name,
            cls,
            cls.description,
            index=cls.index,
            default_threshold=cls.default_threshold,
            content_types=sorted(c.value for c in cls.content_types),
        )
        for name, cls in signal_types().items()
    ]
    rows += [_row("index", name, cls, cls.description) for name, cls in indexes().items()]
    with user_errors(as_json=as_json):
        # the enabled ones are started (their models loaded, once), so that one whose model
        # cannot start is listed as failed here rather than found out by the server
        enabled = {c.name for c in enabled_classifiers(get_settings())}
    unstarted = start_failures()
    rows += [
        _row(
            "classifier",
            name,
            cls,
            cls.description,
            default_threshold=cls.default_threshold,
            content_types=["photo", "video", "live"],
            version=cls.version,
            measures=cls.measures,
            licence=cls.licence,
            enabled=name in enabled,
            state="failed" if name in unstarted else "loaded",
            **({"error": unstarted[name]} if name in unstarted else {}),
        )
        for name, cls in classifier_types().items()
    ]
    rows += [
        _row("stream_source", scheme or "(path)", cls, _summary(cls), content_types=["live"])
        for scheme, cls in sorted(stream_sources().items())
    ]
    rows += [
        _row("bank_format", name, type(fmt), fmt.description)
        for name, fmt in bank_formats().items()
    ]
    rows += [
        _row("report_format", name, cls, cls.description) for name, cls in report_formats().items()
    ]
    rows += [
        _row("context_evaluator", name, cls, cls.summary, version=cls.version)
        for name, cls in evaluators().items()
    ]
    rows += [
        _row(
            "record_format",
            name,
            type(fmt),
            fmt.description,
            content_types=sorted(k.value for k in fmt.kinds),
        )
        for name, fmt in record_formats().items()
    ]
    failed = {f"signal_type:{n}": why for n, why in failed_signal_types().items()}
    failed |= {f"index:{n}": why for n, why in failed_indexes().items()}
    failed |= {f"classifier:{n}": why for n, why in failed_classifiers().items()}
    failed |= {f"stream_source:{n}": why for n, why in failed_stream_sources().items()}
    failed |= {f"bank_format:{n}": why for n, why in failed_formats().items()}
    failed |= {f"report_format:{n}": why for n, why in failed_report_formats().items()}
    failed |= {f"context_evaluator:{n}": why for n, why in failed_evaluators().items()}
    failed |= {f"record_format:{n}": why for n, why in failed_record_formats().items()}
    rows += [
        {
            "kind": "failed",
            "name": name,
            "class": why,  # shown in the table: why it failed
            "index": "",
            "default_threshold": "",
            "content_types": [],
            "description": why,
            "state": "failed",
        }
        for name, why in sorted(failed.items())
    ]
    if as_json:
        print_json(rows)
        return
    table(
        "Installed plug-ins",
        ["kind", "name", "state", "index", "threshold", "content", "class", "details"],
        [
            [
                r["kind"],
                r["name"],
                _state(r),
                r["index"],
                r["default_threshold"],
                ",".join(r["content_types"]),
                r["class"],
                _details(r),
            ]
            for r in rows
        ],
    )


def _state(row: dict[str, Any]) -> str:
    if row["kind"] != "classifier":
        return str(row["state"])
    return f"{row['state']}, {'enabled' if row['enabled'] else 'not enabled'}"


def _details(row: dict[str, Any]) -> str:
    """What the table shows of a classifier besides its class: what it measures, its version
    and licence, and why it could not start."""
    if row["kind"] == "context_evaluator":
        return f"version {row['version']}"
    if row["kind"] != "classifier":
        return ""
    parts = [f"measures {row['measures']}", f"version {row['version']}"]
    parts += [f"licence {row['licence'] or 'not stated'}"]
    if "error" in row:
        parts.append(f"could not start: {row['error']}")
    return "; ".join(parts)
