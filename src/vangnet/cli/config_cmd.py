"""`vangnet config show` and `vangnet plugins`."""

from __future__ import annotations

from typing import Any

import typer

from vangnet.cli.output import print_json, table
from vangnet.config import config_file_path, describe
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


def plugins(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List installed plug-ins: signal types (their index, default threshold), indexes,
    frame classifiers and live stream sources (by URL scheme). A plug-in that failed to
    load is listed with kind ``failed`` and why."""
    rows: list[dict[str, Any]] = [
        {
            "kind": "signal_type",
            "name": name,
            "class": f"{cls.__module__}:{cls.__qualname__}",
            "index": cls.index,
            "default_threshold": cls.default_threshold,
            "content_types": sorted(c.value for c in cls.content_types),
            "description": cls.description,
        }
        for name, cls in signal_types().items()
    ]
    rows += [
        {
            "kind": "index",
            "name": name,
            "class": f"{cls.__module__}:{cls.__qualname__}",
            "index": "",
            "default_threshold": "",
            "content_types": [],
            "description": cls.description,
        }
        for name, cls in indexes().items()
    ]
    failed = {f"signal_type:{n}": why for n, why in failed_signal_types().items()}
    failed |= {f"index:{n}": why for n, why in failed_indexes().items()}
    rows += [
        {
            "kind": "failed",
            "name": name,
            "class": why,  # shown in the table: why it failed
            "index": "",
            "default_threshold": "",
            "content_types": [],
            "description": why,
        }
        for name, why in sorted(failed.items())
    ]
    from vangnet.live.classifiers import installed_classifiers
    from vangnet.live.sources import SOURCES

    rows += [
        {
            "kind": "classifier",
            "name": c.name,
            "class": f"{type(c).__module__}:{type(c).__qualname__}",
            "index": "",
            "default_threshold": "",
            "content_types": ["live"],
            "description": c.description,
        }
        for c in installed_classifiers()
    ]
    rows += [
        {
            "kind": "stream_source",
            "name": scheme or "(path)",
            "class": f"{cls.__module__}:{cls.__qualname__}",
            "index": "",
            "default_threshold": "",
            "content_types": ["live"],
            "description": (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else "",
        }
        for scheme, cls in sorted(SOURCES.items())
    ]
    if as_json:
        print_json(rows)
        return
    table(
        "Installed plug-ins",
        ["kind", "name", "index", "threshold", "content", "class"],
        [
            [
                r["kind"],
                r["name"],
                r["index"],
                r["default_threshold"],
                ",".join(r["content_types"]),
                r["class"],
            ]
            for r in rows
        ],
    )
