"""Reference tables of the documentation site, rendered from the code so they cannot go stale.

Three pages of `docs/reference/` hold a generated block between two marker comments:
the settings (from the fields of `vangnet.config.Settings`), the command line (a walk of the
Typer app) and the HTTP routes (from the app's `/openapi.json`). Everything outside the
markers is written by hand. `scripts/docs-reference` rewrites the blocks; with `--check` it
changes nothing and exits 1 when a block is out of date (a test does the same).
"""

from __future__ import annotations

import argparse
import inspect
import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
import typer.core
import typer.main
from pydantic import SecretStr
from pydantic.fields import FieldInfo

from vangnet.config import Settings, default_home

DOCS_DIR = Path("docs")  # of the checkout; scripts/docs-reference runs from its root

# Defaults computed when the settings are read: described, not evaluated (they depend on
# the machine that renders the page).
_FACTORY_DEFAULTS: dict[object, str] = {
    default_home: "per-user data directory (`~/.local/share/vangnet` on Linux)",
}


@dataclass(frozen=True)
class Page:
    """One reference page and the name of its generated block."""

    path: Path
    block: str
    render: Callable[[], str]


def _prose(text: str) -> str:
    """Help text as Markdown that shows it as written: outside `code` spans, `<`, `>` and `*`
    are escaped (no HTML tags, no emphasis)."""
    parts = text.split("`")
    for i in range(0, len(parts), 2):  # even parts are outside code spans
        parts[i] = parts[i].replace("<", "&lt;").replace(">", "&gt;").replace("*", "\\*")
    return "`".join(parts) if len(parts) % 2 else text.replace("<", "&lt;").replace(">", "&gt;")


def _cell(text: str) -> str:
    """Help text made safe for one cell of a Markdown table."""
    return _prose(" ".join(text.split())).replace("|", "\\|")


# --- settings -------------------------------------------------------------------------------


def env_name(field_name: str) -> str:
    return f"VANGNET_{field_name.upper()}"


def _size(value: int) -> str:
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if value >= size and value % size == 0:
            return f" ({value // size} {unit})"
    return ""


def _default_text(name: str, field: FieldInfo) -> str:
    factory = field.default_factory
    if factory is not None:
        described = _FACTORY_DEFAULTS.get(factory)
        if described is not None:
            return described
        value: Any = factory()  # type: ignore[call-arg]
    else:
        value = field.default
    if value is None:
        return "unset"
    if isinstance(value, SecretStr):
        return "(secret)"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, Path):
        return f"`{value}`"
    if isinstance(value, str):
        return f"`{value}`" if value else '`""` (empty)'
    if isinstance(value, int) and name.endswith("_bytes"):
        return f"`{value}`{_size(value)}"
    if isinstance(value, int | float):
        return f"`{value}`"
    return f"`{json.dumps(value, default=str)}`"


_SECTION = re.compile(r"^    # -{2,}\s*(.+?)\s*-*\s*$")
_FIELD = re.compile(r"^    (\w+)\s*:")


def setting_sections() -> list[tuple[str, list[str]]]:
    """The settings in the sections of the `Settings` class (its `# -- name --` comments)."""
    sections: dict[str, list[str]] = {"General": []}
    current = "General"
    for line in inspect.getsource(Settings).splitlines():
        if heading := _SECTION.match(line):
            current = heading.group(1)
            current = current[0].upper() + current[1:]
            sections.setdefault(current, [])
        elif (field := _FIELD.match(line)) and field.group(1) in Settings.model_fields:
            sections[current].append(field.group(1))
    placed = {name for names in sections.values() for name in names}
    sections["Other"] = [name for name in Settings.model_fields if name not in placed]
    return [(title, names) for title, names in sections.items() if names]


def render_settings() -> str:
    out: list[str] = []
    for title, names in setting_sections():
        out += [f"### {title}", "", "| variable | default | what |", "|---|---|---|"]
        for name in names:
            field = Settings.model_fields[name]
            out.append(
                f"| `{env_name(name)}` | {_cell(_default_text(name, field))} "
                f"| {_cell(field.description or '')} |"
            )
        out.append("")
    return "\n".join(out).rstrip()


# --- command line ---------------------------------------------------------------------------
# Typer (>= 0.20) carries its own copy of Click; its public classes are used here.

Command = typer.core.TyperCommand | typer.core.TyperGroup


def _commands(command: Command, ctx: typer.Context) -> Iterator[tuple[Command, typer.Context]]:
    """Every command and sub-command, depth first, in the order `--help` lists them."""
    yield command, ctx
    if isinstance(command, typer.core.TyperGroup):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if isinstance(sub, typer.core.TyperCommand | typer.core.TyperGroup) and not sub.hidden:
                yield from _commands(sub, typer.Context(sub, info_name=name, parent=ctx))


def _cli_walk() -> list[tuple[Command, typer.Context]]:
    from vangnet.cli import app

    root = typer.main.get_command(app)
    assert isinstance(root, typer.core.TyperGroup)
    return list(_commands(root, typer.Context(root, info_name="vangnet")))


def _anchor(path: str) -> str:
    return path.replace(" ", "-")


def _params(
    command: Command, ctx: typer.Context
) -> list[typer.core.TyperArgument | typer.core.TyperOption]:
    return [
        p
        for p in command.get_params(ctx)
        if isinstance(p, typer.core.TyperArgument | typer.core.TyperOption)
        and not p.hidden
        and p.name != "help"
    ]


def _usage(command: Command, ctx: typer.Context) -> str:
    pieces = [ctx.command_path, "[OPTIONS]"]
    for param in _params(command, ctx):
        if isinstance(param, typer.core.TyperArgument):
            name = (param.name or "").upper() + ("..." if param.nargs == -1 else "")
            pieces.append(name if param.required else f"[{name}]")
    if isinstance(command, typer.core.TyperGroup):
        pieces.append("COMMAND [ARGS]...")
    return " ".join(pieces)


def _param_row(param: typer.core.TyperArgument | typer.core.TyperOption, ctx: typer.Context) -> str:
    record = param.get_help_record(ctx)
    names, what = record if record is not None else (param.name or "", "")
    return f"| `{names}` | {_cell(what)} |"


def _help_markdown(text: str) -> str:
    """A docstring as Markdown: paragraphs kept, `Example:` lines as code."""
    rendered = []
    for paragraph in text.replace("\b", "").split("\n\n"):
        lines = [line.strip() for line in paragraph.strip().splitlines() if line.strip()]
        if not lines:
            continue
        if all(line.startswith(("Example: ", "Examples: ")) for line in lines):
            rendered += [f"- Example: `{line.partition(': ')[2]}`" for line in lines]
            rendered.append("")
        else:
            rendered += [_prose(" ".join(lines)), ""]
    return "\n".join(rendered).strip()


def render_cli() -> str:
    walk = _cli_walk()
    out = ["| command | what |", "|---|---|"]
    for command, ctx in walk[1:]:
        path = ctx.command_path
        summary = command.get_short_help_str(limit=200)
        out.append(f"| [`{path}`](#{_anchor(path)}) | {_cell(summary)} |")
    for command, ctx in walk[1:]:
        path = ctx.command_path
        out += ["", f"### `{path}` {{#{_anchor(path)}}}", ""]
        help_text = (command.help or "").strip()
        if help_text:
            out += [_help_markdown(help_text), ""]
        out += [f"Usage: `{_usage(command, ctx)}`"]
        if isinstance(command, typer.core.TyperGroup):
            subs = [
                f"[`{sub}`](#{_anchor(c.command_path)})"
                for _, c in walk
                if c.parent is ctx
                for sub in [c.info_name]
            ]
            out += ["", "Sub-commands: " + ", ".join(subs) + "."]
        params = _params(command, ctx)
        if params:
            out += ["", "| option / argument | what |", "|---|---|"]
            out += [_param_row(p, ctx) for p in params]
    return "\n".join(out)


# --- HTTP API -------------------------------------------------------------------------------


def openapi() -> dict[str, Any]:
    """The app's OpenAPI document, built without starting it (no database is touched)."""
    from vangnet.api.app import create_app

    schema: dict[str, Any] = create_app(Settings(), start_background=False).openapi()
    return schema


HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def api_routes(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(METHOD, path, operation) of every operation in the schema, in its order."""
    return [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    ]


def api_group(path: str) -> str:
    return "native /v1" if path.startswith("/v1/") or path == "/v1" else "OpenMediaMatch"


def _operation_text(operation: dict[str, Any]) -> str:
    """The first paragraph of the route's docstring, else FastAPI's summary of its name."""
    description = str(operation.get("description") or "").strip()
    text = description.split("\n\n")[0] if description else str(operation.get("summary", ""))
    return text.replace("``", "`")


def render_api() -> str:
    routes = api_routes(openapi())
    out: list[str] = []
    for group in ("OpenMediaMatch", "native /v1"):
        out += [f"**{group}**", "", "| route | what |", "|---|---|"]
        out += [
            f"| `{method} {path}` | {_cell(_operation_text(operation))} |"
            for method, path, operation in routes
            if api_group(path) == group
        ]
        out.append("")
    return "\n".join(out).rstrip()


# --- the pages ------------------------------------------------------------------------------


def pages(docs_dir: Path = DOCS_DIR) -> tuple[Page, ...]:
    return (
        Page(docs_dir / "reference" / "settings.md", "settings", render_settings),
        Page(docs_dir / "reference" / "cli.md", "cli", render_cli),
        Page(docs_dir / "reference" / "api.md", "api", render_api),
    )


def markers(block: str) -> tuple[str, str]:
    return (
        f"<!-- generated:{block} (scripts/docs-reference; do not edit by hand) -->",
        f"<!-- end generated:{block} -->",
    )


def generated_block(text: str, block: str) -> str:
    """The text between a page's markers (a `ValueError` when they are missing)."""
    start, end = markers(block)
    _, found, rest = text.partition(start)
    body, found_end, _ = rest.partition(end)
    if not found or not found_end:
        raise ValueError(f"markers of the generated block {block!r} not found")
    return body.strip("\n")


def with_block(text: str, block: str, body: str) -> str:
    start, end = markers(block)
    head, _, rest = text.partition(start)
    _, _, tail = rest.partition(end)
    generated_block(text, block)  # both markers present
    return f"{head}{start}\n{body}\n{end}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="scripts/docs-reference", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if a page is out of date"
    )
    parser.add_argument("--docs", type=Path, default=DOCS_DIR, help="the docs folder")
    args = parser.parse_args(argv)
    stale = []
    for page in pages(args.docs):
        text = page.path.read_text(encoding="utf-8")
        try:
            updated = with_block(text, page.block, page.render())
        except ValueError as error:
            start, end = markers(page.block)
            print(f"error: {page.path}: {error}: add\n{start}\n{end}", file=sys.stderr)
            return 2
        if updated == text:
            continue
        stale.append(page.path)
        if not args.check:
            page.path.write_text(updated, encoding="utf-8")
    for path in stale:
        verb = "out of date" if args.check else "updated"
        print(f"{path}: {verb}", file=sys.stderr)
    if args.check and stale:
        print("run scripts/docs-reference to regenerate", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
