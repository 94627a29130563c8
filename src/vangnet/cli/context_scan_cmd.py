"""`vangnet context scan`: assess the stored context records and file the accounts at or above
the threshold as cases for review."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import typer

from vangnet.cli.audit_cmd import AsOption, actor_of
from vangnet.cli.context import session
from vangnet.cli.output import console, err_console, print_json, table, user_errors
from vangnet.config import get_settings


def _when(raw: str | None, option: str) -> datetime | None:
    """An ISO 8601 time with its offset (a time without one is ambiguous: refused)."""
    if raw is None:
        return None
    try:
        at = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(
            f"{raw[:60]!r} is not an ISO 8601 time", param_hint=option
        ) from None
    if at.tzinfo is None:
        raise typer.BadParameter(
            "give the time with its offset (e.g. ...Z or +01:00)", param_hint=option
        )
    return at


def scan_command(
    since: str | None = typer.Option(
        None, "--since", help="Only records at or after this time (ISO 8601 with offset)."
    ),
    until: str | None = typer.Option(
        None, "--until", help="Only records before this time (ISO 8601 with offset)."
    ),
    threshold: float | None = typer.Option(
        None,
        "--threshold",
        help="File accounts whose risk is at least this (0-1; default: the setting "
        "context_case_threshold).",
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Assess and list the accounts; file nothing."
    ),
    evaluator: list[str] | None = typer.Option(
        None,
        "--evaluator",
        help="Run only this context evaluator (repeatable; default: every installed one, "
        "as `vangnet plugins` lists them).",
    ),
    actor: AsOption = None,
    as_json: bool = typer.Option(False, "--json", help="One JSON object: the accounts filed."),
) -> None:
    """Assess the stored payments, messages and call sessions with every installed context
    evaluator (stored as an assessment, as `vangnet context assess` stores one) and file each
    account at or above the threshold as a case for review (never a
    verdict). Idempotent: a re-scan that finds nothing new adds nothing.

    Example: vangnet context scan --since 2026-11-01T00:00:00Z --threshold 0.8
    """
    from vangnet.audit import chain as audit
    from vangnet.context.filing import file_risks
    from vangnet.context.population import Population
    from vangnet.context.service import run_assessment

    start, end = _when(since, "--since"), _when(until, "--until")
    if start is not None and end is not None and start >= end:
        raise typer.BadParameter("must be before --until", param_hint="--since")
    if threshold is not None and not 0.0 <= threshold <= 1.0:
        raise typer.BadParameter("a number from 0 to 1", param_hint="--threshold")
    with user_errors(as_json=as_json):
        settings = get_settings()
        limit = settings.context_case_threshold if threshold is None else threshold
        who = actor_of(actor)
        with session() as s:
            population = Population.load(s, since=start, until=end)
            stored, result = run_assessment(
                s,
                settings=settings,
                actor=who,
                since=start,
                until=end,
                only=evaluator or None,
                population=population,
            )
            risks = result.risks
            assessment_id = None if dry_run else stored.id  # a dry run's is rolled back
            above = [r for r in risks if r.score >= limit and r.reasons]
            filed = []
            if not dry_run:
                filed = file_risks(
                    s,
                    risks=above,
                    population=population,
                    threshold=limit,
                    actor=who,
                    settings=settings,
                    assessment=f"assessment {assessment_id}",
                )
                audit.record(
                    s,
                    actor=who,
                    action="context.scan",
                    details={
                        "since": since,
                        "until": until,
                        "threshold": limit,
                        "assessment": assessment_id,
                        "evaluators": sorted(result.evaluators),
                        "accounts": len(risks),
                        "filed": [f.filed.case.id for f in filed],
                        "new_reasons": sum(f.filed.new_reasons for f in filed),
                    },
                )
                s.commit()
            rows: list[dict[str, Any]] = [
                {
                    "account": f.risk.account,
                    "score": round(f.risk.score, 4),
                    "role": f.risk.role.value,
                    "indicators": list(f.risk.indicators),
                    "case": f.filed.case.id,
                    "created": f.filed.created,
                    "new_reasons": f.filed.new_reasons,
                }
                for f in filed
            ]
            if dry_run:
                rows = [
                    {
                        "account": r.account,
                        "score": round(r.score, 4),
                        "role": r.role.value,
                        "indicators": list(r.indicators),
                        "case": None,
                        "created": False,
                        "new_reasons": 0,
                    }
                    for r in above
                ]
            counts = {
                "payments": len(population.payments),
                "messages": len(population.messages),
                "sessions": len(population.sessions),
                "accounts": len(population.accounts),
            }
    failed = dict(result.failures)
    if as_json:
        print_json(
            {
                "threshold": limit,
                "dry_run": dry_run,
                "records": counts,
                "assessed": len(risks),
                "evaluators": sorted(result.evaluators),
                "failed_evaluators": failed,
                "assessment": assessment_id,
                "filed": rows,
            }
        )
        return
    for name, why in failed.items():
        err_console.print(f"[yellow]warning[/]: context evaluator {name} failed: {why}")
    console.print(
        f"{counts['payments']} payments, {counts['messages']} messages, {counts['sessions']} "
        f"sessions; {len(risks)} accounts with reasons; {len(above)} at or above {limit:.2f}"
        + (" (dry run: nothing filed)" if dry_run else "")
    )
    if rows:
        table(
            None,
            ["account", "score", "role", "indicators", "case", "new reasons"],
            [
                [
                    r["account"],
                    f"{r['score']:.2f}",
                    r["role"],
                    ", ".join(r["indicators"]),
                    "-"
                    if r["case"] is None
                    else str(r["case"]) + (" (new)" if r["created"] else ""),
                    str(r["new_reasons"]),
                ]
                for r in rows
            ],
        )
