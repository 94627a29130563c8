"""Context benchmark (issue 14, point 7): payments scored per second and recall of planted
offenders per typology at a fixed alert rate, against a single-rule monitor on the same data.

Data: `vangnet.context.synthetic.generate` (20,000 senders, one month, 1 % offenders, seed
14; quick mode 1,000 senders, 3 %). Scored with the built-in evaluators (``payments`` and
``sessions``) and their default rules; accounts ranked by `assess_all` (noisy-OR of the
strongest reason per indicator).

* **Speed**: payments / (seconds to build the `PaymentTable` + run every payment
  indicator), best of the repeats, wall-clock and CPU seconds (the CPU figure is what the
  code costs when the machine is shared; the wall figure is what a user waits); the
  sessions evaluator's time is reported beside it. With 2 worker processes: each worker
  scores its own population (shards: one per month or per reporting institution; a hub is
  found within its shard), started together; throughput = all payments / the slower
  worker's time. Quick mode skips the worker run.
* **Recall at a fixed alert rate**: the top 1 in 1,000 and 1 in 100 senders' worth of
  accounts by score are the alerts; recall per typology = planted accounts of that typology
  among them; false alerts = alerted accounts that were not planted (with the indicators
  behind them). The same at the score threshold 0.5.
* **Baseline**: the single rule many monitoring systems run without these typologies:
  "at least N remittances under €100 to South-East Asia within 30 days" (N = 3), ranked by
  that count, on the same population in the same run.

No peer of the other benchmarks (HMA / python-threatexchange, Thorn Safer, PhotoDNA,
Griffeye) scores payments, chats or call records at all, so the baseline is the rule, not a
peer.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import time
from collections import Counter
from typing import Any

import numpy as np

from vangnet.context.findings import AccountRisk, assess_all
from vangnet.context.payments.evaluator import PaymentsEvaluator
from vangnet.context.payments.groups import best_windows
from vangnet.context.payments.rules import default_rules
from vangnet.context.payments.sessions import SessionsEvaluator
from vangnet.context.payments.table import CHANNELS, PaymentTable
from vangnet.context.population import Population
from vangnet.context.synthetic import SyntheticPopulation, Typology, generate
from vangnet.sources.records.model import Channel

TARGET_PAYMENTS_PER_S = 50_000  # issue 14, on 2 cores
ALERT_RATES = (0.001, 0.01)
SCORE_THRESHOLD = 0.5
BASELINE_MIN = 3
BASELINE_MAX_EUR = 100.0
PEERS_NOTE = (
    "No peer (HMA / python-threatexchange, Thorn Safer, PhotoDNA, Griffeye) scores payments, "
    "chats or call records: the comparison is a single-rule monitor on the same data."
)


def score(pop: Population) -> tuple[list[AccountRisk], dict[str, float]]:
    """Every account's risk, and the seconds each step took."""
    payments = PaymentsEvaluator()
    sessions = SessionsEvaluator()
    c0 = time.process_time()
    t0 = time.perf_counter()
    table = PaymentTable.build(pop.payments, pop.accounts, payments.rules)
    t1 = time.perf_counter()
    reasons = payments.evaluate_table(table)
    t2 = time.perf_counter()
    c2 = time.process_time()
    reasons += sessions.evaluate_table(table, list(pop.sessions), pop)
    t3 = time.perf_counter()
    risks = assess_all(reasons)
    t4 = time.perf_counter()
    return risks, {
        "table_s": t1 - t0,
        "payments_s": t2 - t1,
        "sessions_s": t3 - t2,
        "assess_s": t4 - t3,
        "payments_cpu_s": c2 - c0,
    }


def baseline(pop: Population) -> dict[str, int]:
    """The single rule: per sender, the most remittances/P2P/wires under €100 to SEA in any
    30 days (senders reaching `BASELINE_MIN` are its alerts)."""
    rules = default_rules()
    table = PaymentTable.build(pop.payments, pop.accounts, rules)
    sea = np.array([c in set(rules.corridors["sea"]) for c in table.countries], dtype=bool)
    transfer = table.channel != CHANNELS.index(Channel.CARD)
    mask = sea[table.beneficiary_country] & transfer & (table.eur < BASELINE_MAX_EUR)
    w = best_windows(table.sender, table.t, np.flatnonzero(mask), 30 * 86_400)
    return {table.account(int(g)): int(c) for g, c in zip(w.groups, w.count, strict=True)}


def recall_at(
    ranked: list[str], truth: dict[str, Typology], k: int, detail: dict[str, list[str]]
) -> dict[str, Any]:
    """Recall per typology and false alerts among the first ``k`` of ``ranked``."""
    alerts = ranked[:k]
    found = Counter(truth[a] for a in alerts if a in truth)
    totals = Counter(truth.values())
    false = [a for a in alerts if a not in truth]
    why = Counter(" + ".join(sorted(detail.get(a, []))) for a in false)
    return {
        "alerts": len(alerts),
        "recall": {str(t): round(found[t] / n, 4) for t, n in sorted(totals.items())},
        "recall_all": round(sum(found.values()) / max(sum(totals.values()), 1), 4),
        "max_recall_possible": round(min(1.0, k / max(sum(totals.values()), 1)), 4),
        "false_alerts": len(false),
        "false_alert_indicators": dict(why.most_common(5)),
    }


def _worker(seed: int, senders: int, barrier: Any, queue: Any) -> None:
    pop = generate(senders=senders, months=1, seed=seed, offender_rate=0.01).population()
    barrier.wait()
    t0 = time.perf_counter()
    _, times = score(pop)
    queue.put((len(pop.payments), time.perf_counter() - t0, times))


def two_workers(senders: int, timeout_s: float = 900) -> dict[str, Any]:
    """Two processes, each scoring its own population (see the module), started together."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(100 + i, senders, barrier, queue)) for i in range(2)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=timeout_s) for _ in procs]
    for p in procs:
        p.join()
    payments = sum(r[0] for r in results)
    slowest = max(r[1] for r in results)
    return {
        "status": "ok",
        "workers": 2,
        "payments": payments,
        "wall_s": round(slowest, 3),
        "payments_per_s": round(payments / slowest),
    }


def run(
    *, quick: bool = False, senders: int | None = None, workers: bool | None = None
) -> dict[str, Any]:
    n_senders = senders or (1_000 if quick else 20_000)
    rate = 0.03 if quick else 0.01
    t0 = time.perf_counter()
    synth: SyntheticPopulation = generate(senders=n_senders, months=1, seed=14, offender_rate=rate)
    pop = synth.population()
    generate_s = time.perf_counter() - t0
    repeats = 1 if quick else 3
    runs = []
    risks: list[AccountRisk] = []
    for _ in range(repeats):
        risks, times = score(pop)
        runs.append(times)
    best = min(runs, key=lambda r: r["table_s"] + r["payments_s"])
    n_pay = len(pop.payments)
    pay_s = best["table_s"] + best["payments_s"]
    all_s = pay_s + best["sessions_s"] + best["assess_s"]

    truth = {t.account: t.typology for t in synth.truth}
    detail = {r.account: list(r.indicators) for r in risks}
    ranked = [r.account for r in risks]
    at_rate = {
        f"1/{round(1 / rate_)}": recall_at(
            ranked, truth, max(1, math.ceil(rate_ * n_senders)), detail
        )
        for rate_ in ALERT_RATES
    }
    above = [r.account for r in risks if r.score >= SCORE_THRESHOLD]
    at_threshold = recall_at(above, truth, len(above), detail)

    counts = baseline(pop)
    base_ranked = sorted(counts, key=lambda a: (-counts[a], a))
    base_detail = {a: [f">= {BASELINE_MIN} SEA < €100 / 30 d"] for a in counts}
    base_rate = {
        f"1/{round(1 / rate_)}": recall_at(
            base_ranked, truth, max(1, math.ceil(rate_ * n_senders)), base_detail
        )
        for rate_ in ALERT_RATES
    }
    fires = [a for a in base_ranked if counts[a] >= BASELINE_MIN]
    base_fires = recall_at(fires, truth, len(fires), base_detail)

    if workers is None:
        workers = not quick
    parallel = two_workers(n_senders) if workers else {"status": "skipped (quick mode)"}

    return {
        "benchmark": "context",
        "senders": n_senders,
        "offender_rate": rate,
        "offenders": len(truth),
        "typologies": {str(k): v for k, v in sorted(Counter(truth.values()).items())},
        "payments": n_pay,
        "sessions": len(pop.sessions),
        "generate_s": round(generate_s, 3),
        "repeats": repeats,
        "times_s": {k: round(v, 4) for k, v in best.items()},
        "payments_per_s": round(n_pay / pay_s),
        "payments_per_cpu_s": round(n_pay / best["payments_cpu_s"]),
        "payments_per_s_with_sessions": round(n_pay / all_s),
        "two_workers": parallel,
        "target_payments_per_s": TARGET_PAYMENTS_PER_S,
        "speed_target_met": (n_pay / pay_s) >= TARGET_PAYMENTS_PER_S
        or (parallel.get("payments_per_s") or 0) >= TARGET_PAYMENTS_PER_S,
        "score_threshold": SCORE_THRESHOLD,
        "vangnet": {"at_rate": at_rate, "at_threshold": at_threshold},
        "baseline": {
            "rule": f">= {BASELINE_MIN} transfers under €{BASELINE_MAX_EUR:g} to SEA in 30 days",
            "at_rate": base_rate,
            "fires": base_fires,
        },
        "peers": PEERS_NOTE,
    }


TABLE_COLUMNS = ["run", "alerts", "recall", "false alerts", "per typology", "payments/s"]


def table_rows(payload: dict[str, Any]) -> list[list[Any]]:
    def per(entry: dict[str, Any]) -> str:
        return ", ".join(f"{k} {v:.2f}" for k, v in entry["recall"].items())

    out: list[list[Any]] = [
        [
            f"score {payload['payments']} payments (table + indicators)",
            None,
            None,
            None,
            None,
            payload["payments_per_s"],
        ],
        [
            "... with sessions and assessment",
            None,
            None,
            None,
            None,
            payload["payments_per_s_with_sessions"],
        ],
    ]
    two = payload["two_workers"]
    out.append(["... per CPU second", None, None, None, None, payload["payments_per_cpu_s"]])
    out.append(["2 worker processes", None, None, None, two["status"], two.get("payments_per_s")])
    for who, entry in (("vangnet", payload["vangnet"]), ("baseline", payload["baseline"])):
        for name, row in entry["at_rate"].items():
            out.append(
                [
                    f"{who} at {name} senders",
                    row["alerts"],
                    row["recall_all"],
                    row["false_alerts"],
                    per(row),
                    None,
                ]
            )
        last = entry.get("at_threshold") or entry.get("fires")
        label = f"score >= {payload['score_threshold']}" if who == "vangnet" else "rule fires"
        out.append(
            [
                f"{who} {label}",
                last["alerts"],
                last["recall_all"],
                last["false_alerts"],
                per(last),
                None,
            ]
        )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="benchmarks.bench_context", description=__doc__)
    ap.add_argument("--quick", action="store_true", help="1,000 senders, no worker run")
    ap.add_argument("--senders", type=int, default=None)
    args = ap.parse_args(argv)
    print(json.dumps(run(quick=args.quick, senders=args.senders), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
