"""`vangnet bank ...`: create, list, show, update, import, export, add, rehash, disable, delete."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO, cast

import typer

from vangnet.banks.categories import Category
from vangnet.banks.formats import get_format, sniff
from vangnet.cli.context import session
from vangnet.cli.hash_cmd import HashFailure, hash_one, iter_files, progress
from vangnet.cli.output import console, err_console, print_json, table, user_errors
from vangnet.config import get_settings
from vangnet.errors import ExitCode

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from vangnet.banks.views import BankView, ImportResult
    from vangnet.signals.hashes import Hashes


def _audit(s: Session, action: str, target: str, **fields: Any) -> None:
    """Record a bank change in the audit log, attributed to the OS user running the CLI."""
    from vangnet.audit import chain

    chain.record(s, actor=chain.cli_actor(), action=action, target=target, **fields)


def _settings(b: BankView) -> dict[str, Any]:
    return {k: v for k, v in _bank_row(b).items() if k != "created_at"}


bank_app = typer.Typer(help="Hash lists (banks): curate, import, export.", no_args_is_help=True)


def _bank_row(b: BankView) -> dict[str, Any]:
    return {
        "name": b.name,
        "enabled": b.enabled,
        "matching_enabled_ratio": b.matching_enabled_ratio,
        "category_profile": b.category_profile,
        "high_confidence": b.high_confidence,
        "thresholds": b.thresholds,
        "policy": b.policy,
        "note": b.note,
        "created_at": b.created_at,
    }


def _thresholds(
    pdq: int | None,
    quality: int | None,
    dihedral: bool | None,
    vpdq_query: float | None,
    vpdq_index: float | None,
    verify: int | None = None,
) -> dict[str, dict[str, Any]] | None:
    out: dict[str, dict[str, Any]] = {}
    if verify is not None:
        out.setdefault("pdq", {})["verify_threshold"] = verify
    videos = ("vpdq", "vpdq_cropped")  # the standard frames and the bar-cropped ones alike
    if pdq is not None:
        out.setdefault("pdq", {})["threshold"] = pdq
        for name in videos:
            out.setdefault(name, {})["threshold"] = pdq
    if quality is not None:
        out.setdefault("pdq", {})["quality_floor"] = quality
        for name in videos:
            out.setdefault(name, {})["quality_floor"] = quality
    if dihedral is not None:
        out.setdefault("pdq", {})["dihedral"] = dihedral
    for name in videos:
        if vpdq_query is not None:
            out.setdefault(name, {})["query_match_pct"] = vpdq_query
        if vpdq_index is not None:
            out.setdefault(name, {})["index_match_pct"] = vpdq_index
    return out or None


# The wider net's radius, an option of `bank create` and `bank update`.
VerifyThreshold = Annotated[
    int | None,
    typer.Option(
        "--pdq-verify-threshold",
        min=0,
        max=256,
        help="Wider net: PDQ candidates up to this distance are matches when local features "
        "of the banked picture confirm them (default VANGNET_PDQ_VERIFY_THRESHOLD; the "
        "--pdq-threshold value turns it off).",
    ),
]

# The live-stream policy options `bank create` and `bank update` share.
LiveMinFrames = Annotated[
    int | None,
    typer.Option(
        "--live-min-frames", min=1, max=1000, help="Live rule: this many matching samples"
    ),
]
LiveWindow = Annotated[
    int | None,
    typer.Option("--live-window", min=1, max=1000, help="... within the last this many samples."),
]
Actions = Annotated[
    list[str] | None,
    typer.Option(
        "--action",
        help="Webhook action on a live alert (repeatable): stream.terminate, account.suspend, "
        "content.remove.",
    ),
]


def _policy(
    min_frames: int | None, window: int | None, actions: list[str] | None
) -> dict[str, Any] | None:
    out: dict[str, Any] = {}
    if min_frames is not None:
        out["live_min_frames"] = min_frames
    if window is not None:
        out["live_window"] = window
    if actions:
        out["actions"] = actions
    return out or None


@bank_app.command("create")
def bank_create(
    name: str = typer.Argument(..., help="Bank name: capitals, digits, underscores."),
    category_profile: str = typer.Option("none", "--profile", help="vics, uk or none."),
    high_confidence: bool = typer.Option(
        False, "--high-confidence", help="One match is enough to alert."
    ),
    pdq_threshold: int | None = typer.Option(None, "--pdq-threshold", min=0, max=256),
    pdq_verify_threshold: VerifyThreshold = None,
    quality_floor: int | None = typer.Option(None, "--quality-floor", min=0, max=100),
    dihedral: bool = typer.Option(False, "--dihedral", help="Also match rotated/flipped copies."),
    vpdq_query_pct: float | None = typer.Option(None, "--vpdq-query-pct", min=0, max=100),
    vpdq_index_pct: float | None = typer.Option(None, "--vpdq-index-pct", min=0, max=100),
    live_min_frames: LiveMinFrames = None,
    live_window: LiveWindow = None,
    actions: Actions = None,
    note: str | None = typer.Option(None, "--note"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Create a bank. Example: vangnet bank create KNOWN_SERIES --profile vics --dihedral"""
    from vangnet.banks.bank import create_bank

    with user_errors(as_json=as_json), session() as s:
        bank = create_bank(
            s,
            name=name,
            category_profile=category_profile,
            high_confidence=high_confidence,
            thresholds=_thresholds(
                pdq_threshold,
                quality_floor,
                dihedral or None,
                vpdq_query_pct,
                vpdq_index_pct,
                pdq_verify_threshold,
            ),
            note=note,
            policy=_policy(live_min_frames, live_window, actions),
            settings=get_settings(),
        )
        _audit(s, "bank.create", f"bank:{bank.name}", after=_settings(bank))
        s.commit()
    if as_json:
        print_json(_bank_row(bank))
    else:
        console.print(f"Created bank [bold]{bank.name}[/].")


@bank_app.command("list")
def bank_list(as_json: bool = typer.Option(False, "--json")) -> None:
    """List banks with their content counts. Example: vangnet bank list"""
    from vangnet.banks.bank import bank_stats, list_banks

    with user_errors(as_json=as_json), session() as s:
        rows = [{**_bank_row(b), "stats": bank_stats(s, b.name)} for b in list_banks(s)]
    if as_json:
        print_json(rows)
        return
    table(
        "Banks",
        ["name", "enabled", "profile", "high conf.", "items", "signals", "thresholds"],
        [
            [
                r["name"],
                r["enabled"],
                r["category_profile"],
                r["high_confidence"],
                r["stats"].get("content", ""),
                r["stats"].get("signals", ""),
                r["thresholds"],
            ]
            for r in rows
        ],
    )


@bank_app.command("show")
def bank_show(name: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Show one bank's settings and counts. Example: vangnet bank show KNOWN_SERIES

    ``local_features`` counts the items whose local features were kept (per kind), what the
    wider net verifies against; a bank filled from hash lists, or banked before features
    were kept, has none (`vangnet bank add` of the same files again adds them).
    ``crop_candidates`` counts the items whose standard-crop PDQs were kept with them
    (wider-net candidates only: not the bank's signals, never exported)."""
    from vangnet.banks.bank import bank_stats, get_bank
    from vangnet.banks.features import features_count
    from vangnet.match.service import verify_threshold
    from vangnet.signals.crops import KIND as CROPS_KIND

    with user_errors(as_json=as_json), session() as s:
        bank = get_bank(s, name)
        kept = features_count(s, name)
        row = {
            **_bank_row(bank),
            "stats": bank_stats(s, name),
            "local_features": {k: n for k, n in kept.items() if k != CROPS_KIND},
            "crop_candidates": kept.get(CROPS_KIND, 0),
            "pdq_verify_threshold": verify_threshold(bank, get_settings()),
        }
    if as_json:
        print_json(row)
        return
    if not row["local_features"]:
        row["local_features"] = "none: candidates beyond the threshold are not verified"
    table(f"Bank {name}", ["setting", "value"], [[k, v] for k, v in row.items()])


@bank_app.command("update")
def bank_update(
    name: str,
    new_name: str | None = typer.Option(None, "--rename"),
    high_confidence: bool | None = typer.Option(None, "--high-confidence/--not-high-confidence"),
    pdq_threshold: int | None = typer.Option(None, "--pdq-threshold", min=0, max=256),
    pdq_verify_threshold: VerifyThreshold = None,
    quality_floor: int | None = typer.Option(None, "--quality-floor", min=0, max=100),
    dihedral: bool | None = typer.Option(None, "--dihedral/--no-dihedral"),
    vpdq_query_pct: float | None = typer.Option(None, "--vpdq-query-pct", min=0, max=100),
    vpdq_index_pct: float | None = typer.Option(None, "--vpdq-index-pct", min=0, max=100),
    live_min_frames: LiveMinFrames = None,
    live_window: LiveWindow = None,
    actions: Actions = None,
    note: str | None = typer.Option(None, "--note"),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Change a bank's settings. Example: vangnet bank update KNOWN_SERIES --pdq-threshold 24"""
    from vangnet.banks.bank import get_bank, update_bank

    changes: dict[str, Any] = {}
    if new_name is not None:
        changes["new_name"] = new_name
    if high_confidence is not None:
        changes["high_confidence"] = high_confidence
    if note is not None:
        changes["note"] = note
    policy = _policy(live_min_frames, live_window, actions)
    if policy:
        changes["policy"] = policy
    with user_errors(as_json=as_json), session() as s:
        current = get_bank(s, name)
        extra = _thresholds(
            pdq_threshold,
            quality_floor,
            dihedral,
            vpdq_query_pct,
            vpdq_index_pct,
            pdq_verify_threshold,
        )
        if extra:
            merged = {k: dict(v) for k, v in current.thresholds.items()}
            for sig, cfg in extra.items():
                merged.setdefault(sig, {}).update(cfg)
            changes["thresholds"] = merged
        bank = update_bank(s, name, **changes)
        _audit(s, "bank.update", f"bank:{name}", before=_settings(current), after=_settings(bank))
        s.commit()
    if as_json:
        print_json(_bank_row(bank))
    else:
        console.print(f"Updated bank [bold]{bank.name}[/].")


def _set_enabled(name: str, enabled: bool, as_json: bool) -> None:
    from vangnet.banks.bank import set_bank_enabled

    with user_errors(as_json=as_json), session() as s:
        bank = set_bank_enabled(s, name, enabled=enabled)
        _audit(
            s,
            "bank.enable" if enabled else "bank.disable",
            f"bank:{name}",
            after={"enabled": bank.enabled},
        )
        s.commit()
    if as_json:
        print_json(_bank_row(bank))
    else:
        console.print(f"Bank [bold]{name}[/] {'enabled' if enabled else 'disabled'}.")


@bank_app.command("disable")
def bank_disable(name: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Stop matching against a bank (content kept). Example: vangnet bank disable OLD_LIST"""
    _set_enabled(name, False, as_json)


@bank_app.command("enable")
def bank_enable(name: str, as_json: bool = typer.Option(False, "--json")) -> None:
    """Match against a disabled bank again. Example: vangnet bank enable OLD_LIST"""
    _set_enabled(name, True, as_json)


@bank_app.command("delete")
def bank_delete(
    name: str,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Delete a bank and all its content. Example: vangnet bank delete OLD_LIST --yes"""
    from vangnet.banks.bank import delete_bank

    if not yes and not typer.confirm(f"Delete bank {name} and all its content?"):
        raise typer.Exit(ExitCode.ERROR)
    with user_errors(as_json=as_json), session() as s:
        delete_bank(s, name)
        _audit(s, "bank.delete", f"bank:{name}")
        s.commit()
    if as_json:
        print_json({"deleted": name})
    else:
        console.print(f"Deleted bank [bold]{name}[/].")


def _open_input(path: Path) -> BinaryIO:
    if str(path) == "-":
        return sys.stdin.buffer
    return path.open("rb")


@bank_app.command("import")
def bank_import(
    name: str = typer.Argument(..., help="Bank to import into."),
    path: Path = typer.Argument(..., help="File to import, or - for standard input."),
    fmt: str | None = typer.Option(
        None,
        "--format",
        "-f",
        help="vics2 (alias vics), vics1, hma-csv (alias csv) or plain (default: guessed).",
    ),
    signal_type: str | None = typer.Option(
        None, "--signal-type", help="For plain lists of 64-hex values: pdq or sha256."
    ),
    create: bool = typer.Option(False, "--create", help="Create the bank if it does not exist."),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Import hashes: all-or-nothing, idempotent, streaming (multi-GB files in bounded memory).

    Example: vangnet bank import KNOWN_SERIES export.json --format vics2
    """
    from vangnet.banks.bank import create_bank, get_bank, list_banks
    from vangnet.banks.imports import import_staged

    with user_errors(as_json=as_json), _open_input(path) as stream, session() as s:
        if create and name not in {b.name for b in list_banks(s)}:
            create_bank(s, name=name, settings=get_settings())
        get_bank(s, name)
        s.commit()  # the bank (if created); the import itself stages, then publishes at once
        reader_name = fmt or sniff(stream.peek(4096) if hasattr(stream, "peek") else b"")
        reader = get_format(reader_name)
        records = reader.read(stream, signal_type=signal_type)

        def audited(publishing: Session, result: ImportResult) -> None:
            _audit(
                publishing,
                "bank.import",
                f"bank:{name}",
                after={
                    "added": result.added,
                    "skipped_existing": result.skipped_existing,
                    "total": result.total,
                },
                details={"format": reader_name, "file": str(path)},
            )

        result = import_staged(
            cast("Engine", s.get_bind()),  # the session of `session()` is bound to an engine
            bank=name,
            records=records,
            chunk=get_settings().bank_import_chunk,
            on_publish=audited,
        )
    out = {
        "bank": name,
        "format": reader_name,
        "added": result.added,
        "skipped_existing": result.skipped_existing,
        "total": result.total,
    }
    if as_json:
        print_json(out)
    else:
        console.print(
            f"Imported {result.total} records into {name}: {result.added} added, "
            f"{result.skipped_existing} already there."
        )


@bank_app.command("export")
def bank_export(
    name: str = typer.Argument(..., help="Bank to export."),
    output: Path = typer.Option(
        Path("-"), "--output", "-o", help="File to write (default stdout)."
    ),
    fmt: str = typer.Option("vics2", "--format", "-f", help="vics2, vics1, hma-csv or plain."),
    signal_type: str | None = typer.Option(None, "--signal-type", help="plain: which signal type."),
) -> None:
    """Export a bank, streaming. Example: vangnet bank export KNOWN_SERIES -f vics2 -o out.json"""
    from vangnet.banks.bank import get_bank
    from vangnet.banks.records import export_records

    with user_errors():
        writer = get_format(fmt)
        with session() as s:
            get_bank(s, name)
            records = export_records(s, bank=name)
            if signal_type is not None:
                records = (r for r in records if r.signal_type == signal_type)
            if str(output) == "-":
                count = writer.write(records, sys.stdout.buffer)
                sys.stdout.buffer.flush()
            else:
                tmp = output.with_name(output.name + ".partial")
                with tmp.open("wb") as out:
                    count = writer.write(records, out)
                tmp.replace(output)
    err_console.print(f"exported {count} records from {name}")


@bank_app.command("add")
def bank_add(
    name: str = typer.Argument(..., help="Bank to add to."),
    paths: list[Path] = typer.Argument(..., help="Files or folders (recursive) to hash and add."),
    category: str | None = typer.Option(
        None, "--category", help="profile:code, e.g. vics:1 or uk:A."
    ),
    source: str | None = typer.Option(None, "--source", help="Provenance, e.g. a case number."),
    series: str | None = typer.Option(None, "--series"),
    note: str | None = typer.Option(None, "--note"),
    fps: float | None = typer.Option(
        None,
        "--fps",
        min=0,
        max=240,
        help="Video frames hashed per second for the bank (default VANGNET_BANK_VIDEO_FPS: 0 = "
        "every frame, so trimmed copies out of phase with the banked video match).",
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Hash files and add each as bank content (its PDQ/vPDQ and digests).

    Example: vangnet bank add KNOWN_SERIES ./seized/ --category vics:1 --source CASE-123
    Example: vangnet bank add KNOWN_VIDEOS clip.mp4 --fps 10   (smaller, coarser bank)
    """
    from vangnet.banks.bank import get_bank
    from vangnet.banks.contents import add_content
    from vangnet.banks.features import FeatureSeal

    files = list(iter_files(paths))
    failed = 0
    hashed: list[tuple[Path, dict[str, str], dict[str, bytes]]] = []
    with user_errors(as_json=as_json):
        with session() as s:  # closed before hashing: no lock is held while files are read
            get_bank(s, name)
        cat = Category.parse(category) if category else None
        with progress() as bar:
            task = bar.add_task("adding", total=len(files))
            for path in files:
                result = hash_one(path, video_fps=fps, for_bank=True)
                bar.advance(task)
                if isinstance(result, HashFailure):
                    failed += 1
                    if as_json:
                        print_json(result.to_json())
                    else:
                        err_console.print(f"{path}: {result.error['message']}", highlight=False)
                    continue
                hashed.append((path, result.signal_values(), result.kept_features()))
        seal = FeatureSeal.from_settings(get_settings())
        with session() as s:  # one short transaction: all files or none
            content_ids = [
                add_content(
                    s,
                    bank=name,
                    signals=signals,
                    category=cat,
                    source=source,
                    series=series,
                    note=note,
                    features=features,
                    seal=seal,
                )
                for _path, signals, features in hashed
            ]
            added = len(content_ids)
            _audit(
                s,
                "bank.add",
                f"bank:{name}",
                after={"added": added, "unreadable": failed},
                details={"category": category, "source": source, "series": series, "note": note},
            )
            s.commit()
    if as_json:
        for (path, _signals, _features), content_id in zip(hashed, content_ids, strict=True):
            print_json({"path": str(path), "content_id": content_id})
    if not as_json:
        console.print(
            f"Added {added} files to {name}" + (f"; {failed} could not be read" if failed else "")
        )
    if failed:
        raise typer.Exit(ExitCode.UNREADABLE_INPUT)


@bank_app.command("rehash")
def bank_rehash(
    name: str = typer.Argument(..., help="Bank whose videos to hash again."),
    paths: list[Path] = typer.Argument(..., help="The banked video files, or folders of them."),
    fps: float | None = typer.Option(
        None,
        "--fps",
        min=0,
        max=240,
        help="Video frames hashed per second (default VANGNET_BANK_VIDEO_FPS, as bank add).",
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Hash banked videos again: the bank's content with the same SHA-256 (else MD5, SHA-1)
    as each file gets the standard vpdq (Meta's vPDQ) and vpdq_cropped computed anew.

    Needed once for banks made before vpdq was Meta's vPDQ (migration 0011 renamed their
    stored bar-cropped frames vpdq_cropped). Files that are not videos or match no content
    are listed and change nothing (exit code 3 or 4).

    Example: vangnet bank rehash KNOWN_VIDEOS ./originals/
    """
    from vangnet.banks.bank import get_bank
    from vangnet.banks.rehash import rehash_content

    files = list(iter_files(paths))
    unreadable = unknown = 0
    outcomes: list[dict[str, Any]] = []
    with user_errors(as_json=as_json):
        with session() as s:  # closed before hashing: no lock is held while files are read
            get_bank(s, name)
        hashed: list[Hashes] = []
        with progress() as bar:
            task = bar.add_task("hashing", total=len(files))
            for path in files:
                result = hash_one(path, video_fps=fps, for_bank=True)
                bar.advance(task)
                if isinstance(result, HashFailure) or not result.video_frames.get("vpdq"):
                    unreadable += 1
                    error = (
                        result.error
                        if isinstance(result, HashFailure)
                        else {"code": "not_video", "message": "not a video"}
                    )
                    outcomes.append({"path": str(path), "error": error})
                    continue
                hashed.append(result)
        with session() as s:  # one short transaction: all files or none
            for result in hashed:
                done = rehash_content(s, bank=name, hashed=result)
                if not done.content_ids:
                    unknown += 1
                    message = f"no content in {name} has this file's digest"
                    outcomes.append(
                        {"path": result.path, "error": {"code": "not_found", "message": message}}
                    )
                    continue
                outcomes.append(
                    {
                        "path": result.path,
                        "content_ids": done.content_ids,
                        "signals": done.signals,
                    }
                )
            updated = sorted({i for o in outcomes for i in o.get("content_ids", [])})
            _audit(
                s,
                "bank.rehash",
                f"bank:{name}",
                after={"content_ids": updated, "unreadable": unreadable, "not_in_bank": unknown},
            )
            s.commit()
    for outcome in outcomes:
        if as_json:
            print_json(outcome)
        elif "error" in outcome:
            err_console.print(f"{outcome['path']}: {outcome['error']['message']}", highlight=False)
    if not as_json:
        console.print(f"Rehashed {len(updated)} content items in {name}")
    if unreadable:
        raise typer.Exit(ExitCode.UNREADABLE_INPUT)
    if unknown:
        raise typer.Exit(ExitCode.NOT_FOUND)
