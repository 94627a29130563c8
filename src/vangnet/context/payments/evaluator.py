"""`PaymentsEvaluator` (name ``payments``): every payment indicator over a population.

It builds the `PaymentTable` once (codes, EUR amounts, local hours, keyword flags) and runs
each indicator family on it; the rules come from the setting ``context_payment_rules`` (the
bundled ``default_rules.toml`` when unset). Reasons combine per account with
`vangnet.context.findings.combine`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Self

from vangnet.config import Settings
from vangnet.context.findings import Reason
from vangnet.context.payments import corridor, patterns
from vangnet.context.payments.rules import Rules, default_rules, load_rules
from vangnet.context.payments.table import PaymentTable
from vangnet.context.population import Evaluator, Population

log = logging.getLogger(__name__)

Indicator = Callable[[PaymentTable, Rules], list[Reason]]

INDICATORS: tuple[Indicator, ...] = (
    corridor.low_value_corridor,
    corridor.hubs,
    corridor.cover_narrative,
    corridor.purchases,
    corridor.travel,
    corridor.night,
    corridor.round_amounts,
    corridor.no_family_link,
    corridor.egmont,
    corridor.crypto_young,
    patterns.escalation,
    patterns.structuring,
    patterns.new_beneficiaries,
)


class PaymentsEvaluator(Evaluator):
    """The payment typologies of AUSTRAC, AIC, FINTRAC, FATF and Egmont / ACAMS."""

    name = "payments"
    version = "1"
    summary = (
        "Payment indicators of paid live-streamed abuse: low-value corridor payments, hubs, "
        "cover narratives, purchases, escalation, night-time, round amounts, structuring, "
        "new beneficiaries, no family link, Egmont, crypto among young senders"
    )

    def __init__(self, rules: Rules | None = None) -> None:
        self.rules = rules or default_rules()

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        return cls(load_rules(settings.context_payment_rules))

    def table(self, population: Population) -> PaymentTable:
        return PaymentTable.of(population, self.rules)

    def evaluate(self, population: Population) -> list[Reason]:
        return self.evaluate_table(self.table(population))

    def evaluate_table(self, table: PaymentTable) -> list[Reason]:
        """The reasons of an already built table (the benchmark times both steps)."""
        if table.unknown_currency:
            log.warning(
                "%d payments have a currency without a reference rate (rules fx.to_eur): "
                "left out of every amount band",
                table.unknown_currency,
            )
        reasons: list[Reason] = []
        for indicator in INDICATORS:
            reasons.extend(indicator(table, self.rules))
        return reasons
