"""Filing context risks as cases: what crosses the threshold enters the review queue.

An assessment (`vangnet.context.assess`: every installed evaluator, the graph's second
pass, ranked `AccountRisk`\\ s) comes first; `file_risks` files every account whose risk is at or
above the threshold (setting ``context_case_threshold``) through the one case intake
(`vangnet.cases.intake`, source ``context``), with the records behind its reasons: the same
queue, grouping and reopening as media. A re-scan that finds nothing new adds nothing; a
decided case that gets new reasons is reopened. A context case asks a person to look: it is
never a verdict (AUSTRAC 2022: "no single indicator is enough").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from vangnet.cases.context_signal import ContextReason, ContextSignal
from vangnet.cases.intake import Filed, Grouping, Intake, Source, file_intake
from vangnet.config import Settings
from vangnet.context.findings import AccountRisk
from vangnet.context.population import Population
from vangnet.errors import ValidationError

__all__ = ["Filed", "FiledRisk", "file_risks", "signal_of"]


@dataclass(frozen=True)
class FiledRisk:
    """One account filed by a scan: its risk, and where it landed (``filed.case``,
    ``filed.created`` if the case is new, ``filed.new_reasons`` new to the case)."""

    risk: AccountRisk
    filed: Filed


def signal_of(
    risk: AccountRisk, population: Population, *, assessment: str | None = None
) -> ContextSignal:
    """``risk`` as the plain data a case keeps; the account's platform from its account
    record, when the population has one."""
    account = population.accounts.get(risk.account)
    return ContextSignal(
        account=risk.account,
        score=min(1.0, max(0.0, risk.score)),
        role=risk.role.value,
        reasons=tuple(
            ContextReason(
                indicator=r.indicator,
                summary=r.summary,
                weight=r.weight,
                role=r.role.value,
                at=r.at,
                rows=tuple((row.kind, row.ref) for row in r.rows),
            )
            for r in risk.reasons
        ),
        platform=account.platform if account is not None else None,
        assessment=assessment,
    )


def file_risks(
    session: Session,
    *,
    risks: Iterable[AccountRisk],
    population: Population,
    threshold: float,
    actor: str,
    settings: Settings,
    assessment: str | None = None,
) -> list[FiledRisk]:
    """File every risk at or above ``threshold`` (0-1) with reasons as a case for review
    (caller's transaction; flushed, not committed), in the order given."""
    if not 0.0 <= threshold <= 1.0:
        raise ValidationError("a context case threshold is a number from 0 to 1")
    grouping = Grouping.from_settings(settings)
    out: list[FiledRisk] = []
    for risk in risks:
        if risk.score < threshold or not risk.reasons:
            continue
        signal = signal_of(risk, population, assessment=assessment)
        filed = file_intake(
            session,
            Intake(source=Source.CONTEXT, grouping=grouping, context=signal, actor=actor),
        )
        out.append(FiledRisk(risk, filed))
    return out
