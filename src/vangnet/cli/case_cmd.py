"""`vangnet case list|show|decide`: the review queue for operators without the browser."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from vangnet.banks.features import FeatureSeal
from vangnet.cases.document import CaseDocument, CaseSummary
from vangnet.cases.found import describe
from vangnet.cli.audit_cmd import AsOption, actor_of
from vangnet.cli.context import session
from vangnet.cli.output import console, err_console, print_json, table, user_errors
from vangnet.config import get_settings
from vangnet.review.classifier_calibration import calibrated_thresholds
from vangnet.review.priority import PriorityWeights

case_app = typer.Typer(help="Review cases: the queue, a case, decisions.", no_args_is_help=True)

STATUSES = (
    "open",  # every undecided state
    "all",
    "escalated",
    "second_opinion",
    "pending_confirmation",
    "confirmed",
    "false_positive",
)


@case_app.command("list")
def case_list(
    status: str = typer.Option(
        "open",
        "--status",
        help="open (every undecided case), all, escalated, second_opinion, "
        "pending_confirmation, confirmed or false_positive.",
    ),
    limit: int = typer.Option(200, "--limit", "-n", min=1, max=5000),
    investigations: bool = typer.Option(
        False,
        "--investigations",
        help="Include investigation cases (worked in the investigation workbench, not here).",
    ),
    order: str = typer.Option(
        "priority",
        "--order",
        help="priority (its points) or score (the classifiers' priority signal, highest first).",
    ),
    min_score: float | None = typer.Option(
        None, "--min-score", help="Only cases whose priority signal is at least this (0-1)."
    ),
    likely_new: bool = typer.Option(
        False,
        "--likely-new",
        help="Only likely new material: cases the classifiers find likely that match no bank.",
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The queue: highest priority first, with the reasons for it.

    Example: vangnet case list --status open --likely-new --order score
    """
    from vangnet.errors import ValidationError
    from vangnet.review import cases

    with user_errors(as_json=as_json):
        if status not in STATUSES:
            raise ValidationError(f"unknown status {status!r} (known: {', '.join(STATUSES)})")
        with session() as s:
            rows = cases.list_cases(
                s,
                status=None if status == "all" else status,
                limit=limit,
                investigations=investigations,
                weights=PriorityWeights.from_settings(
                    get_settings(), calibrated_thresholds(s, get_settings())
                ),
                order=order,
                min_score=min_score,
                likely_new=likely_new,
            )
    if as_json:
        print_json(rows)
        return
    table(
        f"Cases ({status})",
        ["id", "score", "signal", "status", "title", "matches", "items", "category", "why"],
        [
            [
                r["id"],
                r["priority"]["score"],
                _signal_cell(r),
                r["status"],
                r["title"] + (" [LIVE]" if r["live"] else ""),
                r["matches"],
                r["items"],
                _category_cell(r),
                "; ".join(r["priority"]["reasons"]),
            ]
            for r in rows
        ],
    )


def _signal_cell(row: CaseSummary) -> str:
    """The priority signal (0-1), marked "likely" when it is; empty when never scored."""
    signal = row.get("classifier")
    if signal is None:
        return ""
    return f"{signal['value']:.2f}" + (" likely" if signal["likely"] else "")


def _category_cell(row: CaseSummary) -> str:
    """The decided category once there is one (with "not illegal"), else the banks'."""
    if row.get("category"):
        return str(row["category"]) + (
            " (not illegal)" if row.get("verdict") == "not_illegal" else ""
        )
    return ", ".join(row.get("matched_categories") or [])


@case_app.command("show")
def case_show(
    case: str = typer.Argument(..., help="Case id or key (e.g. 12 or stream:3)."),
    actor: AsOption = None,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """The whole case: subject, priority, items, matches with distances and the banked items'
    metadata, timeline, decisions, custody, reports. Viewing is audited (case.view).

    Example: vangnet case show 12 --json
    """
    from vangnet.audit import chain
    from vangnet.review import cases

    with user_errors(as_json=as_json):
        who = actor_of(actor)
        with session() as s:
            found = cases.resolve_case(s, case)
            doc = cases.case_document(
                s, found.id, weights=PriorityWeights.from_settings(get_settings())
            )
            chain.record(s, actor=who, action="case.view", target=f"case:{found.id}")
            s.commit()
    if as_json:
        print_json(doc)
    else:
        _print_case(doc)


def _print_case(doc: CaseDocument) -> None:
    console.print(
        f"[bold]Case {doc['id']}[/]: {doc['title']}"
        + (" [bold red]LIVE[/]" if doc["live"] else ""),
        highlight=False,
    )
    summary: list[list[Any]] = [
        ["key", doc["key"]],
        ["kind", doc["kind"]],
        ["status", doc["status"]],
        ["category", doc["category"]],
        ["verdict", (doc.get("verdict") or "").replace("_", " ")],
        [
            "pending (two-person)",
            doc["pending_by"] and f"{doc['pending_by']}: {doc['pending_category']}",
        ],
        ["created", doc["created_at"]],
        ["decided", doc["decided_at"]],
        *[[f"subject: {k}", v] for k, v in doc["subject"].items()],
    ]
    table(None, ["field", "value"], summary)
    if doc["kind"] == "investigation":  # its files are triage items, not review media
        _print_investigation(doc)
        return
    prio = doc["priority"]
    console.print(f"[bold]Priority {prio['score']}[/]", highlight=False)
    for reason in prio["reasons"]:
        console.print(f"  - {reason}", highlight=False)
    # "how found" only when some match was found otherwise than as the whole picture
    how = any(m.get("found") for m in doc["matches"])
    table(
        "Matches",
        ["item", "bank", "content", "signal", "distance"]
        + (["how found"] if how else [])
        + ["category", "banked"],
        [
            [
                m["item_id"],
                m["bank"],
                m["content_id"],
                m["signal_type"],
                m["distance"],
                *([describe(m.get("found"))] if how else []),
                m["category"],
                "; ".join(f"{k}: {v}" for k, v in m["banked"].items() if v not in (None, "")),
            ]
            for m in doc["matches"]
        ],
    )
    table(
        "Items",
        ["id", "kind", "type", "file", "size", "sha256", "captured"],
        [
            [
                i["id"],
                i["kind"],
                i["media_type"],
                i["filename"],
                i["size"],
                i["sha256"],
                i["captured_at"],
            ]
            for i in doc["items"]
        ],
    )
    context = doc.get("context")
    if context is not None:  # message text stays out: the case page reveals it, audited
        console.print(
            f"[bold]Context risk {context['score']:.2f}[/] of account {context['account']} "
            f"({context['role']}):",
            highlight=False,
        )
        for r in context["reasons"]:
            console.print(f"  - {r['indicator']}: {r['summary']}", highlight=False, markup=False)
        table(
            "Context records",
            ["at", "kind", "ref", "supports"],
            [
                [
                    r["at"],
                    r["kind"],
                    r["ref"] + ("" if r["found"] else " (no longer stored)"),
                    ", ".join(r["indicators"]),
                ]
                for r in context["rows"]
            ],
        )
    table(
        "Timeline",
        ["at", "kind", "actor", "what"],
        [[e["at"], e["kind"], e["actor"], e["summary"]] for e in doc["timeline"]],
    )
    table(
        "Decisions",
        ["at", "actor", "decision", "category", "note"],
        [[d["at"], d["actor"], d["decision"], d["category"], d["note"]] for d in doc["decisions"]],
    )
    if doc["reports"]:
        table(
            "Reports",
            ["id", "kind", "status", "remote id", "at", "actor"],
            [
                [r["id"], r["kind"], r["status"], r["remote_id"], r["at"], r["actor"]]
                for r in doc["reports"]
            ],
        )


def _print_investigation(doc: CaseDocument) -> None:
    """An investigation's triage runs and items (its media are not review items)."""
    table(
        "Triage runs",
        ["id", "started", "finished", "sources", "counts"],
        [
            [
                r.get("id"),
                r.get("started_at"),
                r.get("finished_at"),
                ", ".join(map(str, r.get("sources") or [])),
                "; ".join(
                    f"{k}: {(r.get('counts') or {}).get(k)}"
                    for k in ("files", "processed", "known_total", "failed")
                ),
            ]
            for r in doc.get("triage_runs") or []
        ],
    )
    table(
        "Triage items",
        [
            "id",
            "kind",
            "name",
            "size",
            "sha256 (start)",
            "category",
            "matches",
            "deleted",
            "status",
        ],
        [
            [
                i.get("id"),
                i.get("kind"),
                i.get("name"),
                i.get("size"),
                ((i.get("hashes") or {}).get("sha256") or "")[:12],  # whole in --json
                i.get("category"),
                len(i.get("matches") or []),
                "yes" if i.get("deleted") else "",
                i.get("status"),
            ]
            for i in doc.get("triage_items") or []
        ],
    )


@case_app.command("decide")
def case_decide(
    case: str = typer.Argument(..., help="Case id or key."),
    confirm: bool = typer.Option(
        False, "--confirm", help="It is abuse material (needs --category)."
    ),
    false_positive: bool = typer.Option(False, "--false-positive", help="It is not."),
    escalate: bool = typer.Option(False, "--escalate", help="Hand it to a senior reviewer."),
    second_opinion: bool = typer.Option(
        False, "--second-opinion", help="Ask another reviewer to look too."
    ),
    category: str | None = typer.Option(
        None, "--category", help="With --confirm: in the bank's profile, e.g. vics:1 or uk:A."
    ),
    note: str | None = typer.Option(None, "--note", help="Why (kept with the decision)."),
    disable_entry: bool = typer.Option(
        False,
        "--disable-entry",
        help="With --false-positive: disable the banked items that caused the matches.",
    ),
    add_to_bank: str | None = typer.Option(
        None,
        "--add-to-bank",
        metavar="BANK",
        help="With --confirm: hash the case's media into this bank, so it is matched from now on.",
    ),
    dry_run: bool = typer.Option(
        False,
        "--dry-run",
        help="Only show what the decision would do (status, webhooks, NCMEC); change nothing.",
    ),
    actor: AsOption = None,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Decide a case: exactly one of --confirm, --false-positive, --escalate, --second-opinion.

    The webhooks of a decision wait VANGNET_REVIEW_UNDO_SECONDS in the outbox: until then
    `vangnet case undo CASE` takes the decision back and nothing is sent.

    Example: vangnet case decide 12 --confirm --category vics:1 --note "series X"
    Example: vangnet case decide 13 --false-positive --disable-entry --note "stock photo"
    """
    chosen = [
        name
        for name, flag in (
            ("confirm", confirm),
            ("false_positive", false_positive),
            ("escalate", escalate),
            ("second_opinion", second_opinion),
        )
        if flag
    ]
    if len(chosen) != 1:
        raise typer.BadParameter(
            "give exactly one of --confirm, --false-positive, --escalate, --second-opinion"
        )
    decision = chosen[0]
    if category is not None and decision != "confirm":
        raise typer.BadParameter("--category goes with --confirm")
    if disable_entry and decision != "false_positive":
        raise typer.BadParameter("--disable-entry goes with --false-positive")
    if add_to_bank is not None and decision != "confirm":
        raise typer.BadParameter("--add-to-bank goes with --confirm")

    from vangnet.auth.keys import person_named
    from vangnet.evidence.reading import read_evidence
    from vangnet.review import cases, decisions, outcomes
    from vangnet.signals.hashing import hash_bytes
    from vangnet.store.vault import Vault

    if dry_run:
        with user_errors(as_json=as_json):
            who = actor_of(actor)
            with session() as s:
                case_id = cases.resolve_case(s, case).id
                effects = decisions.preview(
                    s,
                    case_id,
                    decision=decision,
                    actor=who,
                    category=category,
                    note=note,
                    settings=get_settings(),
                    disable_content=disable_entry,
                )
                s.rollback()
        if as_json:
            print_json(effects)
        else:
            console.print(
                f"Dry run, nothing changed. Case {case_id}: {effects['status_before']} -> "
                f"{effects['status']}; {outcomes.describe(effects)}",
                highlight=False,
            )
        return

    added: list[int] = []
    skipped: str | None = None
    with user_errors(as_json=as_json):
        who = actor_of(actor)
        with session() as s:
            case_id = cases.resolve_case(s, case).id
            outcome = decisions.decide(
                s,
                case_id,
                decision=decision,
                actor=who,
                category=category,
                note=note,
                disable_content=disable_entry,
                settings=get_settings(),
                person=person_named(s, who),
            )
            if add_to_bank is not None and outcome.status == "confirmed":
                vault = Vault.from_settings(get_settings())
                added = decisions.add_to_bank(
                    s,
                    case_id,
                    bank=add_to_bank,
                    actor=who,
                    read_item=lambda item_id: read_evidence(s, vault, item_id, actor=who),
                    hash_item=lambda data: hash_bytes(data, settings=get_settings(), for_bank=True),
                    seal=FeatureSeal.from_settings(get_settings()),
                )
            elif add_to_bank is not None:
                state = outcome.status.replace("_", " ")
                skipped = (
                    f"not added to bank {add_to_bank}: the case is {state} "
                    "(bank it once it is confirmed)"
                )
            s.commit()
    result = {**outcome.to_dict(), "added_to_bank": added}
    if skipped:
        result["add_to_bank_skipped"] = skipped
    if as_json:
        print_json(result)
    else:
        line = f"Case {outcome.case_id}: {outcome.status_before} -> [bold]{outcome.status}[/]"
        if outcome.category:
            line += f" ({outcome.category})"
        console.print(line, highlight=False)
        if outcome.status == "pending_confirmation":
            console.print("Waiting for a second reviewer to confirm (two-person rule).")
        if outcome.status == "confirmed" and not result["report_allowed"]:
            console.print(
                f"{outcome.category} is not illegal material: no enforcement webhooks and no "
                "NCMEC report."
            )
        if outcome.webhooks:
            console.print(f"Webhooks queued: {', '.join(outcome.webhooks)}")
            if outcome.undo_until:
                console.print(
                    f"They are held until {outcome.undo_until}: `vangnet case undo "
                    f"{outcome.case_id}` takes the decision back before anything is sent."
                )
        if outcome.disabled_content:
            console.print(f"Disabled banked items: {', '.join(map(str, outcome.disabled_content))}")
        if added:
            console.print(f"Added to bank {add_to_bank}: content {', '.join(map(str, added))}")
    if skipped:
        err_console.print(skipped, highlight=False)


@case_app.command("undo")
def case_undo(
    case: str = typer.Argument(..., help="Case id or key."),
    actor: AsOption = None,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Undo your latest decision on a case within its window (VANGNET_REVIEW_UNDO_SECONDS),
    before its held webhooks are sent. Audited (case.undo).

    Example: vangnet case undo 12
    """
    from vangnet.review import cases, undo

    with user_errors(as_json=as_json):
        who = actor_of(actor)
        with session() as s:
            case_id = cases.resolve_case(s, case).id
            done = undo.undo(s, case_id, actor=who)
            s.commit()
    if as_json:
        print_json(done)
        return
    line = f"Case {done['case_id']}: undid {done['decision'].replace('_', ' ')} -> {done['status']}"
    console.print(line, highlight=False)
    if done["cancelled_webhooks"]:
        console.print(f"Not sent: {', '.join(done['cancelled_webhooks'])}")


@case_app.command("export")
def case_export(
    case: str = typer.Argument(..., help="Investigation case name, key or id."),
    fmt: str = typer.Option("vics", "--format", help="vics (VICS 2.0 #Cases JSON), csv or html."),
    out: Path | None = typer.Option(None, "--out", "-o", help="File to write (default stdout)."),
    actor: AsOption = None,
) -> None:
    """Export an investigation case (no media): VICS 2.0 JSON, CSV or an HTML report.

    Example: vangnet case export OP-2026-17 --format vics --out op17-vics.json
    """
    import sys

    from vangnet.audit import chain
    from vangnet.cli.audit_cmd import write_atomically
    from vangnet.errors import ValidationError
    from vangnet.review import cases
    from vangnet.triage import exports

    who = actor_of(actor)
    with user_errors(), session() as s:
        if fmt not in ("vics", "csv", "html"):
            raise ValidationError("--format is vics, csv or html")
        found = cases.resolve_case(s, case)
        if found.kind != "investigation":
            raise ValidationError(
                f"case {found.id} is a review case: use `vangnet report vics|html|pdf`"
            )
        doc = cases.case_document(
            s, found.id, weights=PriorityWeights.from_settings(get_settings())
        )
        if fmt == "vics":
            data = exports.vics_bytes(doc)
        elif fmt == "csv":
            data = exports.csv_bytes(doc)
        else:
            data = exports.html_bytes(doc, generated_by=who)
        chain.record(
            s,
            actor=who,
            action=f"case.export.{fmt}",
            target=f"case:{found.id}",
            details={"items": len(doc.get("triage_items", [])), "out": str(out) if out else "-"},
        )
        if out is None:
            s.commit()
            sys.stdout.buffer.write(data)
            sys.stdout.buffer.flush()
        else:
            write_atomically(out, lambda f: f.write(data), before_rename=s.commit)
            err_console.print(f"{fmt} export of case {found.id} written to {out}")
